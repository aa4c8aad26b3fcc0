"""What every hook's context becomes: the patient, and the orders being written right now."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cds_service.errors import BadRequest
from cds_service.fhir import Resource, bundle_resources, local_reference


@dataclass(frozen=True, slots=True)
class HookContext:
    patient_id: str
    user_id: str | None
    encounter_id: str | None
    draft_orders: tuple[Resource, ...]
    # order-select: the orders the clinician just picked. None means every draft order is under decision.
    selections: frozenset[str] | None = None

    def is_under_decision(self, order: Resource) -> bool:
        if self.selections is None:
            return True
        ref = local_reference(order)
        return ref is not None and ref in self.selections


@dataclass(frozen=True, slots=True)
class Hook:
    name: str
    service_id: str
    title: str
    description: str
    read_context: Callable[[dict[str, Any]], HookContext]
    # The context as `read_context` accepts it, for the OpenAPI document (tests hold the two to each other).
    context_model: type[BaseModel] | None = None


# --- the context shapes `read_context` accepts, as pydantic models the OpenAPI document is made from ------------
# They say exactly what the readers below check and no more: `patientId` a string with a non-blank character, the
# orders a Bundle (its entries read leniently, junk skipped), `userId`/`encounterId` read only when they are
# strings, anything else in the context ignored.

PatientId = Annotated[str, Field(pattern=r"\S", description="The patient's FHIR id (not blank).")]
OptionalId = Annotated[Any, Field(description="Read when it is a non-empty string; ignored otherwise.")]


class OrderBundle(BaseModel):
    """A FHIR Bundle of the orders being written; entries that are not resources are skipped."""

    model_config = ConfigDict(extra="allow")

    resourceType: Literal["Bundle"]
    entry: Any = None


class ContextBase(BaseModel):
    model_config = ConfigDict(extra="allow")

    patientId: PatientId
    userId: OptionalId = None
    encounterId: OptionalId = None


def require_string(context: dict[str, Any], key: str) -> str:
    value = context.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"context.{key} is required and must be a non-empty string.")
    return value


def optional_string(context: dict[str, Any], key: str) -> str | None:
    value = context.get(key)
    return value if isinstance(value, str) and value else None


def require_orders(context: dict[str, Any], key: str, *, allow_array: bool = False) -> tuple[Resource, ...]:
    """The resources of `context[key]`, a Bundle (or, for pre-2018 medication-prescribe, a plain array)."""
    value = context.get(key)
    if value is None:
        raise BadRequest(f"context.{key} is required.")
    is_bundle = isinstance(value, dict) and value.get("resourceType") == "Bundle"
    if not is_bundle and not (allow_array and isinstance(value, list)):
        shape = "a Bundle or an array of resources" if allow_array else "a Bundle"
        raise BadRequest(f"context.{key} must be {shape}.")
    return tuple(bundle_resources(value))
