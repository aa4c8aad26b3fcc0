"""Model-informed dosing in the cards (issue 13): the TDM card for a low level without an inducer, in every hook and
FHIR version; a level timed by a MedicationAdministration; a child; response beside exposure; and the inducer card's
predicted troughs and, with a level during the co-therapy, the model's proposal as its dose."""

import copy
import re

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource, suggestion

DRAFTS = {"R4": "imatinib-400-draft-r4.json", "STU3": "imatinib-400-draft-stu3.json",
          "DSTU2": "imatinib-400-draft-dstu2.json"}
TDM_TOPIC = "imatinib-tdm"


def level(value: float, when: str = "2026-11-20T08:05:00Z", **extra) -> dict:
    found = copy.deepcopy(resource("imatinib-trough-low-r4.json"))
    found.update(id=f"level-{value:g}", effectiveDateTime=when, **extra)
    found["valueQuantity"]["value"] = value
    return found


def weight(kg: float) -> dict:
    return {"resourceType": "Observation", "id": "weight-1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": "Patient/pt-cml-1"}, "effectiveDateTime": "2026-11-01",
            "valueQuantity": {"value": kg, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}


def patient(birth_date: str = "1961-05-04", gender: str = "female") -> dict:
    return {"resourceType": "Patient", "id": "pt-cml-1", "gender": gender, "birthDate": birth_date}


def administration(when: str) -> dict:
    return {"resourceType": "MedicationAdministration", "id": "given-1", "status": "completed",
            "medicationCodeableConcept": resource("imatinib-400-draft-r4.json")["medicationCodeableConcept"],
            "subject": {"reference": "Patient/pt-cml-1"}, "effectiveDateTime": when}


def prefetch(*labs: dict, person: dict | None = None, given: tuple[dict, ...] = (), active: tuple[dict, ...] = (),
             history: tuple[dict, ...] = ()) -> dict:
    return {
        "patient": person or patient(),
        "conditions": bundle(resource("condition-cml-chronic-r4.json")),
        "labResults": bundle(*labs),
        "vitalSigns": bundle(weight(70)),
        "medicationAdministrations": bundle(*given),
        "activeMedications": bundle(*active),
        "medicationHistory": bundle(*history),
    }


def tdm_cards(response) -> list[dict]:
    return [c for c in cards_of(response) if c["source"]["topic"]["code"] == TDM_TOPIC]


def the_tdm_card(response) -> dict:
    found = tdm_cards(response)
    assert len(found) == 1, [c["summary"] for c in cards_of(response)]
    return found[0]


@pytest.mark.parametrize("hook", ["order-select", "order-sign", "medication-prescribe"])
@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
def test_a_low_level_gives_the_models_proposal_as_an_update_of_the_draft(call, hook, version):
    draft = resource(DRAFTS[version])
    card = the_tdm_card(call(hook_request(hook, [draft], prefetch=prefetch(level(640)))))
    assert card["indicator"] == "warning"
    assert "below the 1000 target" in card["summary"] and "600 mg once daily" in card["summary"]
    assert "taken as a trough" in card["detail"]
    assert "**Candidates**" in card["detail"] and "400 mg every 12 h" in card["detail"]
    action = suggestion(card, "Change imatinib to 600 mg once daily")["actions"][0]
    assert action["type"] == "update"
    order = action["resource"]
    assert order["resourceType"] == draft["resourceType"] and order["id"] == draft["id"]
    dosage = order["dosageInstruction"][0]
    quantity = dosage["doseAndRate"][0]["doseQuantity"] if version == "R4" else dosage["doseQuantity"]
    assert quantity["value"] == 600 and quantity["code"] == "mg"
    assert order["medicationCodeableConcept"] == draft["medicationCodeableConcept"]  # the product is never changed


