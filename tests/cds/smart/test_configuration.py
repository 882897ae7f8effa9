"""The scopes the app asks for, and what a granted scope lets it read."""

import pytest

from cds.smart.configuration import SmartConfiguration, read_types

ALL = frozenset(
    {"Patient", "Observation", "MedicationRequest", "MedicationStatement", "Condition", "Medication"}
)


def configuration(*capabilities: str) -> SmartConfiguration:
    return SmartConfiguration("https://a/authorize", "https://a/token", frozenset(capabilities), None)


def test_smart_2_scopes_when_the_server_advertises_permission_v2() -> None:
    assert configuration("launch-ehr", "permission-v2").scope == (
        "launch patient/Patient.rs patient/Observation.rs patient/MedicationRequest.rs"
        " patient/MedicationStatement.rs patient/Condition.rs patient/Medication.rs"
    )


@pytest.mark.parametrize("capabilities", [("permission-v1",), ("launch-ehr",), ()])
def test_smart_1_scopes_otherwise(capabilities: tuple[str, ...]) -> None:
    assert configuration(*capabilities).scope == (
        "launch patient/Patient.read patient/Observation.read patient/MedicationRequest.read"
        " patient/MedicationStatement.read patient/Condition.read patient/Medication.read"
    )


@pytest.mark.parametrize(
    ("scope", "types"),
    [
        ("launch patient/Observation.rs patient/Condition.read", {"Observation", "Condition"}),
        ("patient/*.read", ALL),
        ("user/*.cruds", ALL),
        ("patient/Observation.s", set()),  # search alone is not read
        ("patient/Observation.c patient/Condition.write", set()),
        ("patient/Observation.rs?category=laboratory", {"Observation"}),
        ("patient/Patient.rs patient/Immunization.read", {"Patient"}),  # Immunization: not asked for
        ("openid fhirUser launch", set()),
        ("", set()),
    ],
)
def test_what_a_granted_scope_reads(scope: str, types: set[str]) -> None:
    assert read_types(scope) == types
