"""One patient, one plan: across all the cards of one answer, one dose recommendation per order, no dose change of
an order another card removes, one trough order, and no card saying "no dose change" beside one that changes it."""

import itertools

import pytest

from cds_service.knowledge import load_knowledge
from cds_service.plan import planned_cards
from cds_service.protocol.cards import Action, Card, Source, Suggestion
from tests.helpers import bundle, cards_of, hook_request, resource
from tests.test_inducers import IMATINIB_DRAFT

LEVEL_CODES = load_knowledge().level_codes


def actions(cards: list[dict]) -> list[tuple[dict, dict]]:
    return [(card, a) for card in cards for s in card.get("suggestions") or () for a in s["actions"]]


def is_trough(action: dict) -> bool:
    resource_ = action.get("resource") or {}
    codes = [resource_.get("code"), *(i.get("code") for i in resource_.get("item") or ())]
    return action["type"] == "create" and any(
        c.get("code") in ("57844-3", "103609-4") for code in codes if code for c in code.get("coding", []))


def assert_one_plan(cards: list[dict]) -> None:
    """The invariant every answer keeps, whatever cards fired."""
    removed = {a["resourceId"] for _, a in actions(cards) if a["type"] == "delete"}
    updated = [f"{a['resource']['resourceType']}/{a['resource']['id']}" for _, a in actions(cards)
               if a["type"] == "update"]
    assert not set(updated) & removed, "a card changes an order another card removes"
    assert len(updated) == len(set(updated)), "two dose changes of one order"
    assert len([a for _, a in actions(cards) if is_trough(a)]) <= 1, "more than one trough order"
    if updated:
        for card in cards:
            assert "no dose change is suggested" not in (card.get("detail") or "").lower()


def moderate_active() -> dict:
    return resource("dexamethasone-oral-active-r4.json")


def test_a_strong_and_a_moderate_inducer_give_one_dose_and_one_trough_order(call):
    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)],
                        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"), moderate_active())})
    cards = cards_of(call(body))
    strong = next(c for c in cards if "strong CYP3A4" in c["summary"])
    moderate = next(c for c in cards if "moderate CYP3A4" in c["summary"])
    assert_one_plan(cards)
    assert [s["label"] for s in strong["suggestions"]][:2] == ["Increase imatinib to 600 mg/day",
                                                              "Order an imatinib trough level"]
    assert not moderate.get("suggestions")
    assert f"The imatinib dose is decided on the card “{strong['summary']}”" in moderate["detail"]
    assert f"The imatinib trough level is ordered from the card “{strong['summary']}”" in moderate["detail"]


def t315i() -> dict:
    return resource("lab-text-abl1-t315i-detected-r4.json")


@pytest.mark.parametrize("extra", [[], [moderate_active()]])
def test_t315i_with_rifampin_no_card_raises_the_draft_another_card_removes(call, extra):
    body = hook_request(
        "order-sign", [resource(IMATINIB_DRAFT)],
        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"), *extra),
                  "labResults": bundle(t315i()),
                  "conditions": bundle(resource("condition-cml-chronic-r4.json"))},
    )
    cards = cards_of(call(body))
    assert_one_plan(cards)
    removal = next(c for c in cards if c["indicator"] == "critical" and "T315I" in c["summary"])
    assert any(a["type"] == "delete" and a["resourceId"] == "MedicationRequest/imatinib-draft"
               for _, a in actions([removal]))
    strong = next(c for c in cards if "strong CYP3A4" in c["summary"])
    assert "Increase" not in " ".join(s["label"] for s in strong.get("suggestions") or ())
    assert f"Another card in this answer suggests removing this imatinib order (“{removal['summary']}”)" in \
        strong["detail"]
    assert "increase it by at least 50%" not in strong["detail"]
    assert not [a for _, a in actions(cards) if is_trough(a)]  # no trough for an order being removed


def test_st_johns_wort_beside_a_strong_inducer_does_not_contradict_its_dose(call):
    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)],
                        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json")),
                                  "medicationStatements": bundle(resource("st-johns-wort-statement-r4.json"))})
    cards = cards_of(call(body))
    assert_one_plan(cards)
    strong = next(c for c in cards if "strong CYP3A4" in c["summary"])
    wort = next(c for c in cards if "St John" in c["summary"])
    assert f"the dose with the strong inducer is on the card “{strong['summary']}”" in wort["detail"]


# Every combination the rules can produce today, by the inputs that make cards fire.
DRAFTS = {
    "imatinib": [resource(IMATINIB_DRAFT)],
    "imatinib+dasatinib": [resource(IMATINIB_DRAFT), resource("dasatinib-draft-r4.json")],
    "imatinib+rifampin": [resource(IMATINIB_DRAFT), resource("rifampin-draft-r4.json")],
}
ACTIVE = {
    "none": [],
    "rifampin": [resource("rifampin-active-r4.json")],
    "moderate": [moderate_active()],
    "rifampin+moderate": [resource("rifampin-active-r4.json"), moderate_active()],
    "carbamazepine+moderate": [resource("carbamazepine-active-r4.json"), moderate_active()],
}
LABS = {
    "none": [],
    "t315i": [t315i()],
    "d842v": [resource("lab-coded-pdgfra-d842v-r4.json")],
    "low trough": [resource("imatinib-trough-low-r4.json")],
}
STATEMENTS = {"none": [], "st johns wort": [resource("st-johns-wort-statement-r4.json")]}


