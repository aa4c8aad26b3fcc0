"""Shape limits on incoming JSON, checked once after parsing and before anything walks it.

The byte limit (413) bounds memory; these bound work: a few megabytes of `[[[[...` or of tiny Bundle entries are
cheap to send and expensive to walk resource by resource. The walk itself is iterative, so no input can exhaust the
Python stack.
"""

from dataclasses import dataclass
from typing import Any

from cds_service.errors import BadRequest, PayloadTooLarge


@dataclass(frozen=True, slots=True)
class JsonLimits:
    max_depth: int = 64
    max_bundle_entries: int = 10_000


def check_json_limits(data: Any, limits: JsonLimits, what: str = "request body") -> None:
    """Refuse nesting deeper than `max_depth` (400) and more Bundle entries in all than `max_bundle_entries` (413).

    Every request pays for this walk, so it goes level by level, handing each level's children on with one C-level
    list extension instead of a (value, depth) tuple per child, and tests exact types: `data` is what orjson
    parsed, plain dicts and lists. About a fifth of the cost of a stack walk. The depth is checked once per level
    and only past the limit (where any container is an error), not once per container; a dict is asked for its
    resourceType only when it has an `entry`, which few but Bundles have.
    """
    max_depth, max_entries = limits.max_depth, limits.max_bundle_entries
    entries = 0
    level: list[Any] = [data]
    depth = 1
    while level:
        if depth > max_depth and any(type(value) is dict or type(value) is list for value in level):
            raise _too_deep(limits, what)
        below: list[Any] = []
        for value in level:
            kind = type(value)
            if kind is dict:
                if "entry" in value and value.get("resourceType") == "Bundle" and type(value["entry"]) is list:
                    entries += len(value["entry"])
                    if entries > max_entries:
                        raise PayloadTooLarge(f"The {what} holds more than {max_entries} Bundle entries in all.")
                below += value.values()
            elif kind is list:
                below += value
        level = below
        depth += 1


def _too_deep(limits: JsonLimits, what: str) -> BadRequest:
    return BadRequest(f"The {what} is nested deeper than the {limits.max_depth}-level limit.")
