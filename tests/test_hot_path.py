"""What the per-request shortcuts must not change: the request stays as sent, limits stop exactly where they say,
memoised matches belong to their own knowledge base, and card parts built once cannot be changed."""

import asyncio
import copy

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bench.pk import order_select_with_level
from cds_service.engine import Engine
from cds_service.errors import BadRequest, PayloadTooLarge
from cds_service.facts.medications import identify, is_systemic
from cds_service.fhir import codings, has_code_in, has_coding
from cds_service.knowledge import load_knowledge
from cds_service.protocol.limits import JsonLimits, check_json_limits, limits_hold
from cds_service.protocol.request import parse_hook_request
from cds_service.rules.common import card_source, override
from cds_service.settings import Settings
from hooks import ORDER_SIGN
from tests.helpers import FIXTURES
from tests.test_knowledge import copy_bundled


def test_the_dose_update_is_a_copy_and_the_request_keeps_its_draft_as_sent(knowledge):
    request = parse_hook_request((FIXTURES / "requests" / "order-sign-imatinib-with-carbamazepine.json").read_bytes())
    sent = copy.deepcopy(request.context)
    response = asyncio.run(Engine(knowledge, Settings()).evaluate(ORDER_SIGN, request, http=None))
    updates = [a.resource for c in response.cards for s in c.suggestions or () for a in s.actions if a.type == "update"]
    assert updates, "the carbamazepine card suggests a dose update"
    draft = sent["draftOrders"]["entry"][0]["resource"]
    assert updates[0]["id"] == draft["id"] and updates[0]["dosageInstruction"] != draft["dosageInstruction"]
    assert request.context == sent


def nested(depth: int, innermost: object) -> object:
    """`depth` containers, dicts and lists by turns, around `innermost`."""
    value = innermost
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


@pytest.mark.parametrize("innermost", [1, "text", None])
def test_json_at_exactly_the_depth_limit_passes_and_one_more_container_is_refused(innermost):
    limits = JsonLimits(max_depth=6, max_bundle_entries=100)
    check_json_limits(nested(6, innermost), limits)  # scalars inside the deepest container do not count
    with pytest.raises(BadRequest, match="nested deeper than the 6-level limit"):
        check_json_limits(nested(7, innermost), limits)


@pytest.mark.parametrize("innermost", [[], {}])
def test_an_empty_container_one_level_below_the_limit_is_refused(innermost):
    limits = JsonLimits(max_depth=6, max_bundle_entries=100)
    check_json_limits(nested(5, innermost), limits)
    with pytest.raises(BadRequest, match="nested deeper than the 6-level limit"):
        check_json_limits(nested(6, innermost), limits)


def test_only_bundles_with_an_entry_list_count():
    limits = JsonLimits(max_depth=64, max_bundle_entries=2)
    check_json_limits({"a": {"resourceType": "Patient", "entry": [1, 2, 3]},
                       "b": {"resourceType": "Bundle", "entry": {"1": 1, "2": 2, "3": 3}},
                       "c": {"entry": [1, 2, 3]}, "d": [{"resourceType": "Bundle"}]}, limits)
    with pytest.raises(PayloadTooLarge, match="more than 2 Bundle entries"):
        check_json_limits([[{"resourceType": "Bundle", "entry": [1, 2, 3]}]], limits)


def test_bundle_entries_are_counted_across_bundles_up_to_exactly_the_limit():
    limits = JsonLimits(max_depth=64, max_bundle_entries=5)

    def bundles(*sizes: int) -> dict:
        return {"prefetch": {str(i): {"resourceType": "Bundle", "entry": [{}] * n} for i, n in enumerate(sizes)}}

    check_json_limits(bundles(2, 3), limits)
    with pytest.raises(PayloadTooLarge, match="more than 5 Bundle entries"):
        check_json_limits(bundles(3, 3), limits)


