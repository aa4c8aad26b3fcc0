"""A level is a trough only when its record says so (or does not say otherwise, and the card says it assumed it):
a sample drawn hours after a dose is named and not held against the trough target. A trough at target or above the
watch level gets no dose increase; the trough order is dated for when a trough means something."""

import copy
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource, suggestion
from tests.test_inducers import IMATINIB_DRAFT, imatinib_draft

TODAY = datetime.now(UTC).date()


def level(value: float, **changes) -> dict:
    observation = resource("imatinib-trough-low-r4.json")
    observation["valueQuantity"]["value"] = value
    observation.update(changes)
    return observation


def rifampin_card_with(call, *levels: dict, draft: dict | None = None, **prefetch) -> dict:
    body = hook_request(
        "order-sign",
        [draft or resource(IMATINIB_DRAFT)],
        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json")), "labResults": bundle(*levels),
                  **prefetch},
    )
    cards = cards_of(call(body))
    assert len(cards) == 1, [c["summary"] for c in cards]
    return cards[0]


def increases(card: dict) -> list[dict]:
    return [s for s in card["suggestions"] if s["label"].startswith("Increase")]


@pytest.mark.parametrize(
    ("changes", "timing"),
    [
        ({"note": [{"text": "4 h post-dose"}]}, "4 h after a dose (read from its note)"),
        ({"note": {"text": "sample drawn 3 hours after dose"}}, "3 h after a dose (read from its note)"),
        ({"code": {"coding": [{"system": "http://loinc.org", "code": "57844-3"}], "text": "Imatinib peak level"}},
         "a peak sample (read from its name)"),
        ({"comments": "Random sample"}, "a random sample (read from its comment)"),  # DSTU2
        ({"comment": "post dose"}, "a post-dose sample (read from its comment)"),  # STU3
        # "trough" in one place and "2 h post-dose" in another: the evidence that it is not a trough wins.
        ({"note": [{"text": "trough"}, {"text": "2 h post-dose"}]}, "2 h after a dose (read from its note)"),
        # Free wording, as a ward writes it: words between "after" and the dose, minutes, "tablet".
        ({"note": [{"text": "Sample drawn 2 h after the morning dose"}]}, "2 h after a dose (read from its note)"),
        ({"note": [{"text": "taken 90 min after her imatinib tablet"}]}, "1.5 h after a dose (read from its note)"),
        ({"comments": "drawn after this morning's dose"}, "a post-dose sample (read from its comment)"),
        # The dose named by the medicine, and "trough" said of what the sample was not.
        ({"note": [{"text": "Drawn 2 hrs after imatinib"}]}, "2 h after a dose (read from its note)"),
        ({"note": [{"text": "1 hour after she took her imatinib"}]}, "1 h after a dose (read from its note)"),
        ({"note": [{"text": "Not a trough sample"}]}, "recorded as not a trough (read from its note)"),
        ({"note": [{"text": "non-trough level"}]}, "recorded as not a trough (read from its note)"),
        ({"comment": "this is NOT a pre-dose sample"}, "recorded as not a trough (read from its comment)"),
        ({"note": [{"text": "not drawn as a trough"}]}, "recorded as not a trough (read from its note)"),
    ],
)
def test_a_sample_that_is_not_a_trough_is_never_called_one_nor_compared(call, changes, timing):
    card = rifampin_card_with(call, level(640, **changes))  # 640 against 1000: "below" would make the card critical
    assert f"Latest imatinib level: **640 ng/mL** on 2026-10-20, {timing}: a level" in card["detail"]
    assert "cannot be compared with the 1000 ng/mL trough target" in card["detail"]
    level_line = next(p for p in card["detail"].split("\n\n") if p.startswith("Latest imatinib level"))
    assert "below the" not in level_line and "at or above" not in card["detail"]
    assert card["indicator"] == "warning"
    assert increases(card)  # the dose advice does not lean on it


def test_a_high_post_dose_sample_does_not_hold_back_the_dose_increase(call):
    card = rifampin_card_with(call, level(2600, note=[{"text": "peak, 2 h post-dose"}]))
    assert "watch" not in card["detail"]
    assert increases(card)


@pytest.mark.parametrize(
    ("changes", "how"),
    [
        ({"note": [{"text": "Pre-dose sample"}]}, "a trough, read from its note"),
        ({"code": {"coding": [{"system": "http://loinc.org", "code": "103609-4"}]}},
         "24 h after a dose, read from its code"),
        ({"note": [{"text": "23 h post dose"}]}, "23 h after a dose, read from its note"),
        # Days after a dose change is when a trough is due: not a post-dose sample.
        ({"note": [{"text": "Trough, drawn 10 days after the dose increase"}]}, "a trough, read from its note"),
    ],
)
def test_a_sample_recorded_as_a_trough_is_compared_and_says_where_that_was_read(call, changes, how):
    card = rifampin_card_with(call, level(640, **changes))
    assert f"Latest imatinib level: **640 ng/mL** on 2026-10-20, below the 1000 ng/mL target ({how})." in card["detail"]
    assert card["indicator"] == "critical"


