"""Children (under 18 at today's date) are dosed by body-surface area: 340 mg/m²/day, never above 600 mg/day. An
inducer's "+50 %" comes from adults and never takes a child past that limit; without a recent weight and height
there is no dose suggestion at all."""

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource, suggestion
from tests.test_inducers import daily_mg, imatinib_draft, updated_order

TODAY = datetime.now(UTC).date()
LOINC = "http://loinc.org"


def born(years: int, days_more: int = 0) -> str:
    """The birth date of someone `years` old today (plus `days_more` days older)."""
    try:
        day = TODAY.replace(year=TODAY.year - years)
    except ValueError:  # 29 February
        day = date(TODAY.year - years, 2, 28)
    return (day - timedelta(days=days_more)).isoformat()


def patient(birth_date: str) -> dict:
    return {"resourceType": "Patient", "id": "pt-cml-1", "birthDate": birth_date}


def vital(code: str, value: float, unit: str, days_ago: int = 3, ident: str | None = None) -> dict:
    return {
        "resourceType": "Observation", "id": ident or f"{code}-{value}-{days_ago}", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/pt-cml-1"},
        "effectiveDateTime": (TODAY - timedelta(days=days_ago)).isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def weight(kg: float, unit: str = "kg", days_ago: int = 3) -> dict:
    return vital("29463-7", kg, unit, days_ago)


def height(cm: float, unit: str = "cm", days_ago: int = 3) -> dict:
    return vital("8302-2", cm, unit, days_ago)


def carbamazepine_card(call, draft: dict, birth_date: str | None, *vitals: dict, key: str = "vitalSigns") -> dict:
    prefetch = {"activeMedications": bundle(resource("carbamazepine-active-r4.json")), key: bundle(*vitals)}
    if birth_date is not None:
        prefetch["patient"] = patient(birth_date)
    cards = cards_of(call(hook_request("order-sign", [draft], prefetch=prefetch)))
    assert len(cards) == 1, [c["summary"] for c in cards]
    return cards[0]


def increases(card: dict) -> list[dict]:
    return [s for s in card["suggestions"] if s["label"].startswith("Increase")]


def test_a_14_year_old_on_500_mg_with_carbamazepine_is_not_raised_to_800(call):
    # 50 kg, 160 cm: BSA 1.49 m², 340 x 1.49 = 507 mg, so at most 500 mg/day in whole tablets.
    card = carbamazepine_card(call, imatinib_draft(value=500, unit="mg"), born(14), weight(50), height(160))
    assert not increases(card)
    assert "800" not in card["detail"].split("**What happens**")[0]
    assert "Child patient, 14 years old" in card["detail"]
    assert "BSA **1.49 m²** (Mosteller; 50 kg, 160 cm, on" in card["detail"]
    assert "340 mg/m² x 1.49 m² = 507 mg/day, so at most **500 mg/day** in whole 100 mg tablets" in card["detail"]
    assert "already at the 500 mg/day paediatric maximum for this child" in card["detail"]
    assert "No source gives a paediatric imatinib dose with inducers (the +50 % is from adults)" in card["detail"]


@pytest.mark.parametrize(
    ("kg", "cm", "current", "expected", "capped"),
    [
        (50, 160, 300, 500, False),  # 450 rounds up to 500: within the 500 mg limit
        (70, 175, 500, 600, True),  # BSA 1.84 m²: 627 mg, but never above 600 mg/day; 750 is capped at 600
        (30, 135, 200, 300, False),  # BSA 1.06 m²: 361 mg, limit 300
        (30, 135, 300, None, False),  # already at the 300 mg limit
    ],
)
def test_a_childs_increase_stays_within_the_bsa_limit_and_600_mg(call, kg, cm, current, expected, capped):
    card = carbamazepine_card(call, imatinib_draft(value=current, unit="mg"), born(12), weight(kg), height(cm))
    if expected is None:
        assert not increases(card)
        return
    assert daily_mg(updated_order(card), {}) == expected
    assert suggestion(card, f"Increase imatinib to {expected} mg/day")
    assert ("(capped at this child's maximum)" in card["detail"]) is capped


def test_a_9_year_old_gets_the_paediatric_wording_not_the_adult_one(call):
    card = carbamazepine_card(call, imatinib_draft(value=200, unit="mg"), born(9), weight(28), height(132))
    assert "Child patient, 9 years old" in card["detail"]
    assert "in children imatinib is dosed by body-surface area, 340 mg/m²/day, never above 600 mg/day" in card["detail"]
    assert "(the +50 % is from adults)" in card["detail"]
    assert daily_mg(updated_order(card), {}) == 300  # BSA 1.01 m²: 344 mg, limit 300


def test_seventeen_is_a_child_and_eighteen_today_is_an_adult(call):
    draft = imatinib_draft(value=400, unit="mg")
    seventeen = carbamazepine_card(call, draft, born(18, days_more=-1), weight(60), height(170))  # 18 tomorrow
    assert "Child patient, 17 years old" in seventeen["detail"]
    assert daily_mg(updated_order(seventeen), {}) == 500  # BSA 1.68 m²: 572 mg, limit 500 (600 capped)
    eighteen = carbamazepine_card(call, draft, born(18), weight(60), height(170))
    assert "Child patient" not in eighteen["detail"] and "paediatric" not in eighteen["detail"]
    assert daily_mg(updated_order(eighteen), {}) == 600


def test_a_birth_year_alone_that_may_be_under_18_counts_as_a_child(call):
    year = str(TODAY.year - 18)  # 17 or 18 today, unless today is 31 December
    card = carbamazepine_card(call, imatinib_draft(value=400, unit="mg"), year, weight(60), height(170))
    if (TODAY.month, TODAY.day) == (12, 31):
        assert "Child patient" not in card["detail"]
        return
    assert f"17 or 18 years old (born {year} (year only))" in card["detail"]
    assert "possibly under 18, so the paediatric limits apply" in card["detail"]


@pytest.mark.parametrize(
    ("vitals", "why"),
    [
        ([], "no body weight and no height is on record"),
        ([height(150)], "no body weight is on record"),
        ([weight(40)], "no height is on record"),
        ([weight(40, days_ago=45), height(150)], "older than the 30 days a child's dose is computed from"),
        ([weight(40), height(150, days_ago=400)], "older than the 180 days a child's dose is computed from"),
    ],
)
def test_a_child_without_a_recent_weight_and_height_gets_no_dose_suggestion_and_says_why(call, vitals, why):
    card = carbamazepine_card(call, imatinib_draft(value=300, unit="mg"), born(10), *vitals)
    assert not increases(card)
    assert "No dose suggestion: Child patient, 10 years old" in card["detail"]
    assert why in card["detail"]
    assert suggestion(card, "Order an imatinib trough level")


@pytest.mark.parametrize(
    ("w", "h"),
    [
        (weight(110.23, "[lb_av]"), height(62.99, "[in_i]")),
        (weight(50000, "g"), height(1.6, "m")),
        (weight(110.23, "lb"), height(62.99, "in")),
    ],
)
def test_weight_and_height_in_other_units_give_the_same_bsa(call, w, h):
    card = carbamazepine_card(call, imatinib_draft(value=300, unit="mg"), born(14), w, h)
    assert "BSA **1.49 m²**" in card["detail"]


def test_weight_and_height_sent_with_the_laboratory_results_are_read_too(call):
    card = carbamazepine_card(call, imatinib_draft(value=300, unit="mg"), born(14), weight(50), height(160),
                              key="labResults")
    assert "BSA **1.49 m²**" in card["detail"]


def test_a_weight_among_the_vital_signs_and_a_height_among_the_laboratory_results_are_read_together(call):
    prefetch = {"activeMedications": bundle(resource("carbamazepine-active-r4.json")), "patient": patient(born(14)),
                "vitalSigns": bundle(weight(50)), "labResults": bundle(height(160), weight(30, days_ago=40))}
    cards = cards_of(call(hook_request("order-sign", [imatinib_draft(value=300, unit="mg")], prefetch=prefetch)))
    assert "BSA **1.49 m²** (Mosteller; 50 kg, 160 cm" in cards[0]["detail"]


def test_the_latest_weight_is_used(call):
    old, new = weight(30, days_ago=20), weight(50, days_ago=2)
    card = carbamazepine_card(call, imatinib_draft(value=300, unit="mg"), born(14), old, new, height(160))
    assert "(Mosteller; 50 kg" in card["detail"]


def test_a_dose_per_m2_is_converted_with_the_bsa(call):
    # 260 mg/m² x 1.49 m² = 388 mg; +50 % is 581, so 600, capped at the 500 mg limit.
    card = carbamazepine_card(call, imatinib_draft(value=260, unit="mg/m2"), born(14), weight(50), height(160))
    assert "Written as 260 mg/m² per dose; with a BSA of 1.49 m² that is 388 mg" in card["detail"]
    assert daily_mg(updated_order(card), {}) == 500


def test_an_adult_of_unknown_age_keeps_the_adult_dose(call):
    card = carbamazepine_card(call, imatinib_draft(value=400, unit="mg"), None, weight(50), height(160))
    assert "Child patient" not in card["detail"]
    assert daily_mg(updated_order(card), {}) == 600


@pytest.mark.parametrize(
    ("hook", "draft", "inducer", "key"),
    [
        ("order-sign", "imatinib-400-draft-r4.json", "rifampin-active-r4.json", "activeMedications"),
        ("order-select", "imatinib-400-draft-stu3.json", "rifampin-active-stu3.json", "activeMedications"),
        ("medication-prescribe", "imatinib-400-draft-dstu2.json", "rifampin-active-dstu2.json",
         "activeMedicationOrders"),
    ],
)
def test_the_childs_limit_holds_in_every_fhir_version(call, hook, draft, inducer, key):
    # 400 mg/day for a 12-year-old of 50 kg and 160 cm: +50 % would be 600, the BSA limit is 500.
    prefetch = {key: bundle(resource(inducer)), "vitalSigns": bundle(weight(50), height(160)),
                "patient": patient(born(12))}
    cards = cards_of(call(hook_request(hook, [resource(draft)], prefetch=prefetch)))
    card = next(c for c in cards if "strong CYP3A4" in c["summary"])
    assert "at most **500 mg/day**" in card["detail"]
    assert [s["label"] for s in increases(card)] == ["Increase imatinib to 500 mg/day"]


def test_a_patient_without_a_birth_date_gets_the_adult_dose_and_is_told_so(call):
    card = carbamazepine_card(call, imatinib_draft(value=200, unit="mg"), None, weight(22), height(120))
    assert "No birth date on record: an adult's dose (a child's is 340 mg/m²/day, at most 600 mg/day)." \
        in card["detail"]
    with_birth = carbamazepine_card(call, imatinib_draft(value=400, unit="mg"), born(40), weight(70), height(175))
    assert "No birth date on record" not in with_birth["detail"]