# Strings made mostly of what the byte-level check looks at: brackets, braces, quotes, backslashes and commas.
_TRICKY_TEXT = st.text(alphabet='[]{}",\\ aB', max_size=6)
_JSON = st.recursive(
    st.none() | st.integers(-3, 3) | _TRICKY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TRICKY_TEXT, children, max_size=4)
    | st.builds(lambda entries: {"resourceType": "Bundle", "entry": entries}, st.lists(children, max_size=4)),
    max_leaves=40,
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(_JSON, st.integers(1, 8), st.integers(0, 12))
def test_the_byte_level_check_never_clears_a_body_the_walk_refuses(data, max_depth, max_entries):
    limits = JsonLimits(max_depth=max_depth, max_bundle_entries=max_entries)
    body = orjson.dumps(data)
    if limits_hold(body, limits):
        check_json_limits(data, limits)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(_JSON, st.integers(1, 8), st.integers(0, 12))
def test_the_byte_level_check_of_a_large_body_never_clears_a_body_the_walk_refuses(data, max_depth, max_entries):
    """The same property past 32 kB, where the check is vectorised instead of peeled round by round."""
    limits = JsonLimits(max_depth=max_depth, max_bundle_entries=max_entries)
    padded = [data, "x" * 40_000]
    body = orjson.dumps(padded)
    assert len(body) > 32_768
    if limits_hold(body, limits):
        check_json_limits(padded, limits)


@pytest.mark.parametrize("pad", [0, 40_000])
def test_strings_with_stray_brackets_in_a_large_body_cannot_make_it_look_shallow(pad):
    limits = JsonLimits(max_depth=64, max_bundle_entries=100)
    body = b"[" * 50 + b'"' + b"]" * 49 + b'",' + b"[" * 50 + b"]" * 50 + b',"' + b"[" * 49 + b'"' + b"]" * 50
    body = body[:-1] + b',"' + b"x" * pad + b'"]'
    data = orjson.loads(body)
    assert not limits_hold(body, limits)
    with pytest.raises(BadRequest, match="nested deeper than the 64-level limit"):
        check_json_limits(data, limits, body=body)


def test_a_large_ordinary_body_is_cleared_without_the_walk_and_its_depth_is_read():
    body = orjson.dumps(order_select_with_level(prefetched=200))
    assert len(body) > 32_768
    assert limits_hold(body, JsonLimits())
    depth = max_depth_of(orjson.loads(body))
    assert limits_hold(body, JsonLimits(max_depth=depth)) and not limits_hold(body, JsonLimits(max_depth=depth - 1))
    entries = sum(len(v.get("entry", ())) for v in orjson.loads(body)["prefetch"].values() if isinstance(v, dict))
    assert not limits_hold(body, JsonLimits(max_bundle_entries=entries - 1))


