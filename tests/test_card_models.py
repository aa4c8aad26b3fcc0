"""The response models refuse what the spec (and the Inferno CRD checks) would reject."""

import json
import uuid

import pytest
from pydantic import ValidationError

from cds_service.protocol.cards import Action, Card, CardsResponse, Coding, Link, OverrideReason, Source, Suggestion

SOURCE = Source(label="Imatinib CDS", topic=Coding(system="urn:x", code="y"))


def suggestion() -> Suggestion:
    return Suggestion(label="Remove", actions=[Action(type="delete", description="Remove it", resourceId="X/1")])


def test_summary_of_140_characters_or_more_is_refused():
    Card(summary="x" * 139, indicator="info", source=SOURCE)
    with pytest.raises(ValidationError):
        Card(summary="x" * 140, indicator="info", source=SOURCE)


def test_suggestions_without_selection_behavior_are_refused():
    with pytest.raises(ValidationError, match="selectionBehavior"):
        Card(summary="s", indicator="warning", source=SOURCE, suggestions=[suggestion()])


def test_unknown_indicator_is_refused():
    with pytest.raises(ValidationError):
        Card(summary="s", indicator="hard-stop", source=SOURCE)


def test_override_reason_needs_a_display():
    with pytest.raises(ValidationError):
        OverrideReason(code="c", system="urn:x", display="")


@pytest.mark.parametrize(
    "action",
    [
        {"type": "create", "description": "d"},
        {"type": "update", "description": "d"},
        {"type": "delete", "description": "d"},
        {"type": "delete", "description": "", "resourceId": "X/1"},
    ],
)
def test_actions_must_carry_what_their_type_needs(action):
    with pytest.raises(ValidationError):
        Action.model_validate(action)


def test_app_context_only_on_smart_links():
    with pytest.raises(ValidationError):
        Link(label="l", url="https://x", type="absolute", appContext="ctx")


def test_serialised_cards_have_no_null_or_empty_fields_and_a_uuid_everywhere():
    card = Card(summary="s", indicator="info", source=SOURCE, suggestions=[], overrideReasons=[], links=[])
    card_with_suggestion = Card(summary="t", indicator="warning", source=SOURCE, suggestions=[suggestion()],
                                selectionBehavior="at-most-one")
    body = json.loads(CardsResponse(cards=[card, card_with_suggestion]).to_json())

    def walk(value):
        if isinstance(value, dict):
            for inner in value.values():
                assert inner is not None and inner != [] and inner != {} and inner != ""
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(body)
    assert "suggestions" not in body["cards"][0] and "selectionBehavior" not in body["cards"][0]
    assert body["cards"][0]["uuid"] and body["cards"][1]["suggestions"][0]["uuid"]


def test_no_advice_is_an_empty_cards_list():
    assert json.loads(CardsResponse().to_json()) == {"cards": []}


def test_card_and_suggestion_ids_are_distinct_random_version_4_uuids():
    ids = [Card(summary="s", indicator="info", source=SOURCE).uuid for _ in range(500)]
    ids += [suggestion().uuid for _ in range(500)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122
