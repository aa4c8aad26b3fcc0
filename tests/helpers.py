"""Building CDS Hooks requests for tests out of the readable fixtures in fixtures/fhir/."""

import copy
import json
import uuid
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"
EMPTY_PREFETCH: dict[str, Any] = {
    "patient": None,
    "activeMedications": None,
    "medicationHistory": None,
    "medicationStatements": None,
    "stoppedMedicationStatements": None,
    "conditions": None,
    "labResults": None,
    "genomicVariants": None,
    "vitalSigns": None,
    "medicationAdministrations": None,
}


def request_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "requests" / name).read_text())


def resource(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "resources" / name).read_text())


def bundle(*resources: dict[str, Any], bundle_type: str | None = "searchset", next_url: str | None = None):
    data: dict[str, Any] = {"resourceType": "Bundle", "entry": [{"resource": copy.deepcopy(r)} for r in resources]}
    if bundle_type:
        data["type"] = bundle_type
    if next_url:
        data["link"] = [{"relation": "next", "url": next_url}]
    return data


def hook_request(
    hook: str,
    drafts: list[dict[str, Any]],
    *,
    patient_id: str = "pt-cml-1",
    prefetch: dict[str, Any] | None = None,
    selections: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A request for `hook` with `drafts` as the draft orders; prefetch keys default to "no data"."""
    context: dict[str, Any] = {"patientId": patient_id, "userId": "Practitioner/example"}
    if hook == "medication-prescribe":
        context["medications"] = bundle(*drafts, bundle_type="collection")
    else:
        context["draftOrders"] = bundle(*drafts, bundle_type="collection")
    if hook == "order-select":
        context["selections"] = selections or [f"{d['resourceType']}/{d['id']}" for d in drafts]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch is not False:
        body["prefetch"] = {**EMPTY_PREFETCH, **(prefetch or {})}
    body.update(extra)
    return body


SERVICE_FOR_HOOK = {
    "order-select": "imatinib-order-select",
    "order-sign": "imatinib-order-sign",
    "medication-prescribe": "imatinib-medication-prescribe",
}


def cards_of(response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return response.json()["cards"]


INCOMPLETE_TOPIC = "imatinib-check-incomplete"


def incomplete_check_card(response) -> dict[str, Any]:
    """The one card saying what could not be checked (a 200, never a silent "all clear")."""
    [card] = [c for c in cards_of(response) if c["source"]["topic"]["code"] == INCOMPLETE_TOPIC]
    return card


def suggestion(card: dict[str, Any], label_start: str) -> dict[str, Any]:
    for s in card.get("suggestions", []):
        if s["label"].startswith(label_start):
            return s
    labels = [s["label"] for s in card.get("suggestions", [])]
    raise AssertionError(f"no suggestion starting {label_start!r} in {labels}")
