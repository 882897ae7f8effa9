import pytest

from cds.errors import InvalidResource
from cds.resources import checked

LEVEL_ORDER = {
    "resourceType": "ServiceRequest",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": "Patient/pat-1"},
    "code": {"coding": [{"system": "http://loinc.org", "code": "11253-2"}]},
}


def test_a_valid_resource_comes_back_as_plain_json() -> None:
    assert checked(LEVEL_ORDER) == LEVEL_ORDER


def test_a_missing_required_element_is_refused() -> None:
    without_subject = {k: v for k, v in LEVEL_ORDER.items() if k != "subject"}
    with pytest.raises(InvalidResource, match="subject"):
        checked(without_subject)


def test_a_wrongly_typed_element_is_refused() -> None:
    with pytest.raises(InvalidResource, match="ServiceRequest is not valid R4B"):
        checked({**LEVEL_ORDER, "code": "11253-2"})


@pytest.mark.parametrize("kind", ["MedicationOrder", "NotAResource", None])
def test_an_unknown_resource_type_is_refused(kind: object) -> None:
    with pytest.raises(InvalidResource, match="not an R4B resource type"):
        checked({**LEVEL_ORDER, "resourceType": kind})