def test_the_card_quotes_the_fitted_trough_the_api_would_give(call, client):
    card = the_tdm_card(call(hook_request("order-select", [resource(DRAFTS["R4"])], prefetch=prefetch(level(640)))))
    # The same patient through the API: 65 years, female, 70 kg, CML; 400 mg daily for 60 days, level as a trough.
    body = {"covariates": {"weight_kg": 70, "age_years": 65, "sex": "female", "indication": "CML"},
            "regimen": {"dose_mg": 400, "interval_hours": 24, "first_dose": "2026-09-21T08:05:00Z",
                        "doses_given": 60},
            "levels": [{"time": "2026-11-20T08:05:00Z", "value": 640, "unit": "ng/mL"}]}
    answer = client.post("/dosing/imatinib", json=body).json()
    assert f"**{answer['a_posteriori']['trough_ng_per_ml']:.0f} ng/mL**" in card["detail"]
    assert f"predicted trough {answer['proposal']['trough_ng_per_ml']:.0f} ng/mL" in card["detail"]


def test_a_level_at_target_gives_no_tdm_card(call):
    response = call(hook_request("order-select", [resource(DRAFTS["R4"])], prefetch=prefetch(level(1400))))
    assert tdm_cards(response) == []


def test_a_sample_three_hours_after_a_dose_is_read_from_the_administration_not_as_a_trough(call):
    """1400 ng/mL as a trough is above target (no card); 3 h after the dose it is near the peak, and the fitted
    trough is below target."""
    draft = resource(DRAFTS["R4"])
    as_trough = call(hook_request("order-select", [draft], prefetch=prefetch(level(1400))))
    assert tdm_cards(as_trough) == []
    timed = call(hook_request("order-select", [draft], prefetch=prefetch(
        level(1400), given=(administration("2026-11-20T05:05:00Z"),))))
    card = the_tdm_card(timed)
    assert "3 h after a dose" in card["detail"] and "MedicationAdministration/given-1" in card["detail"]
    assert "taken as a trough" not in card["detail"]


def test_a_child_gets_no_model_based_dose_and_is_told_why(call):
    response = call(hook_request("order-select", [resource(DRAFTS["R4"])],
                                 prefetch=prefetch(level(640), person=patient("2012-01-01"))))
    card = the_tdm_card(response)
    assert "validated for adults aged 20 to 88 years" in card["detail"]
    assert not card.get("suggestions")


def test_a_failure_milestone_says_change_the_tki_with_its_source(call):
    labs = (level(640), resource("bcr-abl1-is-failure-r4.json"))
    card = the_tdm_card(call(hook_request("order-select", [resource(DRAFTS["R4"])], prefetch=prefetch(
        *labs, history=(resource("imatinib-history-2025-r4.json"),)))))
    assert "**failure**" in card["detail"]
    assert "changing the TKI" in card["detail"] and "rather than only raising the dose" in card["detail"]
    assert "status V2" in card["detail"].split("changing the TKI")[1].split("\n")[0]


def test_an_optimal_response_keeps_the_proposal(call):
    labs = (level(640), resource("bcr-abl1-is-optimal-r4.json"))
    card = the_tdm_card(call(hook_request("order-select", [resource(DRAFTS["R4"])], prefetch=prefetch(
        *labs, history=(resource("imatinib-history-2025-r4.json"),)))))
    assert "**optimal**" in card["detail"] and "the model's proposal stands" in card["detail"]
    assert suggestion(card, "Change imatinib to 600 mg")


def test_an_active_imatinib_with_a_low_level_gets_the_card_without_an_update(call):
    active = {**resource("imatinib-400-active-r4.json"), "authoredOn": "2026-09-01"}
    response = call(hook_request("order-select", [resource("peginterferon-alfa-2a-draft-r4.json")],
                                 prefetch=prefetch(level(640), active=(active,))))
    card = the_tdm_card(response)
    assert not card.get("suggestions")
    assert "no administration time" in card["detail"]


# --- the inducer card ---------------------------------------------------------------------------------------------

def rifampin_since(day: str) -> dict:
    return {**resource("rifampin-active-r4.json"), "authoredOn": day}


