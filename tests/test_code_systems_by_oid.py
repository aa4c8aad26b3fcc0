"""Codings that name LOINC, SNOMED CT, RxNorm or UCUM by their HL7 OID instead of the FHIR URI (seen in real feeds)
are read as the URI: a level, a diagnosis or a product is not missed because of how its system is spelled."""

import copy

import respx

from cds_service.fhir import with_uri_systems
from tests.helpers import bundle, cards_of, hook_request, resource
from tests.test_tdm_cards import DRAFTS, TDM_TOPIC, level, prefetch

LOINC_OID = "urn:oid:2.16.840.1.113883.6.1"
SNOMED_OID = "urn:oid:2.16.840.1.113883.6.96"
RXNORM_OID = "urn:oid:2.16.840.1.113883.6.88"
UCUM_OID = "urn:oid:2.16.840.1.113883.6.8"


def by_oid(observation: dict) -> dict:
    """The level with its code's and its quantity's systems given by OID."""
    found = copy.deepcopy(observation)
    for coding in found["code"]["coding"]:
        if coding["system"] == "http://loinc.org":
            coding["system"] = LOINC_OID
    if found["valueQuantity"].get("system") == "http://unitsofmeasure.org":
        found["valueQuantity"]["system"] = UCUM_OID
    return found


def tdm_summaries(response) -> list[str]:
    return [c["summary"] for c in cards_of(response) if c["source"]["topic"]["code"] == TDM_TOPIC]


def test_a_level_coded_by_the_loinc_oid_gets_the_same_card_as_one_coded_by_the_uri(call):
    # Was {"cards": []}: a 640 ng/mL trough, below target, not seen.
    draft = resource(DRAFTS["R4"])
    as_uri = tdm_summaries(call(hook_request("order-select", [draft], prefetch=prefetch(level(640)))))
    as_oid = tdm_summaries(call(hook_request("order-select", [draft], prefetch=prefetch(by_oid(level(640))))))
    assert as_oid == as_uri and len(as_oid) == 1 and "below the 1000 target" in as_oid[0]


def gist_by_snomed_oid() -> dict:
    condition = resource("condition-gist-r4.json")
    condition["code"] = {"coding": [{"system": SNOMED_OID, "code": "420120006"}]}
    return condition


def test_a_diagnosis_coded_by_the_snomed_oid_sets_its_trough_target(call):
    body = hook_request("order-select", [resource(DRAFTS["R4"])], prefetch={
        **prefetch(level(900)), "conditions": bundle(gist_by_snomed_oid()),
    })
    [summary] = tdm_summaries(call(body))
    assert "below the 1100 target" in summary  # GIST's target, not CML's 1000 (900 would be "below 1000" too)


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_a_level_fetched_from_the_fhir_server_coded_by_oid_is_read(respx_mock, call):
    fhir = "https://ehr.example.org/fhir"
    respx_mock.get(f"{fhir}/Observation").respond(json=bundle(by_oid(level(640))))
    respx_mock.get(url__regex=rf"{fhir}/(?!Observation).*").respond(json=bundle())
    labs = prefetch(level(640))
    body = hook_request("order-select", [resource(DRAFTS["R4"])], fhirServer=fhir, prefetch=labs)
    del body["prefetch"]["labResults"]
    [summary] = tdm_summaries(call(body))
    assert "below the 1000 target" in summary


def test_only_the_systems_of_the_four_code_systems_change_and_a_body_without_them_is_not_walked():
    data = {"code": {"coding": [{"system": LOINC_OID, "code": "57844-3"}, {"system": RXNORM_OID, "code": "1"}]},
            "identifier": [{"system": "urn:oid:1.2.840.114350", "value": "x"}],
            "component": [{"code": {"coding": [{"system": SNOMED_OID, "code": "260373001"}]}}]}
    with_uri_systems(data)
    assert [c["system"] for c in data["code"]["coding"]] == [
        "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"]
    assert data["component"][0]["code"]["coding"][0]["system"] == "http://snomed.info/sct"
    assert data["identifier"][0]["system"] == "urn:oid:1.2.840.114350"  # an identifier system of the EHR: kept
    untouched = {"system": LOINC_OID}
    assert with_uri_systems(untouched, raw=b'{"system": "http://loinc.org"}') == {"system": LOINC_OID}


def test_a_draft_coded_only_by_the_rxnorm_oid_is_identified(call):
    draft = resource(DRAFTS["R4"])
    draft["medicationCodeableConcept"] = {"coding": [{"system": RXNORM_OID, "code": "282388"}]}  # imatinib
    rifampin = bundle(resource("rifampin-active-r4.json"))
    body = hook_request("order-sign", [draft], prefetch={"activeMedications": rifampin})
    summaries = [c["summary"] for c in cards_of(call(body))]
    assert any(s.startswith("Imatinib + rifampin") for s in summaries), summaries
