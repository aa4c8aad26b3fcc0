"""A measured level is never overruled by the model in silence. The MAP fit leans on the population prior (with a
proportional error, one level pulls it only so far), so it put a measured trough of 150 ng/mL on 600 mg/day at a
steady-state 1000 ng/mL and the answer was `{"cards": []}`; a trough of 50 on 400 mg/day got a proposal of 500
mg/day written into the draft. A level above 2000 ng/mL, the level above which exposure is to be watched closely,
got no card at all."""

import pytest

from tests.helpers import hook_request, resource
from tests.meds import order
from tests.test_paediatric_dosing import born
from tests.test_tdm_cards import DRAFTS, inducer_card, level, patient, prefetch, rifampin_since, the_tdm_card


def on_dose(mg: int) -> dict:
    """The imatinib draft at `mg` once daily, and the same dose active since 2026-06-01 (well past steady state)."""
    draft = resource(DRAFTS["R4"])
    draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = mg
    active = order("R4", "imatinib-active", "imatinib 400 MG Oral Tablet", mg=mg, authored="2026-06-01")
    return {"draft": draft, "active": active}


@pytest.mark.parametrize(("mg", "trough"), [(600, 150), (400, 50), (400, 120)])
def test_a_trough_far_below_the_target_is_said_as_measured_and_no_dose_is_written_from_the_model(call, mg, trough):
    given = on_dose(mg)
    card = the_tdm_card(call(hook_request("order-select", [given["draft"]], prefetch=prefetch(
        level(trough), active=(given["active"],)))))
    assert card["indicator"] == "warning"
    assert card["summary"].startswith(f"Imatinib level {trough} ng/mL, below the 1000 ng/mL target: ")
    assert "no model-based dose" in card["summary"]
    assert f"Latest imatinib level: **{trough} ng/mL** on 2026-11-20, below the 1000 ng/mL target" in card["detail"]
    assert "the model cannot explain it, and gives no dose from it" in card["detail"]
    assert "check the value and its unit with the laboratory" in card["detail"] and "adherence" in card["detail"]
    assert not card.get("suggestions")


def test_a_low_trough_the_model_can_explain_still_gets_its_proposal(call):
    given = on_dose(400)
    card = the_tdm_card(call(hook_request("order-select", [given["draft"]], prefetch=prefetch(
        level(640), active=(given["active"],)))))
    assert card["summary"].startswith("Imatinib trough predicted")
    assert [s["label"] for s in card["suggestions"]] == ["Change imatinib to 600 mg once daily"]


@pytest.mark.parametrize("trough", [2500, 9000])
def test_a_trough_above_the_watch_level_says_to_watch_closely(call, trough):
    card = the_tdm_card(call(hook_request("order-select", [resource(DRAFTS["R4"])], prefetch=prefetch(level(trough)))))
    assert card["indicator"] == "warning"
    assert card["summary"] == f"Imatinib level {trough} ng/mL, above the 2000 ng/mL watch level: watch closely"
    assert "No toxic level is defined: above 2000 ng/mL, exposure is to be watched closely" in card["detail"]
    assert "Eastern Health" in card["detail"]  # the watch level's source
    assert not card.get("suggestions")


def test_an_implausibly_high_level_is_above_the_watch_level_and_one_the_model_cannot_explain(call):
    card = the_tdm_card(call(hook_request("order-select", [resource(DRAFTS["R4"])], prefetch=prefetch(level(64000)))))
    assert "above the 2000 ng/mL watch level" in card["summary"]
    assert "the model cannot explain it" in card["detail"]
    assert "check the value and its unit with the laboratory" in card["detail"]


def test_a_child_with_a_level_above_the_watch_level_gets_the_card_without_the_model(call):
    card = the_tdm_card(call(hook_request("order-select", [resource(DRAFTS["R4"])], prefetch=prefetch(
        level(2600), person=patient(born(12))))))
    assert "above the 2000 ng/mL watch level" in card["summary"]
    assert "validated for adults aged 20 to 88 years" in card["detail"]
    assert not card.get("suggestions")


def test_on_the_inducer_card_a_level_the_model_cannot_explain_gives_no_dose_from_the_model(call):
    """3000 ng/mL during rifampin is more than a factor 2 above anything the model with rifampin's clearance fits;
    it is above the watch level too, so the dose is held, and the a priori troughs are shown instead of a fit."""
    imatinib = {**resource("imatinib-400-active-r4.json"), "authoredOn": "2026-08-01"}
    card = inducer_card(call(hook_request("order-sign", [resource(DRAFTS["R4"])], prefetch=prefetch(
        level(3000, "2026-11-25T08:05:00Z"), active=(rifampin_since("2026-11-01"), imatinib)))))
    assert ("The level measured during the co-therapy (3000 ng/mL) is more than a factor 2 from the curve the "
            "population model fits to it: the model cannot explain it, so no dose is taken from it") in card["detail"]
    assert "The model's proposal" not in card["detail"]
    assert "Predicted trough (population PK model, a priori, clearance x3.8 for rifampin)" in card["detail"]
    assert not [s for s in card["suggestions"] if s["label"].startswith("Increase")]