def inducer_card(response) -> dict:
    found = [c for c in cards_of(response) if c["source"]["topic"]["code"] == "imatinib-strong-cyp3a4-inducer"]
    assert len(found) == 1, [c["summary"] for c in cards_of(response)]
    return found[0]


@pytest.mark.parametrize("hook", ["order-select", "order-sign", "medication-prescribe"])
@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
def test_the_inducer_card_shows_the_a_priori_troughs_with_the_inducer_factor(call, hook, version):
    response = call(hook_request(hook, [resource(DRAFTS[version])],
                                 prefetch=prefetch(active=(rifampin_since("2026-11-01"),))))
    card = inducer_card(response)
    assert "clearance x3.8 for rifampin" in card["detail"]
    assert "ng/mL on 400 mg once daily" in card["detail"] and "ng/mL on 600 mg once daily" in card["detail"]
    assert tdm_cards(response) == []
    # Without a level during the co-therapy, the dose suggestion stays the label's +50 %.
    assert suggestion(card, "Increase imatinib to 600 mg/day")


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
def test_with_a_level_during_the_co_therapy_the_suggestion_is_the_models_proposal(call, version):
    draft = resource(DRAFTS[version])
    imatinib = {**resource("imatinib-400-active-r4.json"), "authoredOn": "2026-08-01"}
    response = call(hook_request("order-sign", [draft], prefetch=prefetch(
        level(300, "2026-11-25T08:05:00Z"), active=(rifampin_since("2026-11-01"), imatinib))))
    card = inducer_card(response)
    assert "The level measured during the co-therapy" in card["detail"]
    update = suggestion(card, "Increase imatinib to ")["actions"][0]["resource"]
    assert update["resourceType"] == draft["resourceType"]
    dosage = update["dosageInstruction"][0]
    quantity = dosage["doseAndRate"][0]["doseQuantity"] if version == "R4" else dosage["doseQuantity"]
    per_day = dosage["timing"]["repeat"]["frequency"]
    assert quantity["value"] * per_day <= 800 and quantity["value"] % 100 == 0
    assert quantity["value"] * per_day > 400


def test_a_level_before_the_inducer_started_leaves_the_label_dose(call):
    imatinib = {**resource("imatinib-400-active-r4.json"), "authoredOn": "2026-08-01"}
    response = call(hook_request("order-sign", [resource(DRAFTS["R4"])], prefetch=prefetch(
        level(300, "2026-10-25T08:05:00Z"), active=(rifampin_since("2026-11-01"), imatinib))))
    card = inducer_card(response)
    assert "The level measured during the co-therapy" not in card["detail"]
    assert suggestion(card, "Increase imatinib to 600 mg/day")


def test_the_inducer_card_says_a_failure_milestone_calls_for_another_tki_briefly(call):
    """Beside the inducer's dose step, a failure milestone says to change the TKI, with ELN 2020 and its status; the
    source's own words are on the evidence page (the card stays brief)."""
    labs = (level(640), resource("bcr-abl1-is-failure-r4.json"))
    card = inducer_card(call(hook_request("order-sign", [resource(DRAFTS["R4"])], prefetch=prefetch(
        *labs, active=(rifampin_since("2026-11-01"),), history=(resource("imatinib-history-2025-r4.json"),)))))
    response = next(line for line in card["detail"].split("\n\n") if line.startswith("**Response**"))
    assert "**failure**" in response
    assert "ELN 2020 calls for changing the TKI" in response and response.endswith("(status V2).")


def test_predicted_troughs_below_the_target_are_said_to_be_below_it(call):
    """A suggested dose is never read as enough when the model's own prediction with the inducer falls short."""
    card = inducer_card(call(hook_request("order-sign", [resource(DRAFTS["R4"])],
                                          prefetch=prefetch(active=(rifampin_since("2026-11-01"),)))))

    step = next(line for line in card["detail"].split("\n") if "Predicted trough" in line)
    troughs = [float(x) for x in re.findall(r"(\d+) ng/mL on \d+ mg", step)]
    target = float(re.search(r"at least (\d+) ng/mL", card["detail"]).group(1))
    assert len(troughs) == 2 and all(t < target for t in troughs), (troughs, target)
    assert step.rstrip().endswith("both below the target.")


