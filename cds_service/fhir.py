"""Lenient readers over raw FHIR JSON (DSTU2, STU3, R4, and the odd R5 shape).

Incoming resources stay plain dicts: validating each with fhir.resources costs more than the whole rule pass, and
real clients send resources a strict parser would reject (the sandbox's `category` object, a Bundle without `type`).
These helpers read only what the rules need and tolerate everything else.
"""

from typing import Any

import orjson

Resource = dict[str, Any]

MEDICATION_ORDER_TYPES = frozenset({"MedicationRequest", "MedicationOrder"})


def listed(value: Any) -> list[Any]:
    """A JSON array as a list; anything else (absent, null, an object or a number where an array belongs) as []."""
    return value if isinstance(value, list) else []


def one_or_many(value: Any) -> list[Any]:
    """An element that is a single object in an older FHIR version and an array in R4 (MedicationStatement.dosage
    in DSTU2, Observation.interpretation in STU3), always as a list; absent or null as []."""
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, dict) else []


def dosages(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """How a medicine is taken: an order's `dosageInstruction`, a MedicationStatement's `dosage` (one object in
    DSTU2, an array later). A statement's dose is as much the patient's dose as an order's."""
    if resource.get("resourceType") == "MedicationStatement":
        return [d for d in one_or_many(resource.get("dosage")) if isinstance(d, dict)]
    return [d for d in listed(resource.get("dosageInstruction")) if isinstance(d, dict)]


def bundle_resources(value: Any) -> list[Resource]:
    """Resources of a Bundle, of a legacy plain array of resources, or a lone resource; junk is skipped."""
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        return [
            entry["resource"] for entry in listed(value.get("entry"))
            if isinstance(entry, dict) and _is_resource(entry.get("resource"))
        ]
    if isinstance(value, list):
        return [item for item in value if _is_resource(item)]
    if isinstance(value, dict) and "resourceType" in value:
        return [value] if _is_resource(value) else []
    return []


def _is_resource(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("resourceType"), str)


def next_link(bundle: Any) -> str | None:
    if not isinstance(bundle, dict):
        return None
    for link in listed(bundle.get("link")):
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(url := link.get("url"), str):
            return url
    return None


def reference_id(reference: Any, resource_type: str) -> str | None:
    """The id in a Reference to `resource_type`: "Patient/1", "https://x/fhir/Patient/1/_history/2" -> "1"."""
    if not isinstance(reference, dict):
        return None
    ref = reference.get("reference")
    if not isinstance(ref, str):
        return None
    parts = ref.split("/")
    for index in range(len(parts) - 1):
        if parts[index] == resource_type:
            return parts[index + 1]
    return None


def subject_patient_id(resource: Resource) -> str | None:
    """The patient a clinical resource is about: `subject` (STU3+), or `patient` (DSTU2 MedicationOrder)."""
    return reference_id(resource.get("subject"), "Patient") or reference_id(resource.get("patient"), "Patient")


def belongs_to(resource: Resource, patient_id: str) -> bool:
    """False only when the resource names another patient; draft orders often name none."""
    subject = resource.get("subject")
    if isinstance(subject, dict) and subject.get("reference") == "Patient/" + patient_id:
        return True  # the usual shape, without splitting the reference
    found = subject_patient_id(resource)
    return found is None or found == patient_id


_CODING_STRINGS = ("system", "version", "code", "display")


def codings(concept: Any) -> list[dict[str, Any]]:
    """A concept's codings, each with system, version, code and display dropped unless they are strings.

    Well-formed codings are returned as they are, not copied (this runs dozens of times per request): read them,
    never change them.
    """
    if not isinstance(concept, dict):
        return []
    found = concept.get("coding")
    if not isinstance(found, list):
        return []
    # The test `_string_fields_only` makes, inlined: a function call per coding was most of the cost.
    return [
        c if (isinstance(c.get("system", ""), str) and isinstance(c.get("code", ""), str)
              and isinstance(c.get("display", ""), str) and isinstance(c.get("version", ""), str))
        else _string_fields_only(c)
        for c in found if isinstance(c, dict)
    ]


def _string_fields_only(coding: dict[str, Any]) -> dict[str, Any]:
    for key in _CODING_STRINGS:
        if key in coding and not isinstance(coding[key], str):
            return {k: v for k, v in coding.items() if k not in _CODING_STRINGS or isinstance(v, str)}
    return coding


def raw_codings(concept: Any) -> list[dict[str, Any]]:
    """A concept's codings as sent, objects only: for readers that type-check each field they read themselves,
    without the cleaned copies `codings` may make."""
    if not isinstance(concept, dict):
        return []
    found = concept.get("coding")
    if not isinstance(found, list):
        return []
    return [c for c in found if isinstance(c, dict)]


def concept_text(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    text = concept.get("text")
    return text if isinstance(text, str) and text.strip() else None


def concept_words(concept: Any) -> list[str]:
    """What a CodeableConcept says in words: its text, then its codings' displays (codes are not words)."""
    words = [text] if (text := concept_text(concept)) else []
    for coding in raw_codings(concept):
        display = coding.get("display")
        if isinstance(display, str) and display:
            words.append(display)
    return words


def has_code_in(concept: Any, codes: set[tuple[str, str]] | frozenset[tuple[str, str]]) -> bool:
    """Whether a coding of `concept` is one of `codes` ((system, code) pairs): what
    `any((c.get("system"), c.get("code")) in codes for c in codings(concept))` says, without the cleaned copies."""
    if not isinstance(concept, dict) or not isinstance(found := concept.get("coding"), list):
        return False
    for coding in found:  # raw_codings, inlined: this runs for every result of the record
        if isinstance(coding, dict):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str) and (system, code) in codes:
                return True
    return False


def has_coding(concept: Any, system: str, code: str) -> bool:
    # Equality with two strings already ignores non-string values, so the raw codings do (no cleaned copies).
    if not isinstance(concept, dict):
        return False
    return any(
        isinstance(c, dict) and c.get("system") == system and c.get("code") == code
        for c in listed(concept.get("coding"))
    )


def first_code(concept: Any, system: str) -> str | None:
    for c in codings(concept):
        if c.get("system") == system and isinstance(code := c.get("code"), str):
            return code
    return None


def local_reference(resource: Resource) -> str | None:
    """ "MedicationRequest/123" for a resource with an id."""
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        return f"{resource['resourceType']}/{rid}"
    return None


def copy_resource(resource: Resource) -> Resource:
    """A deep copy of parsed JSON. A round trip through orjson is several times faster than `copy.deepcopy`, which
    pays for generality (cycles, custom types) that JSON never has."""
    copied: Resource = orjson.loads(orjson.dumps(resource))
    return copied


# Code systems some feeds name by their HL7 OID in `Coding.system` where FHIR asks for the URI ("If a URI is defined
# here, it SHALL be used in preference to any other identifying mechanisms": FHIR terminologies-systems, which lists
# both). Read as the URI, so a LOINC level or a SNOMED CT diagnosis coded by OID is not missed.
SYSTEM_BY_OID = {
    "urn:oid:2.16.840.1.113883.6.1": "http://loinc.org",
    "urn:oid:2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "urn:oid:2.16.840.1.113883.6.88": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "urn:oid:2.16.840.1.113883.6.8": "http://unitsofmeasure.org",
}
_OID_MARK = b"urn:oid:2.16.840.1.113883.6."


def with_uri_systems(data: Any, raw: bytes | None = None) -> Any:
    """`data` with every `system` that names one of these code systems by OID set to its URI, in place. With `raw`,
    the JSON text `data` was parsed from, a body that holds no such OID (nearly every one) is not walked. The walk
    is iterative: any depth the shape limits allow."""
    if raw is not None and _OID_MARK not in raw:
        return data
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            system = value.get("system")
            if isinstance(system, str) and system in SYSTEM_BY_OID:
                value["system"] = SYSTEM_BY_OID[system]
            stack.extend(v for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend(v for v in value if isinstance(v, dict | list))
    return data
