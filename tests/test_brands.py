"""A brand of several ingredients names all of them (brands.toml): Kaletra alone on an order is lopinavir and
ritonavir, so every rule that reads ingredients sees both, and the card says which of the brand's ingredients it is
about, what the brand contains and the label that says so. Single-ingredient products read as before."""

import html
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.knowledge import load_knowledge
from tests.helpers import bundle, cards_of, hook_request, resource
from tests.meds import order, statement
from tests.rendering import assert_renders_as_written
from tests.test_de_induction import TOPIC as INDUCER_STOPPED
from tests.test_de_induction import renewal
from tests.test_dosing_api import PATH, PUBLIC_CASE
from tests.test_knowledge import assert_refused, copy_bundled

STRONG_INHIBITOR = "imatinib-strong-cyp3a4-inhibitor"
KALETRA = "Kaletra 200 mg/50 mg tablet"
KALETRA_LABEL = "Kaletra contains lopinavir and ritonavir (KALETRA US label, status V)."


def cards_of_topic(response, topic: str) -> list[dict[str, Any]]:
    return [assert_renders_as_written(c) for c in cards_of(response) if c["source"]["topic"]["code"] == topic]


def found_line(card: dict[str, Any]) -> str:
    return card["detail"].split("\n\n", 1)[0]


def imatinib_active(version: str) -> dict[str, Any]:
    return order(version, "imatinib-active", "imatinib 400 MG Oral Tablet", mg=400)


def with_concept(resource_: dict[str, Any], shape: str, text: str) -> dict[str, Any]:
    """The medication as an EHR may send it: the concept's text only, a coding's display only (a local formulary
    code the knowledge base does not know), or a reference to a contained Medication."""
    del resource_["medicationCodeableConcept"]
    if shape == "text":
        resource_["medicationCodeableConcept"] = {"text": text}
    elif shape == "display":
        resource_["medicationCodeableConcept"] = {
            "coding": [{"system": "urn:oid:2.16.840.1.113883.3.1234.1", "code": "F-1001", "display": text}]}
    else:
        resource_["contained"] = [{"resourceType": "Medication", "id": "med", "code": {"text": text}}]
        resource_["medicationReference"] = {"reference": "#med"}
    return resource_


IMATINIB_DRAFTS = {"R4": "imatinib-400-draft-r4.json", "STU3": "imatinib-400-draft-stu3.json",
                   "DSTU2": "imatinib-400-draft-dstu2.json"}


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize(("version", "shape"), [("R4", "text"), ("R4", "contained"), ("STU3", "display"),
                                                ("STU3", "text"), ("DSTU2", "contained"), ("DSTU2", "display")])
def test_kaletra_ordered_for_a_patient_on_imatinib_warns_about_both_of_its_inhibitors(call, hook, version, shape):
    draft = with_concept(order(version, "kaletra", KALETRA, status="draft", mg=400, per_day=2), shape, KALETRA)
    body = hook_request(hook, [draft], prefetch={"activeMedications": bundle(imatinib_active(version))})
    [card] = cards_of_topic(call(body), STRONG_INHIBITOR)
    assert card["summary"].startswith("Imatinib + lopinavir + ritonavir: strong CYP3A4 inhibition")
    assert found_line(card) == ("Found: imatinib 400 MG Oral Tablet (an active order); "
                                f"{KALETRA} (lopinavir and ritonavir; being ordered now).")
    assert KALETRA_LABEL in card["detail"]
    assert [s["label"] for s in card["suggestions"]] == [f"Remove the {KALETRA} order"]


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize(("version", "shape", "recorded"), [
    ("R4", "text", "order"), ("R4", "contained", "statement"), ("STU3", "display", "order"),
    ("STU3", "text", "statement"), ("DSTU2", "contained", "order"), ("DSTU2", "text", "statement"),
])
def test_imatinib_ordered_for_a_patient_on_kaletra_warns(call, hook, version, shape, recorded):
    if recorded == "order":
        kaletra = order(version, "kaletra", KALETRA, mg=400, per_day=2)
        prefetch = {"activeMedications": bundle(with_concept(kaletra, shape, KALETRA))}
        where = "an active order"
    else:
        kaletra = statement(version, "kaletra", KALETRA, start="2026-06-01")
        prefetch = {"medicationStatements": bundle(with_concept(kaletra, shape, KALETRA))}
        where = "recorded as taken"
    body = hook_request(hook, [resource(IMATINIB_DRAFTS[version])], prefetch=prefetch)
    [card] = cards_of_topic(call(body), STRONG_INHIBITOR)
    assert card["summary"].startswith("Imatinib + lopinavir + ritonavir")
    assert f"{KALETRA} (lopinavir and ritonavir; {where})" in found_line(card)
    assert KALETRA_LABEL in card["detail"]
    assert "suggestions" not in card or card["suggestions"] == []  # neither order is the card's to change


