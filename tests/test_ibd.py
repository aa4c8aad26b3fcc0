"""Inflammatory bowel disease recognised by SNOMED CT, ICD-10-CM K50/K51 and by name, in every FHIR version's
Condition shape, and named on the PD-1 inhibitor card with the date the record gives and its status."""

import html

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def condition(code: dict | None = None, *, text: str | None = None, version: str = "R4", clinical: str = "active",
              verification: str = "confirmed", dates: dict | None = None) -> dict:
    """A Condition as R4 (statuses as CodeableConcepts, `recordedDate`), STU3 (status codes, `assertedDate`) or
    DSTU2 (status codes, `patient`, `dateRecorded`) send it."""
    concept: dict = {}
    if code:
        concept["coding"] = [code]
    if text:
        concept["text"] = text
    found: dict = {"resourceType": "Condition", "id": f"ibd-{version.lower()}", "code": concept}
    if version == "R4":
        found["clinicalStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical}]}
        found["verificationStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]}
        found["subject"] = {"reference": "Patient/pt-cml-1"}
    else:
        found["clinicalStatus"] = clinical
        found["verificationStatus"] = verification
        found["subject" if version == "STU3" else "patient"] = {"reference": "Patient/pt-cml-1"}
    found.update(dates or {})
    return found


def pd1_cards(call, *conditions: dict) -> list[dict]:
    body = hook_request("order-select", [resource("pembrolizumab-draft-r4.json")], prefetch={
        "conditions": bundle(resource("condition-gist-r4.json"), *conditions),
    })
    return [c for c in cards_of(call(body)) if c["source"]["topic"]["code"] == "pd-1-inhibitor-ibd"]


@pytest.mark.parametrize(("system", "code", "display"), [
    (SNOMED, "24526004", "Inflammatory bowel disease"),
    (SNOMED, "34000006", "Crohn's disease"),
    (SNOMED, "64766004", "Ulcerative colitis"),
    (SNOMED, "196977009", "Crohn's disease of terminal ileum"),
    (ICD10CM, "K50.90", "Crohn's disease, unspecified, without complications"),
    (ICD10CM, "K50.111", "Crohn's disease of large intestine with rectal bleeding"),
    (ICD10CM, "K51.90", "Ulcerative colitis, unspecified, without complications"),
    (ICD10CM, "K51.211", "Ulcerative (chronic) proctitis with rectal bleeding"),
    ("http://hl7.org/fhir/sid/icd-10", "K51.9", "Ulcerative colitis, unspecified"),
])
def test_ibd_by_code_gives_the_warning_naming_the_condition(call, system, code, display):
    [card] = pd1_cards(call, condition({"system": system, "code": code, "display": display},
                                       dates={"onsetDateTime": "2019-03-04"}))
    assert card["indicator"] == "warning"
    assert f"On record: {display}, onset 2019-03-04." in card["detail"].replace("\\", "")
    assert card["summary"].startswith("Pembrolizumab with ")
    assert "Recognised by its name" not in card["detail"]


@pytest.mark.parametrize("text", [
    "Ulcerative colitis", "ulcerative colitis, left-sided", "Crohn’s disease", "Crohns disease", "Chron's disease",
    "Morbus Crohn", "Ulcerative proctitis", "IBD", "Inflammatory bowel disease (unclassified)",
])
def test_ibd_by_name_in_text_or_display_is_recognised_and_says_so(call, text):
    local = {"system": "http://hospital.example.org/problems", "code": "P-1"}
    [by_text] = pd1_cards(call, condition(local, text=text))
    assert "Recognised by its name, not by a code the knowledge base knows." in by_text["detail"]
    [by_display] = pd1_cards(call, condition({**local, "display": text}))
    assert "Recognised by its name" in by_display["detail"]


@pytest.mark.parametrize("text", [
    "Family history of Crohn's disease", "FH: ulcerative colitis", "Ulcerative colitis ruled out",
    "Suspected IBD", "Irritable bowel syndrome", "Clostridioides difficile colitis", "Ischaemic colitis",
    "Screening for inflammatory bowel disease",
])
def test_texts_about_something_else_are_not_ibd(call, text):
    local = {"system": "http://hospital.example.org/problems", "code": "P-2"}
    assert pd1_cards(call, condition(local, text=text)) == []


UC = {"system": ICD10CM, "code": "K51.90", "display": "Ulcerative colitis, unspecified, without complications"}


@pytest.mark.parametrize(("version", "dates"), [
    ("R4", {"recordedDate": "2019-03-04"}),
    ("STU3", {"assertedDate": "2019-03-04"}),
    ("DSTU2", {"dateRecorded": "2019-03-04"}),
])
def test_the_recorded_date_of_each_version_is_named(call, version, dates):
    [card] = pd1_cards(call, condition(UC, version=version, dates=dates))
    assert "Ulcerative colitis, unspecified, without complications on record since 2019-03-04." in card["detail"]


def test_onset_period_and_no_date(call):
    [card] = pd1_cards(call, condition(UC, dates={"onsetPeriod": {"start": "2015-06-01"}}))
    assert "without complications, onset 2015-06-01." in card["detail"]
    [undated] = pd1_cards(call, condition(UC))
    assert "on record (no date given)." in undated["detail"]


@pytest.mark.parametrize(("version", "clinical"), [
    ("R4", "resolved"), ("R4", "inactive"), ("R4", "remission"), ("STU3", "resolved"), ("DSTU2", "remission"),
    ("DSTU2", "resolved"),
])
def test_inactive_or_resolved_ibd_still_warns_and_says_why(call, version, clinical):
    [card] = pd1_cards(call, condition(UC, version=version, clinical=clinical, dates={"onsetDateTime": "2010-01-01"}))
    assert f"(clinical status {clinical})" in card["detail"]
    assert "Recorded as inactive or resolved, it still counts" in card["detail"]
    assert "median of 5 years after the last active episode" in card["detail"]
    assert "(Abu-Sbeih 2020; combination-therapy review 2025; status V)" in card["detail"]
    assert any(link["url"].endswith("/evidence/pd-1-inhibitor-ibd") for link in card["links"])


def test_the_ibd_page_cites_the_study_and_what_recognises_ibd(client, knowledge):
    page = html.unescape(client.get("/evidence/pd-1-inhibitor-ibd").text)
    note = knowledge.combinations.ibd_with_pd1
    [group] = [g for g in knowledge.conditions if g.id == note.condition]
    for source in (*note.sources, *group.sources, *group.history_sources):
        assert knowledge.sources[source].citation in page, source


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_or_entered_in_error_ibd_never_warns(call, version, verification):
    assert pd1_cards(call, condition(UC, version=version, verification=verification)) == []


def test_a_provisional_diagnosis_warns_and_says_it_is_provisional(call):
    [card] = pd1_cards(call, condition(UC, verification="provisional", dates={"recordedDate": "2024-02-02"}))
    assert "on record since 2024-02-02 (verification provisional)." in card["detail"]


def test_active_ibd_has_no_history_sentence(call):
    [card] = pd1_cards(call, condition(UC, dates={"onsetDateTime": "2019-03-04"}))
    assert "still counts" not in card["detail"] and "clinical status" not in card["detail"]


def test_two_ibd_conditions_are_both_named(call):
    crohns = resource("condition-crohns-r4.json")
    [card] = pd1_cards(call, crohns, condition(UC, clinical="resolved", dates={"recordedDate": "2019-03-04"}))
    assert "On record: Crohn's disease, onset 2012-04-01; Ulcerative colitis, unspecified, without " \
        "complications on record since 2019-03-04 (clinical status resolved)." in card["detail"].replace("\\", "")


def test_a_resolved_cml_is_still_not_an_indication(call):
    """Only inflammatory bowel disease counts when resolved: the indication rules are unchanged."""
    cml = condition({"system": SNOMED, "code": "92818009", "display": "Chronic myeloid leukemia"}, clinical="resolved")
    body = hook_request("order-select", [resource("imatinib-400-draft-r4.json")], prefetch={
        "conditions": bundle(cml, resource("condition-cml-blast-r4.json") | {"clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]}}),
    })
    assert not [c for c in cards_of(call(body)) if c["source"]["topic"]["code"].startswith("decision-guide")]


@pytest.mark.parametrize(("version", "dates"), [
    ("R4", {"recordedDate": "2024-05-06"}), ("STU3", {"assertedDate": "2024-05-06"}),
    ("DSTU2", {"dateRecorded": "2024-05-06"}),
])
def test_the_guide_names_a_cancer_without_onset_by_its_recorded_date(call, version, dates):
    blast = condition({"system": SNOMED, "code": "413656006", "display": "Blast phase chronic myeloid leukemia"},
                      version=version, dates=dates)
    body = hook_request("order-select", [resource("imatinib-400-draft-r4.json")], prefetch={
        "conditions": bundle(blast),
    })
    [guide] = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"].startswith("decision-guide")]
    assert "- Cancer: chronic myeloid leukaemia, blast phase (on record since 2024-05-06)." in guide["detail"]