@pytest.mark.parametrize(
    ("drafts", "active", "labs", "statements"),
    [c for c in itertools.product(DRAFTS, ACTIVE, LABS, STATEMENTS) if c[1] != "none" or c[3] != "none"
     or c[0] != "imatinib"],
)
def test_every_combination_of_cards_keeps_one_plan(call, drafts, active, labs, statements):
    body = hook_request("order-sign", DRAFTS[drafts], prefetch={
        "activeMedications": bundle(*ACTIVE[active]),
        "labResults": bundle(*LABS[labs]),
        "medicationStatements": bundle(*STATEMENTS[statements]),
        "conditions": bundle(resource("condition-cml-chronic-r4.json"), resource("condition-gist-r4.json")),
    })
    assert_one_plan(cards_of(call(body)))


# --- rules that do not read the plan: the actions are still settled, and the card says where they went ----------


def _card(summary: str, topic: str, indicator: str, *actions_: Action) -> Card:
    return Card(summary=summary, indicator=indicator, detail=f"{summary} detail",
                source=Source(label="test", topic={"system": "urn:t", "code": topic}),
                suggestions=[Suggestion(label=a.description, actions=[a]) for a in actions_],
                selectionBehavior="any")


def _update(dose: int) -> Action:
    return Action(type="update", description=f"dose {dose}",
                  resource={"resourceType": "MedicationRequest", "id": "imatinib-draft", "dose": dose})


def _trough(text: str) -> Action:
    return Action(type="create", description=text, resource={
        "resourceType": "ServiceRequest", "code": {"coding": [{"system": "http://loinc.org", "code": "57844-3"}]}})


def test_a_rule_unaware_of_the_plan_loses_the_actions_another_card_owns():
    removing = _card("Remove imatinib", "variant", "critical",
                     Action(type="delete", description="remove", resourceId="MedicationRequest/imatinib-draft"))
    raising = _card("Raise imatinib", "new-rule", "warning", _update(600), _trough("trough A"))
    other = _card("Another", "other-rule", "info", _trough("trough B"))
    cards = planned_cards(lambda plan: [removing, raising, other], LEVEL_CODES)
    by = {c.summary: c for c in cards}
    assert [s.label for s in by["Raise imatinib"].suggestions or ()] == ["trough A"]
    assert "suggests removing this imatinib order (“Remove imatinib”)" in by["Raise imatinib"].detail
    assert by["Another"].suggestions is None
    assert "The imatinib trough level is ordered from the card “Raise imatinib”." in by["Another"].detail


def test_the_pk_fit_dose_beats_a_label_dose_of_the_same_order():
    label = _card("Label dose", "imatinib-strong-cyp3a4-inducer", "critical", _update(600))
    fitted = _card("PK dose", "imatinib-tdm", "warning", _update(700))
    cards = {c.summary: c for c in planned_cards(lambda plan: [label, fitted], LEVEL_CODES)}
    assert cards["PK dose"].suggestions and cards["PK dose"].suggestions[0].actions[0].resource["dose"] == 700
    assert cards["Label dose"].suggestions is None
    assert "The imatinib dose is suggested on the card “PK dose”, not here." in cards["Label dose"].detail


def test_the_second_pass_hands_the_plan_to_rules_that_read_it():
    seen = []

    def run(plan):
        seen.append(plan)
        return [_card("A", "a", "warning", _trough("t")), _card("B", "b", "info", _trough("t"))]

    planned_cards(run, LEVEL_CODES)
    assert len(seen) == 2 and seen[1].trough_topic == "a" and seen[1].trough_elsewhere("b")


# --- cards from the other interaction rules: de-induction's step back and trough, the inhibitor card -------------


@pytest.mark.parametrize("stopped_days_ago", [5, 20])  # step back later (trough only) / step back now (an update)
def test_a_de_induction_step_back_gives_way_to_a_t315i_removal(call, stopped_days_ago):
    from tests.test_de_induction import renewal

    body = renewal(stopped_days_ago=stopped_days_ago)
    body["prefetch"]["labResults"] = bundle(t315i())
    cards = cards_of(call(body))
    assert_one_plan(cards)
    step_back = next(c for c in cards if c["source"]["topic"]["code"] == "imatinib-inducer-stopped")
    assert not step_back.get("suggestions")
    assert "suggests removing this imatinib order" in step_back["detail"]


def test_an_inhibitor_beside_a_strong_inducer_keeps_one_plan(call):
    from tests.meds import order

    ketoconazole = order("R4", "keto", "ketoconazole 200 MG Oral Tablet", mg=200)
    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch={
        "activeMedications": bundle(resource("rifampin-active-r4.json"), ketoconazole, moderate_active())})
    cards = cards_of(call(body))
    assert_one_plan(cards)
    assert len([a for _, a in actions(cards) if a["type"] == "update"]) == 1


def test_the_pk_dose_of_a_low_level_gives_way_to_a_t315i_removal(call):
    from tests.test_tdm_cards import level, prefetch

    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch=prefetch(level(640), t315i()))
    cards = cards_of(call(body))
    assert_one_plan(cards)
    assert not [a for _, a in actions(cards) if a["type"] == "update"]
    assert not [c for c in cards if c["source"]["topic"]["code"] == "imatinib-tdm"]
    # Without the variant the same record gets the model's dose: the test above is not vacuous.
    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch=prefetch(level(640)))
    assert [a for _, a in actions(cards_of(call(body))) if a["type"] == "update"]