@pytest.mark.parametrize(("text", "named", "contents"), [
    ("PAXLOVID 300 mg/100 mg dose pack", "ritonavir",
     "Paxlovid contains ritonavir, with nirmatrelvir (PAXLOVID US label, status V)."),
    ("Prezcobix 800 mg/150 mg tablet", "cobicistat + darunavir",
     "Prezcobix contains darunavir and cobicistat (PREZCOBIX US label, status V2)."),
    ("EVOTAZ 300 mg/150 mg tablet", "atazanavir + cobicistat",
     "Evotaz contains atazanavir and cobicistat (EVOTAZ US label, status V)."),
    ("Genvoya tablet", "cobicistat",
     "Genvoya contains cobicistat, with elvitegravir, emtricitabine and tenofovir alafenamide (GENVOYA US label, "
     "status V)."),
    ("Stribild tablet", "cobicistat",
     "Stribild contains cobicistat, with elvitegravir, emtricitabine and tenofovir disoproxil fumarate (STRIBILD "
     "US label, status V)."),
    ("Symtuza 800/150/200/10 mg tablet", "cobicistat + darunavir",
     "Symtuza contains darunavir and cobicistat, with emtricitabine and tenofovir alafenamide (SYMTUZA US label, "
     "status V2)."),
    ("Viekira Pak", "ritonavir",
     "Viekira Pak contains ritonavir, with ombitasvir, paritaprevir and dasabuvir (VIEKIRA PAK US label, status "
     "V2)."),
    ("VIEKIRA XR extended-release tablet", "ritonavir",
     "Viekira XR contains ritonavir, with dasabuvir, ombitasvir and paritaprevir (VIEKIRA XR US label, status V2)."),
    ("Technivie tablet", "ritonavir",
     "Technivie contains ritonavir, with ombitasvir and paritaprevir (TECHNIVIE US label, status V2)."),
])
def test_each_boosted_brand_is_read_as_its_strong_inhibitors_with_its_label(call, text, named, contents):
    draft = order("R4", "brand", text, status="draft", mg=1)
    body = hook_request("order-sign", [draft], prefetch={"activeMedications": bundle(imatinib_active("R4"))})
    [card] = cards_of_topic(call(body), STRONG_INHIBITOR)
    assert card["summary"].startswith(f"Imatinib + {named}: ")
    assert f"{text} ({named.replace(' + ', ' and ')}; being ordered now)" in found_line(card)
    assert contents in card["detail"]


@pytest.mark.parametrize(("text", "named"), [("Norvir 100 mg tablet", "ritonavir"), ("TYBOST 150 mg", "cobicistat")])
def test_a_single_ingredient_booster_brand_reads_as_a_single_ingredient_brand(call, text, named):
    """Norvir and Tybost are one ingredient each: named as the other single-ingredient brands are (Noxafil)."""
    draft = order("R4", "brand", text, status="draft", mg=100)
    body = hook_request("order-sign", [draft], prefetch={"activeMedications": bundle(imatinib_active("R4"))})
    [card] = cards_of_topic(call(body), STRONG_INHIBITOR)
    assert card["summary"].startswith(f"Imatinib + {named}: ")
    assert found_line(card).endswith(f"; {text} (being ordered now).")
    assert " contains " not in card["detail"]