def test_a_24_hour_sample_is_not_a_trough_for_a_twice_daily_schedule(call):
    coded = level(640, code={"coding": [{"system": "http://loinc.org", "code": "103609-4"}]})
    card = rifampin_card_with(call, coded, draft=imatinib_draft(value=200, unit="mg", frequency=2))
    assert "24 h after a dose (read from its code): a level 24 h after a dose cannot be compared" in card["detail"]


def test_a_level_without_timing_says_it_was_read_as_a_trough(call):
    card = rifampin_card_with(call, level(640))
    assert ("below the 1000 ng/mL target (read as a trough: no time after the dose is "
            "recorded)") in card["detail"]


def administration(at: str, ident: str = "adm-1") -> dict:
    return {
        "resourceType": "MedicationAdministration", "id": ident, "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                  "code": "403879", "display": "imatinib 400 MG Oral Tablet"}]},
        "subject": {"reference": "Patient/pt-cml-1"},
        "effectiveDateTime": at,
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-10-20T04:05:00Z", "4 h after a dose (read from the last recorded dose (MedicationAdministration/adm-1"),
        ("2026-10-19T08:35:00Z", "below the 1000 ng/mL target (23.5 h after a dose, read from the last recorded dose"),
    ],
)
def test_the_last_administered_dose_times_the_sample(call, given, expected):
    # The level was drawn 2026-10-20T08:05Z; an administration after the draw does not count.
    later = administration("2026-10-20T09:00:00Z", "adm-2")
    card = rifampin_card_with(call, level(640), medicationAdministrations=bundle(administration(given), later))
    assert expected in card["detail"]


def test_a_trough_above_the_watch_level_gets_no_increase_and_says_why(call):
    card = rifampin_card_with(call, level(2400, note=[{"text": "trough"}]))
    assert not increases(card)
    watch = "above 2000 ng/mL, the level above which exposure is to be watched closely: no dose increase"
    assert watch in card["detail"]
    assert "No dose increase: the latest trough (2400 ng/mL on 2026-10-20) is above the watch level" in card["detail"]
    assert suggestion(card, "Order an imatinib trough level")


def test_a_trough_at_target_gets_no_increase_and_says_what_was_found(call):
    card = rifampin_card_with(call, level(1200, note=[{"text": "trough"}]))
    assert not increases(card)
    assert "the latest trough (1200 ng/mL on 2026-10-20) is already at or above the target" in card["detail"]


def test_the_draw_time_is_the_effective_time_never_the_report_time(call):
    reported_late = level(1500, id="old", effectiveDateTime="2026-10-01T08:00:00Z", issued="2026-11-25T10:00:00Z")
    newer = level(640, id="new", effectiveDateTime="2026-11-01T08:00:00Z", issued="2026-11-02T10:00:00Z")
    card = rifampin_card_with(call, reported_late, newer)
    assert "Latest imatinib level: **640 ng/mL** on 2026-11-01" in card["detail"]
    only_issued = level(640, issued="2026-11-25T10:00:00Z")
    del only_issued["effectiveDateTime"]
    card = rifampin_card_with(call, only_issued)
    assert "Latest imatinib level: **640 ng/mL** (no draw time recorded; reported 2026-11-25)" in card["detail"]


# --- when the trough order is for --------------------------------------------------------------------------------


def trough_day(card: dict) -> str:
    trough = next(s for s in card["suggestions"] if "order an imatinib trough level" in s["label"].lower())
    return trough["actions"][0]["resource"]["occurrenceDateTime"]


def days(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


def test_a_new_imatinib_start_is_sampled_after_29_days_of_therapy(call):
    card = rifampin_card_with(call, )
    assert trough_day(card) == days(29)
    assert (f"Check a trough level on or after {days(29)}: 29 days of uninterrupted therapy from today's new "
            "start") in card["detail"]


def test_a_dose_change_on_established_therapy_is_sampled_8_days_later(call):
    active = resource("imatinib-400-active-r4.json")
    active["authoredOn"] = "2025-01-01"
    rifampin = resource("rifampin-active-r4.json")
    rifampin["authoredOn"] = "2025-06-01"  # induction long established
    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)],
                        prefetch={"activeMedications": bundle(active, rifampin)})
    card = next(c for c in cards_of(call(body)) if c["summary"].startswith("Imatinib + rifampin"))
    assert increases(card)
    assert trough_day(card) == days(8)
    assert "8 days after today's dose change (ARUP)" in card["detail"]