# --- a level soon after a dose change -----------------------------------------------------------------------------

def _on_imatinib_since(day: str, earlier: tuple[dict, ...]) -> tuple[dict, tuple[dict, ...]]:
    active = {**resource("imatinib-400-active-r4.json"), "id": "ima-current", "authoredOn": day}
    return active, (active, *earlier)


def _earlier_order(mg: int, start: str, end: str) -> dict:
    order = {**resource("imatinib-400-active-r4.json"), "id": f"ima-{mg}-{start}", "status": "completed",
             "authoredOn": start, "dispenseRequest": {"validityPeriod": {"start": start, "end": end}}}
    order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = mg
    return order


@pytest.mark.parametrize(("changed_on", "drawn", "fitted"), [
    ("2026-11-18", "2026-11-21T08:00:00Z", False),  # 3 days after the change
    ("2026-11-18", "2026-11-25T08:00:00Z", False),  # 7 days: still short of ARUP's 8
    ("2026-11-18", "2026-11-26T08:00:00Z", True),   # 8 days: fitted
])
def test_a_level_in_the_first_days_after_a_dose_change_is_not_fitted_without_the_doses_before(
    call, changed_on, drawn, fitted
):
    """The fit knows only the current order's doses: 3 days after 300 -> 400 mg, it read the level as 3 doses of
    400 mg from nothing and wrote a dose change from it."""
    active, history = _on_imatinib_since(changed_on, (_earlier_order(300, "2026-01-05", changed_on),))
    response = call(hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                                 prefetch=prefetch(level(500, drawn), active=(active,), history=history)))
    card = the_tdm_card(response)
    if fitted:
        assert "Fitted with the population model" in card["detail"]
        assert suggestion(card, "Change imatinib to")
    else:
        assert "no model-based dose" in card["summary"]
        assert "less than the 8 days ARUP asks after a dose change" in card["detail"]
        assert not [s for s in card.get("suggestions") or () if s["label"].startswith("Change imatinib")]


@pytest.mark.parametrize(("started", "early"), [("2026-11-16", True), ("2026-10-01", False)])
def test_a_level_days_into_a_first_ever_order_is_fitted_with_the_doses_it_had_and_called_early(call, started, early):
    active, history = _on_imatinib_since(started, ())
    card = the_tdm_card(call(hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                                          prefetch=prefetch(level(500, "2026-11-20T08:00:00Z"), active=(active,),
                                                            history=history))))
    assert "Fitted with the population model" in card["detail"]
    said = ("The level was drawn 4 days into therapy (2026-11-16), before the 29 days of uninterrupted therapy ARUP "
            "asks before a trough is held against the target: the fit counts the 4 doses so far, not a steady state; "
            "confirm with a trough from 2026-12-15 on.")
    assert (said in card["detail"]) is early
    assert ("days into therapy" in card["detail"]) is early


def test_a_labelled_trough_below_target_is_fitted_not_an_untimed_higher_sample_drawn_after_it(call):
    # Before: the 2400 ng/mL sample at 11:00 was "the latest level, read as a trough", at target and above the
    # watch level, for a patient whose pre-dose trough that morning was 640.
    trough = level(640, "2026-11-20T07:50:00Z", note=[{"text": "trough, pre-dose"}])
    later = level(2400, "2026-11-20T11:00:00Z")
    card = the_tdm_card(call(hook_request("order-select", [resource(DRAFTS["R4"])], prefetch=prefetch(trough, later))))
    assert "below the 1000 target" in card["summary"] and "600 mg once daily" in card["summary"]
    assert "Latest level **640 ng/mL**" in card["detail"]
    assert ("A later sample, 2400 ng/mL on 2026-11-20T11:00:00Z, was drawn 3.17 h after the trough of "
            "2026-11-20T07:50:00Z (640 ng/mL): two samples of one dosing interval cannot both be troughs") in card[
        "detail"]
    assert "watch" not in card["summary"]