def test_beside_a_single_ingredient_brand_only_the_brand_of_several_names_its_ingredients(call):
    drafts = [order("R4", "kaletra", KALETRA, status="draft", mg=400),
              order("R4", "noxafil", "Noxafil 100 mg delayed-release tablet", status="draft", mg=300)]
    body = hook_request("order-sign", drafts, prefetch={"activeMedications": bundle(imatinib_active("R4"))})
    [card] = cards_of_topic(call(body), STRONG_INHIBITOR)
    assert card["summary"].startswith("Imatinib + lopinavir + posaconazole + ritonavir")
    assert found_line(card) == (
        "Found: imatinib 400 MG Oral Tablet (an active order); "
        f"{KALETRA} (lopinavir and ritonavir; being ordered now); "
        "Noxafil 100 mg delayed-release tablet (being ordered now).")
    assert card["detail"].count(" contains ") == 1


@pytest.mark.parametrize(("topic", "management"), [(STRONG_INHIBITOR, None),
                                                   ("imatinib-strong-cyp3a4-inducer", "dose-increase"),
                                                   ("imatinib-moderate-cyp3a4-inducer", "monitor")])
def test_the_evidence_page_cites_the_label_of_each_brand_it_covers(client, knowledge, topic, management):
    page = html.unescape(client.get(f"/evidence/{topic}").text)
    members = set(knowledge.inhibitors) if management is None else {
        i for i, inducer in knowledge.inducers.items() if inducer.management == management}
    assert "Brands of several ingredients" in page
    for brand in knowledge.brands.values():
        if set(brand.ingredients) & members:
            assert brand.name in page
            for source in brand.sources:
                assert knowledge.sources[source].citation in page


STRONG_INDUCER = "imatinib-strong-cyp3a4-inducer"


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize(("version", "shape", "text", "named", "contents"), [
    ("R4", "text", "Donnatal tablet", "phenobarbital",
     "Donnatal contains phenobarbital, with atropine, hyoscyamine and scopolamine (RxNorm, status V)."),
    ("R4", "text", "Atripla 600/200/300 mg tablet", "efavirenz",
     "Atripla contains efavirenz, with emtricitabine and tenofovir disoproxil fumarate (RxNorm, status V)."),
    ("R4", "text", "Rifater tablet", "rifampin",
     "Rifater contains rifampin, with isoniazid and pyrazinamide (RIFATER US label, status V; RxNorm, status V)."),
    ("STU3", "display", "RIFAMATE 300 mg/150 mg capsule", "rifampin",
     "Rifamate contains rifampin, with isoniazid (RIFAMATE US label, status V2; RxNorm, status V)."),
    ("DSTU2", "contained", "IsonaRif capsule", "rifampin",
     "IsonaRif contains rifampin, with isoniazid (RxNorm, status V)."),
    ("R4", "contained", "Orkambi 200 mg/125 mg tablet", "lumacaftor",
     "Orkambi contains lumacaftor, with ivacaftor (ORKAMBI US label, status V)."),
])
def test_imatinib_ordered_for_a_patient_on_an_inducer_brand_names_the_inducer_in_it(
        call, knowledge, hook, version, shape, text, named, contents):
    """Rifater, Rifamate, IsonaRif, Donnatal and Atripla were brands of their inducer alone (the card never said
    what else they hold, nor which of their ingredients it was about); Orkambi, lumacaftor with ivacaftor, was not
    recognised at all."""
    brand = with_concept(order(version, "brand", text, mg=600, authored="2026-09-01"), shape, text)
    body = hook_request(hook, [resource(IMATINIB_DRAFTS[version])],
                        prefetch={"activeMedications": bundle(brand)})
    moderate = knowledge.inducers[named].strength == "moderate"
    [card] = cards_of_topic(call(body), "imatinib-moderate-cyp3a4-inducer" if moderate else STRONG_INDUCER)
    assert named in card["summary"]
    assert f"{named} ({text}, an active order)" in card["detail"]
    assert contents in card["detail"]


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_an_inducer_brand_ordered_for_a_patient_on_imatinib_names_the_inducer_in_it(call, hook):
    draft = order("R4", "rifater", "Rifater tablet", status="draft", mg=600)
    body = hook_request(hook, [draft], prefetch={"activeMedications": bundle(resource("imatinib-400-active-r4.json"))})
    [card] = cards_of_topic(call(body), STRONG_INDUCER)
    assert "rifampin (Rifater tablet, being ordered now)" in card["detail"]
    assert "Rifater contains rifampin, with isoniazid and pyrazinamide" in card["detail"]
    assert [s["label"] for s in card["suggestions"] if s["label"].startswith("Remove")] == [
        "Remove the Rifater tablet order"]


