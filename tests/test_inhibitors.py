"""Imatinib with strong CYP3A4 inhibitors: both directions, the magnitude, the toxicities, no dose change, routes."""

import html

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource, suggestion
from tests.meds import order, statement
from tests.rendering import assert_renders_as_written

TOPIC = "imatinib-strong-cyp3a4-inhibitor"


def inhibitor_cards(response) -> list[dict]:
    return [assert_renders_as_written(c) for c in cards_of(response) if c["source"]["topic"]["code"] == TOPIC]


def imatinib_active(version: str = "R4") -> dict:
    return order(version, "imatinib-active", "imatinib 400 MG Oral Tablet", mg=400)


@pytest.mark.parametrize(
    ("hook", "version", "drug"),
    [
        ("order-sign", "R4", "Clarithromycin 500 MG Oral Tablet"),
        ("order-select", "STU3", "Itraconazole 100 MG Oral Capsule"),
        ("medication-prescribe", "DSTU2", "Posaconazole 100 MG Delayed Release Oral Tablet"),
        ("order-sign", "R4", "lopinavir 200 MG / ritonavir 50 MG Oral Tablet"),
    ],
)
def test_an_inhibitor_ordered_for_a_patient_on_imatinib_warns_and_offers_removal(call, hook, version, drug):
    draft = order(version, "inhibitor-draft", drug, status="draft", mg=100)
    body = hook_request(hook, [draft], prefetch={"activeMedications": bundle(imatinib_active(version))})
    [card] = inhibitor_cards(call(body))
    assert card["indicator"] == "warning"
    assert "strong CYP3A4 inhibition raises imatinib exposure" in card["summary"]
    # The drug was not measured with imatinib: the card says so and quotes ketoconazole's figure.
    assert "No imatinib-specific figure for" in card["detail"]
    assert "ketoconazole's is: Ketoconazole with a single 200 mg imatinib dose: imatinib Cmax +26 %, AUC +40 %" in (
        card["detail"]
    )
    assert "edema and fluid retention, hematologic toxicity" in card["detail"]
    assert "No source gives an imatinib dose change for an inhibitor, so none is suggested." in card["detail"]
    remove = suggestion(card, "Remove the")["actions"]
    ref = f"{draft['resourceType']}/inhibitor-draft"
    assert remove == [{"type": "delete", "description": f"Remove the {drug} order", "resourceId": ref}]
    # No dose update and no order of anything else.
    assert all(a["type"] == "delete" for s in card["suggestions"] for a in s["actions"])


def test_ketoconazole_gets_its_own_measured_figure(call):
    draft = order("R4", "keto", "Ketoconazole 200 MG Oral Tablet", status="draft", mg=200)
    body = hook_request("order-sign", [draft], prefetch={"activeMedications": bundle(imatinib_active())})
    [card] = inhibitor_cards(call(body))
    assert "Measured with imatinib: Ketoconazole with a single 200 mg imatinib dose" in card["detail"]
    assert "No imatinib-specific figure" not in card["detail"]
    # The study itself is cited on the topic's evidence page, which the card links.
    assert any(link["url"].endswith("/evidence/imatinib-strong-cyp3a4-inhibitor") for link in card["links"])


def test_the_inhibitor_page_cites_the_ketoconazole_study_and_every_note_the_card_gives(client, knowledge):
    page = html.unescape(client.get("/evidence/imatinib-strong-cyp3a4-inhibitor").text)
    assert "Dutreix C et al." in page
    inhibition = knowledge.interactions.inhibition
    for note in (inhibition.toxicities, inhibition.monitoring, inhibition.management, inhibition.grapefruit):
        assert note.text in page
        for source in note.sources:
            assert knowledge.sources[source].citation in page


def test_imatinib_ordered_for_a_patient_on_an_inhibitor_warns_without_touching_either_order(call):
    voriconazole = statement("R4", "vori", "voriconazole 200 mg tablets", start="2026-11-20")
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                        prefetch={"medicationStatements": bundle(voriconazole)})
    [card] = inhibitor_cards(call(body))
    assert card["summary"].startswith("Imatinib + voriconazole")
    assert "suggestions" not in card or card["suggestions"] == []
    # The inducer card's dose increase is not offered for an inhibitor.
    assert "Increase imatinib" not in str(card)


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("Ketoconazole 20 MG/ML Medicated Shampoo", None),
        ("Ketoconazole 2 % Topical Cream", None),
        ("clarithromycin", "ophthalmic"),
    ],
)
def test_inhibitors_on_the_skin_or_in_the_eye_inhibit_nothing(call, text, route):
    draft = order("R4", "topical", text, status="draft", mg=1, route=route)
    body = hook_request("order-sign", [draft], prefetch={"activeMedications": bundle(imatinib_active())})
    assert inhibitor_cards(call(body)) == []


def test_no_card_when_neither_side_is_being_ordered(call):
    body = hook_request("order-sign", [resource("rifampin-draft-r4.json")], prefetch={
        "activeMedications": bundle(imatinib_active(), order("R4", "clari", "clarithromycin 500 mg", mg=500)),
    })
    assert inhibitor_cards(call(body)) == []


@pytest.mark.parametrize("drug", ["fluconazole 200 mg tablet", "Erythromycin 500 MG Oral Tablet",
                                  "diltiazem 120 mg capsule"])
