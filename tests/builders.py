"""Builders of realistic FHIR resources and hook requests for tests and the benchmark."""

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

EXAMPLES = Path(__file__).parent.parent / "cards" / "examples"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
PATIENT_ID = "pat-1"
FHIR_BASE = "https://ehr.example.org/fhir"

Resource = dict[str, Any]


def example(name: str) -> Resource:
    data: Resource = orjson.loads((EXAMPLES / name).read_bytes())
    return data


def bundle(resources: Iterable[Resource], next_url: str | None = None) -> Resource:
    result: Resource = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_url:
        result["link"] = [{"relation": "next", "url": next_url}]
    return result


def medication_request(
    rid: str,
    text: str,
    *,
    status: str = "active",
    code: str | None = None,
    resource_type: str = "MedicationRequest",
    **extra: Any,
) -> Resource:
    concept: Resource = {"text": text}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code, "display": text}]
    resource: Resource = {
        "resourceType": resource_type,
        "id": rid,
        "status": status,
        "medicationCodeableConcept": concept,
    }
    if resource_type == "MedicationOrder":
        resource["patient"] = {"reference": f"Patient/{PATIENT_ID}"}
    else:
        resource["subject"] = {"reference": f"Patient/{PATIENT_ID}"}
    resource.update(extra)
    return resource


def tacrolimus(rid: str = "tac-1", **extra: Any) -> Resource:
    return medication_request(rid, "Tacrolimus 1 MG Oral Capsule [Prograf]", code="108513", **extra)


def observation(rid: str, code: str, value: float, unit: str, when: str) -> Resource:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit},
    }


def full_prefetch(medications: Iterable[Resource] = ()) -> Resource:
    """A prefetch with every key of the services, the medication orders given, the rest empty."""
    return {
        "patient": {
            "resourceType": "Patient",
            "id": PATIENT_ID,
            "gender": "female",
            "birthDate": "1980-02-29",
        },
        "medicationRequests": bundle(medications),
        "medicationStatements": bundle([]),
        "conditions": bundle([]),
        "observations": bundle([]),
        "immunizations": bundle([]),
        "allergies": bundle([]),
    }


def hook_request(
    hook: str = "patient-view",
    prefetch: Resource | None = None,
    drafts: Iterable[Resource] = (),
    selections: Iterable[str] | None = None,
    **extra: Any,
) -> Resource:
    context: Resource = {"userId": "Practitioner/dr-1", "patientId": PATIENT_ID}
    drafts = list(drafts)
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]}
    if hook == "order-select":
        context["selections"] = (
            list(selections) if selections is not None else [f"{d['resourceType']}/{d['id']}" for d in drafts]
        )
    request: Resource = {
        "hook": hook,
        "hookInstance": "c2b5b1a8-1b4e-4b0e-9f57-7d6b7f0f5e0a",
        "context": context,
    }
    if prefetch is not None:
        request["prefetch"] = copy.deepcopy(prefetch)
    request.update(extra)
    return request


def walk_empty(value: object, path: str = "") -> list[str]:
    """Every path in a response holding null or an empty value (CDS Hooks G-2), but top-level cards."""
    found: list[str] = []
    if value is None or (
        isinstance(value, str | list | dict) and not value and path not in ("cards", "services")
    ):
        found.append(path or "<root>")
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(walk_empty(item, f"{path}.{key}" if path else key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(walk_empty(item, f"{path}[{index}]"))
    return found


def of_topic(cards: Iterable[Any], *topics: str) -> list[Any]:
    """The cards (models or JSON) whose source.topic code is one of topics."""
    found = []
    for card in cards:
        code = card["source"]["topic"]["code"] if isinstance(card, dict) else card.source.topic.code
        if code in topics:
            found.append(card)
    return found