def max_depth_of(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((max_depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((max_depth_of(v) for v in value), default=0)
    return 0


def test_strings_with_stray_brackets_cannot_make_a_deep_body_look_shallow():
    """100 levels whose strings, read as brackets, would close 49 of them early and open them again."""
    limits = JsonLimits(max_depth=64, max_bundle_entries=100)
    body = b"[" * 50 + b'"' + b"]" * 49 + b'",' + b"[" * 50 + b"]" * 50 + b',"' + b"[" * 49 + b'"' + b"]" * 50
    data = orjson.loads(body)
    assert not limits_hold(body, limits)
    with pytest.raises(BadRequest, match="nested deeper than the 64-level limit"):
        check_json_limits(data, limits, body=body)


@pytest.mark.parametrize("name", ["order-sign-imatinib-with-carbamazepine.json",
                                  "order-select-sandbox-imatinib-with-rifampin.json"])
def test_ordinary_bodies_are_cleared_without_the_walk(name):
    """Brackets in strings ("imatinib 400 MG Oral Tablet [Gleevec]") are common and must not force the walk."""
    body = orjson.dumps(orjson.loads((FIXTURES / "requests" / name).read_bytes()))
    assert b"[Gleevec]" in body or b"[" in body
    assert limits_hold(body, JsonLimits())
    assert not limits_hold(body, JsonLimits(max_depth=3))


def test_codings_leave_out_non_string_fields_and_never_change_the_request():
    concept = {"coding": [{"system": 5, "code": "x", "display": ["y"]}, {"system": "urn:s", "code": "z"}, "junk"]}
    sent = copy.deepcopy(concept)
    assert codings(concept) == [{"code": "x"}, {"system": "urn:s", "code": "z"}]
    assert concept == sent
    assert has_coding(concept, "urn:s", "z")
    assert not has_coding({"coding": [{"system": "urn:s", "code": ["z"]}]}, "urn:s", "z")


def test_a_code_set_matches_what_the_cleaned_codings_would_match():
    codes = {("urn:s", "z"), ("urn:s", "5")}
    concepts = [{"coding": [{"system": 5, "code": "z"}, {"system": "urn:s", "code": 5}]},
                {"coding": [{"system": "urn:s", "code": ["z"]}, "junk", {"system": "urn:s"}]},
                {"coding": [{"code": "z"}, {"system": "urn:s", "code": "z", "display": 1}]},
                {"coding": {"system": "urn:s", "code": "z"}}, {"text": "z"}, None, "z"]
    for concept in concepts:
        cleaned = any((c.get("system"), c.get("code")) in codes for c in codings(concept))
        assert has_code_in(concept, codes) is cleaned
    assert has_code_in(concepts[2], codes)


def test_names_and_routes_are_matched_by_each_knowledge_base_for_itself(tmp_path, knowledge):
    folder = copy_bundled(tmp_path)
    for file, old, new in (("ingredients.toml", 'brands = ["Rifadin",', 'brands = ["Testobrand", "Rifadin",'),
                           ("routes.toml", '"ophthalmic",', '"testoroute", "ophthalmic",')):
        text = (folder / file).read_text()
        assert old in text
        (folder / file).write_text(text.replace(old, new, 1))
    edited = load_knowledge(folder)
    concept = {"text": "Testobrand 300 mg capsule"}
    order = {"resourceType": "MedicationRequest", "dosageInstruction": [{"route": {"text": "testoroute"}}]}
    for _ in range(2):  # the second time from each memo
        assert identify(concept, knowledge).ingredients == frozenset()
        assert identify(concept, edited).ingredients == {"rifampin"}
        assert is_systemic(order, concept, knowledge)
        assert not is_systemic(order, concept, edited)


def test_card_parts_built_once_cannot_be_changed_through_a_card(knowledge):
    source = card_source(knowledge, "topic", "Topic")
    assert card_source(knowledge, "topic", "Topic") is source
    with pytest.raises(ValidationError):
        source.label = "changed"
    with pytest.raises(ValidationError):
        override("code", "Display").display = "changed"


def test_the_model_is_evaluated_once_per_call_for_one_request_and_again_for_the_next_call(knowledge, monkeypatch):
    """The inducer card asks for the a-priori answer and for a level during the co-therapy (none here): the same
    request, one evaluation per call; the memo is the call's, so a second call evaluates again."""
    from cds_service.rules import pk_dosing

    requests = []

    def counted(request, kb):
        requests.append(request)
        return evaluate(request, kb)

    evaluate = pk_dosing.estimate
    monkeypatch.setattr(pk_dosing, "estimate", counted)
    body = (FIXTURES / "requests" / "order-sign-imatinib-with-carbamazepine.json").read_bytes()
    engine = Engine(knowledge, Settings())
    first = asyncio.run(engine.evaluate(ORDER_SIGN, parse_hook_request(body), http=None))
    assert len(requests) == 1
    second = asyncio.run(engine.evaluate(ORDER_SIGN, parse_hook_request(body), http=None))
    assert len(requests) == 2
    assert [c.detail for c in first.cards] == [c.detail for c in second.cards]