def test_a_moderate_inhibitor_gets_an_info_card_quoting_ketoconazole_and_no_dose_change(call, drug):
    draft = order("R4", "mod", drug, status="draft", mg=200)
    body = hook_request("order-sign", [draft], prefetch={"activeMedications": bundle(imatinib_active())})
    cards = cards_of(call(body))
    assert inhibitor_cards(call(body)) == []  # not the strong warning
    [card] = [assert_renders_as_written(c) for c in cards
              if c["source"]["topic"]["code"] == "imatinib-moderate-cyp3a4-inhibitor"]
    assert card["indicator"] == "info"
    assert "moderate CYP3A4 inhibitor may raise imatinib exposure" in card["summary"]
    assert "a moderate CYP3A inhibitor (moderate (Lexicomp CYP3A table))" in card["detail"]
    assert "ketoconazole's is" in card["detail"] and "A strong inhibitor may do as much" not in card["detail"]
    assert "so none is suggested" in card["detail"]
    assert all(a["type"] == "delete" for s in card["suggestions"] for a in s["actions"])


def test_an_unrelated_drug_gets_no_inhibitor_card(call):
    draft = order("R4", "amox", "amoxicillin 500 mg capsule", status="draft", mg=500)
    body = hook_request("order-sign", [draft], prefetch={"activeMedications": bundle(imatinib_active())})
    assert not [c for c in cards_of(call(body)) if "inhibitor" in c["source"]["topic"]["code"]]


def test_a_strong_and_a_moderate_inhibitor_are_two_cards_of_their_own_strength(call):
    drafts = [resource("imatinib-400-draft-r4.json"),
              order("R4", "clari", "clarithromycin 500 mg tablet", status="draft", mg=500),
              order("R4", "vera", "verapamil 80 mg tablet", status="draft", mg=80)]
    topics = sorted(c["source"]["topic"]["code"] for c in cards_of(call(hook_request("order-sign", drafts)))
                    if "inhibitor" in c["source"]["topic"]["code"])
    assert topics == ["imatinib-moderate-cyp3a4-inhibitor", "imatinib-strong-cyp3a4-inhibitor"]


def test_two_inhibitors_with_an_imatinib_draft_are_one_card_naming_both(call):
    drafts = [resource("imatinib-400-draft-r4.json"),
              order("R4", "clari", "clarithromycin 500 mg tablet", status="draft", mg=500)]
    body = hook_request("order-sign", drafts, prefetch={
        "activeMedications": bundle(order("R4", "rtv", "ritonavir 100 mg tablet", mg=100)),
    })
    [card] = inhibitor_cards(call(body))
    assert card["summary"].startswith("Imatinib + clarithromycin + ritonavir")
    # Only the inhibitor being ordered now can be removed by the card.
    assert [s["label"] for s in card["suggestions"]] == ["Remove the clarithromycin 500 mg tablet order"]


def test_with_a_strong_inducer_too_the_inhibitor_card_does_not_contradict_the_dose_increase(call):
    drafts = [resource("imatinib-400-draft-r4.json"),
              order("R4", "clari", "clarithromycin 500 mg tablet", status="draft", mg=500)]
    body = hook_request("order-sign", drafts,
                        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"))})
    cards = cards_of(call(body))
    [inducer] = [c for c in cards if c["source"]["topic"]["code"] == "imatinib-strong-cyp3a4-inducer"]
    assert suggestion(inducer, "Increase imatinib")
    [card] = inhibitor_cards(call(body))
    assert ("so none is suggested. (status V2) That is for the inhibitor alone: the dose advice on the rifampin card "
            "is for the inducer and stands") in card["detail"]


def test_without_an_inducer_the_no_dose_change_line_stands_alone(call):
    draft = order("R4", "clari", "clarithromycin 500 mg tablet", status="draft", mg=500)
    body = hook_request("order-sign", [draft], prefetch={"activeMedications": bundle(imatinib_active())})
    [card] = inhibitor_cards(call(body))
    assert "That is for the inhibitor alone" not in card["detail"]


@pytest.mark.parametrize(("text", "named"), [
    ("Noxafil 100 mg delayed-release tablet", "posaconazole"),
    ("NIZORAL 200 MG Oral Tablet", "ketoconazole"),
    ("Biaxin XL 500 mg extended-release tablet", "clarithromycin"),
    ("Biaxin Filmtab 250 mg", "clarithromycin"),
])
def test_a_strong_inhibitor_named_only_by_its_brand_is_recognised(call, text, named):
    """The EHR sent only the brand: the card was missing (an all clear) while inducer brands were recognised."""
    draft = order("R4", "inhibitor-draft", text, status="draft", mg=100)
    body = hook_request("order-sign", [draft], prefetch={"activeMedications": bundle(imatinib_active())})
    [card] = inhibitor_cards(call(body))
    assert named in card["summary"]


def test_a_brand_shampoo_of_a_strong_inhibitor_inhibits_nothing(call):
    draft = order("R4", "shampoo", "Nizoral A-D 1 % Shampoo", status="draft", mg=1)
    body = hook_request("order-sign", [draft], prefetch={"activeMedications": bundle(imatinib_active())})
    assert inhibitor_cards(call(body)) == []


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_one_order_of_two_inhibiting_ingredients_is_named_and_removed_once(call, hook):
    """Lopinavir with ritonavir is one order: it was listed twice under 'Found', named twice as recognised by its
    name, and offered as two identical 'Remove' suggestions (one per inhibiting ingredient)."""
    text = "lopinavir 200 MG / ritonavir 50 MG Oral Tablet"
    draft = order("R4", "lpv-r", text, status="draft", mg=400)
    body = hook_request(hook, [draft], prefetch={"activeMedications": bundle(imatinib_active())})
    [card] = inhibitor_cards(call(body))
    assert card["summary"].startswith("Imatinib + lopinavir + ritonavir")
    assert card["detail"].count(text) == 2  # once under "Found", once in the note on how it was recognised
    assert [s["label"] for s in card["suggestions"]] == [f"Remove the {text} order"]
