"""Feedback the EHR sends when a card is accepted or overridden, read leniently (the sandbox omits `display`)."""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from cds_service.errors import BadRequest
from cds_service.protocol.limits import JsonLimits
from cds_service.protocol.request import describe_validation_error, parse_json_object
from cds_service.store.schema import MAX_CARD_ID, MAX_TIMESTAMP


def _without_nul(text: str) -> str:
    """PostgreSQL text cannot hold NUL: refused here (400) rather than by the insert (503, which says "retry")."""
    if "\x00" in text:
        raise ValueError("must not contain a NUL character")
    return text


NO_NUL: dict[str, Any] = {"pattern": "^[^\u0000]*$"}  # `_without_nul`, as the OpenAPI document says it


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class AcceptedSuggestion(_Lenient):
    id: str


class ReasonCoding(_Lenient):
    code: str | None = None
    system: str | None = None
    display: str | None = None


class OverrideReason(_Lenient):
    reason: ReasonCoding | None = None
    userComment: str | None = None


class FeedbackEntry(_Lenient):
    card: Annotated[
        str, Field(min_length=1, max_length=MAX_CARD_ID, json_schema_extra=NO_NUL), AfterValidator(_without_nul)
    ]
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: Annotated[
        str, Field(max_length=MAX_TIMESTAMP, json_schema_extra=NO_NUL), AfterValidator(_without_nul)
    ] | None = None


class FeedbackRequest(_Lenient):
    feedback: list[FeedbackEntry] = Field(min_length=1, max_length=1000)


def parse_feedback(body: bytes, limits: JsonLimits | None = None) -> tuple[FeedbackRequest, list[dict[str, Any]]]:
    """The validated request and, for storage, each entry exactly as it was sent."""
    data = parse_json_object(body, "feedback body", limits)
    try:
        parsed = FeedbackRequest.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(f"Invalid feedback: {describe_validation_error(exc)}") from None
    return parsed, list(data["feedback"])