def test_a_recent_start_waits_for_its_29_days_even_after_a_dose_change(call):
    active = resource("imatinib-400-active-r4.json")
    active["authoredOn"] = (TODAY - timedelta(days=10)).isoformat()
    rifampin = resource("rifampin-active-r4.json")
    rifampin["authoredOn"] = "2025-06-01"
    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)],
                        prefetch={"activeMedications": bundle(active, rifampin)})
    card = next(c for c in cards_of(call(body)) if c["summary"].startswith("Imatinib + rifampin"))
    assert trough_day(card) == days(19)


def test_an_inducer_ordered_for_established_therapy_is_sampled_when_induction_has_built(call):
    active = resource("imatinib-400-active-r4.json")
    active["authoredOn"] = "2025-01-01"
    body = hook_request("order-sign", [resource("rifampin-draft-r4.json")],
                        prefetch={"activeMedications": bundle(active)})
    card = next(c for c in cards_of(call(body)) if c["summary"].startswith("Imatinib + rifampin"))
    assert trough_day(card) == days(14)
    assert "about 14 days after the inducer started" in card["detail"]


def test_an_interrupted_course_restarts_the_29_days(call):
    history = copy.deepcopy(resource("imatinib-history-2025-r4.json"))  # completed in 2025: not taken now
    card = rifampin_card_with(call, medicationHistory=bundle(history))
    assert trough_day(card) == days(29)


def test_established_therapy_and_induction_can_be_sampled_today(call):
    active = resource("imatinib-400-active-r4.json")
    active["authoredOn"] = "2024-01-01"
    dexamethasone = resource("dexamethasone-oral-active-r4.json")
    dexamethasone["authoredOn"] = "2025-01-01"
    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)],
                        prefetch={"activeMedications": bundle(active, dexamethasone)})
    card = next(c for c in cards_of(call(body)) if "moderate CYP3A4" in c["summary"])
    assert trough_day(card) == days(0)
    assert (f"on or after {days(0)}: any day now: 29 days of uninterrupted therapy from 2024-01-01, the earliest "
            "imatinib order on record (ARUP) and about 14 days after the inducer started") in card["detail"]


def drawn_at(value: float, at: str, ident: str, **changes) -> dict:
    return level(value, id=ident, effectiveDateTime=at, **changes)


TROUGH_NOTE = {"note": [{"text": "Pre-dose sample"}]}


def test_a_labelled_trough_is_not_hidden_by_an_untimed_sample_drawn_after_it_the_same_morning(call):
    # Once daily: a sample 3 h after the trough cannot be one too. Before, the later 2600 ng/mL was read as a trough
    # at target (above the watch level) and held back the increase for a patient whose trough is 640.
    card = rifampin_card_with(call, drawn_at(640, "2026-10-20T07:50:00Z", "trough", **TROUGH_NOTE),
                              drawn_at(2600, "2026-10-20T11:00:00Z", "later"))
    assert ("Latest imatinib level: **640 ng/mL** on 2026-10-20, below the 1000 ng/mL target (a trough, read from "
            "its note).") in card["detail"]
    assert card["indicator"] == "critical"
    assert increases(card)
    assert "watch" not in card["detail"]
    assert ("A later sample, 2600 ng/mL on 2026-10-20T11:00:00Z, was drawn 3.17 h after the trough of "
            "2026-10-20T07:50:00Z (640 ng/mL)") in card["detail"]


@pytest.mark.parametrize(("trough", "later", "why"), [
    (("2026-10-19T07:50:00Z", TROUGH_NOTE), ("2026-10-20T11:00:00Z", {}), "more than one interval after the trough"),
    (("2026-10-19T08:00:00Z", TROUGH_NOTE), ("2026-10-20T07:30:00Z", {}), "23.5 h later: the next morning's trough"),
    (("2026-10-20T07:50:00Z", {}), ("2026-10-20T11:00:00Z", {}), "neither sample is labelled a trough"),
    (("2026-10-20", TROUGH_NOTE), ("2026-10-20T11:00:00Z", {}), "the trough has no draw time"),
    (("2026-10-20T07:50:00Z", TROUGH_NOTE), ("2026-10-20T11:00:00Z", {"note": [{"text": "3 h post-dose"}]}),
     "the later sample is timed by its own record"),
])
def test_the_latest_sample_stays_the_latest_unless_a_labelled_trough_shares_its_dosing_interval(
    call, trough, later, why
):
    card = rifampin_card_with(call, drawn_at(640, trough[0], "trough", **trough[1]),
                              drawn_at(2600, later[0], "later", **later[1]))
    assert "Latest imatinib level: **2600 ng/mL** on 2026-10-20" in card["detail"], why
    assert "A later sample" not in card["detail"], why
