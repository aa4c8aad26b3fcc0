"""Shape limits on incoming JSON, checked once after parsing and before anything walks it.

The byte limit (413) bounds memory; these bound work: a few megabytes of `[[[[...` or of tiny Bundle entries are
cheap to send and expensive to walk resource by resource. The walk itself is iterative, so no input can exhaust the
Python stack. Most bodies need no walk: a few C-level passes over their bytes prove them within both limits
(`limits_hold`), at about half the walk's cost; only a body they cannot clear is walked, which then decides, and
words, any refusal.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from cds_service.errors import BadRequest, PayloadTooLarge


@dataclass(frozen=True, slots=True)
class JsonLimits:
    max_depth: int = 64
    max_bundle_entries: int = 10_000


# What `limits_hold` keeps of a body: brackets, string quotes and commas, objects' braces made list brackets.
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{}",')
_ONE_KIND = bytes.maketrans(b"{}", b"[]")


def limits_hold(body: bytes, limits: JsonLimits) -> bool:
    """True when the JSON text `body` is proved within both limits by its bytes alone; False when it may not be.

    Never True for a body the walk refuses (`tests/test_hot_path.py` tries many). Bundle entries are list elements,
    and a list has at most one element more than it has commas. For the depth, what is left of the body is its
    brackets (braces made brackets: the parser has matched them) and its quotes, and each round takes away every
    adjacent `""` and then every adjacent `[]`. Two quotes going leave every other character inside or outside a
    string as it was, so a bracket of the structure never meets one from a string, and it goes only once all it
    encloses has gone: each round peels at most one level of the structure, and a body gone within `max_depth`
    rounds is no deeper (one whose strings hold stray brackets, like `"]"`, never goes, and is walked). Duplicate
    keys only make the text deeper or longer than what was parsed from it. A backslash may escape a quote: walked.
    """
    if b"\\" in body:
        return False
    if len(body) >= _LARGE:
        return _large_body_holds(body, limits)
    kept = body.translate(_ONE_KIND, _NOT_STRUCTURE)
    if kept.count(b",") + kept.count(b"[") > limits.max_bundle_entries:
        return False
    structure = kept.translate(None, b",")
    for _ in range(limits.max_depth):
        structure = structure.replace(b'""', b"").replace(b"[]", b"")
        if not structure:
            return True
    return False


_LARGE = 32_768  # from here, one vectorised pass beats the rounds of `bytes.replace` (111 kB: 70 us against 160)
_BRACKETS = np.zeros(256, dtype=np.int8)
_BRACKETS[[ord("["), ord("{")]] = 1
_BRACKETS[[ord("]"), ord("}")]] = -1


def _large_body_holds(body: bytes, limits: JsonLimits) -> bool:
    """`limits_hold` for a large body, in numpy: the same bound on entries, and the depth read off directly. With
    no backslash, quotes pair up, so a bracket after an odd number of quotes is inside a string and counts for
    nothing; the running sum of the others is the depth at each point of the text."""
    kept = np.frombuffer(body.translate(None, _NOT_STRUCTURE), dtype=np.uint8)
    if int(np.count_nonzero(kept == ord(","))) + int(np.count_nonzero((kept == ord("[")) | (kept == ord("{")))) \
            > limits.max_bundle_entries:
        return False
    outside = (np.cumsum(kept == ord('"'), dtype=np.int32) & 1) == 0
    depth = np.cumsum(_BRACKETS[kept] * outside, dtype=np.int32)
    return bool(depth.size == 0 or int(depth.max()) <= limits.max_depth)


def check_json_limits(data: Any, limits: JsonLimits, what: str = "request body", body: bytes | None = None) -> None:
    """Refuse nesting deeper than `max_depth` (400) and more Bundle entries in all than `max_bundle_entries` (413).

    With `body`, the JSON text `data` was parsed from, a body `limits_hold` clears is not walked.

    Every request pays for this walk, so it goes level by level, handing each level's children on with one C-level
    list extension instead of a (value, depth) tuple per child, and tests exact types: `data` is what orjson
    parsed, plain dicts and lists. About a fifth of the cost of a stack walk. The depth is checked once per level
    and only past the limit (where any container is an error), not once per container; a dict is asked for its
    resourceType only when it has an `entry`, which few but Bundles have.
    """
    if body is not None and limits_hold(body, limits):
        return
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
