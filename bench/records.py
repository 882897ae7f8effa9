"""Realistic generated patient records for the benchmark: medications, observations, conditions,
immunizations and allergies in the proportions of a transplant patient's chart."""

import random
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
PATIENT = "bench-patient"

MEDICATIONS = [
    ("108513", "Tacrolimus 1 MG Oral Capsule [Prograf]"),
    ("205866", "Clarithromycin 500 MG Oral Tablet [Biaxin]"),
    ("197698", "Fluconazole 100 MG Oral Tablet"),
    (None, "Mycophenolate mofetil 500 MG Oral Tablet"),
    (None, "Prednisone 5 MG Oral Tablet"),
    (None, "Amlodipine 5 MG Oral Tablet"),
    (None, "Omeprazole 20 MG Delayed Release Oral Capsule"),
    (None, "Valganciclovir 450 MG Oral Tablet"),
]
OBSERVATIONS = [
    ("11253-2", "ng/mL", 4.0, 18.0),
    ("2160-0", "mg/dL", 0.7, 2.5),
    ("2823-3", "mmol/L", 3.4, 6.0),
    ("2345-7", "mg/dL", 70.0, 220.0),
    ("29463-7", "kg", 50.0, 110.0),
    ("718-7", "g/dL", 8.0, 16.0),  # haemoglobin: a resource no card reads
]
CONDITIONS = [
    ("http://hl7.org/fhir/sid/icd-10-cm", "Z94.0", "Kidney transplant status"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "I10", "Essential hypertension"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "E11.9", "Type 2 diabetes mellitus without complications"),
]


def _day(rng: random.Random) -> str:
    return f"20{rng.randint(20, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"  # all in the past


# A patient not on tacrolimus: the other medications, no tacrolimus level, no transplant
OTHER_MEDICATIONS = MEDICATIONS[1:]
OTHER_OBSERVATIONS = OBSERVATIONS[1:]
OTHER_CONDITIONS = CONDITIONS[1:]


def medication(i: int, rng: random.Random, tacrolimus: bool = True) -> dict[str, Any]:
    if tacrolimus:
        code, text = MEDICATIONS[0] if i == 0 else rng.choice(MEDICATIONS)
    else:
        code, text = rng.choice(OTHER_MEDICATIONS)
    concept: dict[str, Any] = {"text": text}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code, "display": text}]
    return {
        "resourceType": "MedicationRequest",
        "id": f"med-{i}",
        "status": rng.choice(["active", "active", "active", "stopped", "completed"]),
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "authoredOn": _day(rng),
        "medicationCodeableConcept": concept,
        "dosageInstruction": [
            {
                "text": "one twice daily",
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "route": {
                    "coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral"}]
                },
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg"}}],
            }
        ],
    }


def observation(i: int, rng: random.Random, tacrolimus: bool = True) -> dict[str, Any]:
    code, unit, low, high = rng.choice(OBSERVATIONS if tacrolimus else OTHER_OBSERVATIONS)
    return {
        "resourceType": "Observation",
        "id": f"obs-{i}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": f"{_day(rng)}T08:00:00Z",
        "valueQuantity": {"value": round(rng.uniform(low, high), 1), "unit": unit},
    }


def condition(i: int, rng: random.Random, tacrolimus: bool = True) -> dict[str, Any]:
    system, code, display = rng.choice(CONDITIONS if tacrolimus else OTHER_CONDITIONS)
    return {
        "resourceType": "Condition",
        "id": f"cond-{i}",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "onsetDateTime": _day(rng),
    }


def immunization(i: int, rng: random.Random, tacrolimus: bool = True) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "id": f"imm-{i}",
        "status": "completed",
        "vaccineCode": {
            "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": rng.choice(["140", "187", "03"])}]
        },
        "patient": {"reference": f"Patient/{PATIENT}"},
        "occurrenceDateTime": _day(rng),
    }


def allergy(i: int, rng: random.Random, tacrolimus: bool = True) -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "id": f"alg-{i}",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"text": rng.choice(["Penicillin", "Sulfonamide", "Erythromycin"])},
        "patient": {"reference": f"Patient/{PATIENT}"},
    }


# share of the record by prefetch key, and the maker of its resources
MIX = [
    ("medicationRequests", 0.2, medication),
    ("observations", 0.55, observation),
    ("conditions", 0.12, condition),
    ("immunizations", 0.08, immunization),
    ("allergies", 0.05, allergy),
]


def bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"https://ehr.example.org/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def patient_view(size: int, seed: int = 7, *, tacrolimus: bool = True) -> dict[str, Any]:
    """A patient-view request whose prefetch holds about `size` resources: a kidney recipient on
    tacrolimus, or with `tacrolimus=False` a patient of the same size who is not (no tacrolimus, no level,
    no transplant), as most charts opened in a hospital are."""
    rng = random.Random(seed)
    prefetch: dict[str, Any] = {
        "patient": {"resourceType": "Patient", "id": PATIENT, "gender": "female", "birthDate": "1975-04-02"},
        "medicationStatements": bundle([]),
    }
    for key, share, make in MIX:
        count = max(1, round(size * share))
        prefetch[key] = bundle([make(i, rng, tacrolimus) for i in range(count)])
    return {
        "hook": "patient-view",
        "hookInstance": "9b0f1c7e-9a55-4d1c-a7de-5b6f0a2a9c11",
        "context": {"userId": "Practitioner/bench", "patientId": PATIENT},
        "prefetch": prefetch,
    }


def order_select(size: int, seed: int = 7, *, tacrolimus: bool = True) -> dict[str, Any]:
    """An order-select request for clarithromycin, on the record of `patient_view(size)`."""
    request = patient_view(size, seed, tacrolimus=tacrolimus)
    draft = {
        "resourceType": "MedicationRequest",
        "id": "draft-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "medicationCodeableConcept": {
            "coding": [
                {"system": RXNORM, "code": "205866", "display": "Clarithromycin 500 MG Oral Tablet [Biaxin]"}
            ],
            "text": "Clarithromycin 500 MG Oral Tablet [Biaxin]",
        },
    }
    request["hook"] = "order-select"
    request["context"] = {
        **request["context"],
        "selections": ["MedicationRequest/draft-1"],
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]},
    }
    return request


MIX_CHARTS = 20  # chart opens in the hospital mix, one of them a patient on tacrolimus


def hospital_mix(size: int) -> list[dict[str, Any]]:
    """Patient-views as a hospital's EHR sends them: of 20 chart opens, 19 are of patients not on
    tacrolimus (each a different chart) and one is of a patient on it."""
    return [patient_view(size, seed=7)] + [
        patient_view(size, seed=100 + n, tacrolimus=False) for n in range(MIX_CHARTS - 1)
    ]
