"""CDS Hooks 2.0 response models that refuse to build a card the spec (or the Inferno checks) would reject.

Optional fields are never sent as null or empty: `CardsResponse.to_json` drops them, and validators turn empty
lists into "absent" so a rule cannot produce `"suggestions": []`.
"""

import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Indicator = Literal["info", "warning", "critical"]
INDICATOR_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


_MARKDOWN_SPECIALS = str.maketrans({c: "\\" + c for c in "\\`*_[]#|~"} | {
    "<": "&lt;", ">": "&gt;", "&": "&amp;"
})


def escape_markdown(text: str) -> str:
    """Text from the request (a drug name, a note) made inert in card markdown: clients render raw HTML too."""
    return text.translate(_MARKDOWN_SPECIALS)


_VERSION_4 = 0x0000_0000_0000_4000_8000_0000_0000_0000  # the version nibble and the RFC 4122 variant bits
_CLEAR = ~0x0000_0000_0000_F000_C000_0000_0000_0000 & (1 << 128) - 1


def new_uuid() -> str:
    """A random (version 4) UUID, three times cheaper than `str(uuid.uuid4())`: a card needs a unique id, not a
    secret one, and the module's generator is reseeded in every forked worker."""
    digits = f"{random.getrandbits(128) & _CLEAR | _VERSION_4:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Shared(_Model):
    """Parts the same for every card of a kind (source, override reasons): frozen, so rules can build them once."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Coding(_Shared):
    system: str | None = None
    code: str
    display: str | None = None


class Source(_Shared):
    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Model):
    type: Literal["create", "update", "delete"]
    description: str = Field(min_length=1)
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _payload_matches_type(self) -> "Action":
        if self.type in ("create", "update") and not self.resource:
            raise ValueError(f"a {self.type} action needs the whole resource")
        if self.type == "delete" and not self.resourceId:
            raise ValueError("a delete action needs resourceId")
        return self


class Suggestion(_Model):
    label: str = Field(min_length=1)
    uuid: str = Field(default_factory=new_uuid)
    isRecommended: bool | None = None
    actions: list[Action] = Field(min_length=1)


class Link(_Model):
    label: str = Field(min_length=1)
    url: str = Field(min_length=1)
    type: Literal["absolute", "smart"] = "absolute"
    appContext: str | None = None

    @model_validator(mode="after")
    def _app_context_only_on_smart(self) -> "Link":
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is only allowed on smart links")
        return self


class OverrideReason(_Shared):
    code: str
    system: str
    display: str = Field(min_length=1)


class Card(_Model):
    uuid: str = Field(default_factory=new_uuid)
    summary: str = Field(min_length=1, max_length=139)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[OverrideReason] | None = None
    links: list[Link] | None = None

    @field_validator("suggestions", "overrideReasons", "links", mode="after")
    @classmethod
    def _empty_is_absent(cls, value: list[Any] | None) -> list[Any] | None:
        return value or None

    @model_validator(mode="after")
    def _selection_behavior_with_suggestions(self) -> "Card":
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when a card has suggestions")
        if not self.suggestions:
            self.selectionBehavior = None
        return self


class SystemAction(Action):
    pass


class CardsResponse(_Model):
    cards: list[Card] = Field(default_factory=list)
    systemActions: list[SystemAction] | None = None

    def to_json(self) -> bytes:
        # `cards` is never None, so it survives exclude_none even when empty, as the spec wants.
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)