def test_a_stopped_inducer_brand_names_the_inducer_in_it(call):
    [card] = cards_of_topic(call(renewal(inducer="Rifater tablet")), INDUCER_STOPPED)
    assert card["detail"].startswith("Found: Rifater tablet (rifampin; an earlier order, status stopped)")


def test_the_dosing_api_reads_an_inducer_brand_as_the_inducer_in_it(client):
    def clearance(inducer: str) -> float:
        answer = client.post(PATH, json={**PUBLIC_CASE, "levels": [], "inducer": inducer})
        assert answer.status_code == 200, answer.text
        return float(answer.json()["a_priori"]["clearance_l_per_h"])

    assert clearance("Orkambi") == clearance("lumacaftor")
    assert clearance("Rifater") == clearance("rifampicin")




def test_every_rule_that_reads_ingredients_sees_each_ingredient_of_a_brand(tmp_path, settings):
    """A brand of a second BCR-ABL1 inhibitor and a strong CYP3A inhibitor (a test brand in a copy of the knowledge
    base): both the duplicate-TKI card and the inhibitor card, from the brand's name alone."""
    folder = copy_bundled(tmp_path)
    with (folder / "brands.toml").open("a") as handle:
        handle.write('\n[testocombo]\nname = "Testocombo"\ningredients = ["dasatinib", "ritonavir"]\n'
                     'sources = ["rxnorm"]\n')
    with TestClient(create_app(settings, load_knowledge(folder))) as client:
        draft = order("R4", "combo", "Testocombo 100 mg tablet", status="draft", mg=100)
        body = hook_request("order-sign", [draft], prefetch={"activeMedications": bundle(imatinib_active("R4"))})
        response = client.post("/cds-services/imatinib-order-sign", json=body)
        cards = {c["source"]["topic"]["code"]: c for c in cards_of(response)}
    assert {STRONG_INHIBITOR, "duplicate-bcr-abl1-inhibitors"} <= set(cards)
    assert "Testocombo 100 mg tablet (ritonavir; being ordered now)" in found_line(cards[STRONG_INHIBITOR])
    assert "Testocombo 100 mg tablet (dasatinib; being ordered now)" in found_line(
        cards["duplicate-bcr-abl1-inhibitors"])


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("brands.toml", 'ingredients = ["lopinavir", "ritonavir"]', 'ingredients = ["lopinavir", "ritonavirr"]',
     "brands.toml: [kaletra]: 'ritonavirr' is not an ingredient in ingredients.toml"),
    ("brands.toml", 'ingredients = ["lopinavir", "ritonavir"]',
     'ingredients = ["lopinavir"]\nothers = ["Ritonavir"]',
     "brands.toml: [kaletra]: 'Ritonavir' is ingredients.toml's [ritonavir]: list it under ingredients"),
    ("brands.toml", 'sources = ["fda-label-kaletra"]', 'sources = ["fda-label-kaletraa"]',
     "brands.toml: [kaletra]: cites unknown source 'fda-label-kaletraa'"),
    ("ingredients.toml", 'brands = ["Noxafil"]', 'brands = ["Noxafil", "Kaletra"]',
     "brands.toml: [kaletra]: the name 'Kaletra' is already given to posaconazole"),
    ("ingredients.toml", 'names = ["itraconazole"]', 'names = ["itraconazole"]\nbrands = ["Nizoral"]',
     "ingredients.toml: [itraconazole]: the name 'Nizoral' is already given to ketoconazole"),
])
def test_a_brand_that_would_hide_an_ingredient_stops_start_up(tmp_path, file, old, new, message):
    """A brand naming an unknown ingredient, leaving a known one among its `others`, or a name given twice (one of
    the two was silently lost) is reported by file and entry."""
    assert_refused(tmp_path, file, old, new, message)
