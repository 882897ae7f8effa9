"""Property tests: any JSON in any prefetch key or draft order is read without an exception."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cds.record import RecordBuilder
from tests.conftest import NOW

KINDS = [
    "MedicationRequest",
    "MedicationOrder",
    "MedicationStatement",
    "Observation",
    "Condition",
    "Immunization",
    "AllergyIntolerance",
    "ServiceRequest",
    "Patient",
    "Medication",
    "Bundle",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "id",
    "status",
    "medicationCodeableConcept",
    "medicationReference",
    "code",
    "valueQuantity",
    "dosageInstruction",
    "effectiveDateTime",
    "clinicalStatus",
    "vaccineCode",
    "birthDate",
    "contained",
    "component",
    "category",
]
resources = st.builds(
    lambda kind, fields: {"resourceType": kind, **fields},
    st.sampled_from(KINDS),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(resources | json_values, max_size=8), st.lists(resources, max_size=3))
def test_any_resources_are_read_without_an_exception(prefetched: list[Any], drafts: list[Any]) -> None:
    builder = RecordBuilder(hook="order-sign", now=NOW, patient_id="p", selections=["MedicationRequest/x"])
    builder.add(drafts, where="draftOrders", draft=True)
    builder.add(prefetched, where="prefetch")
    record = builder.build()
    assert len(record.medications) + len(record.skipped) <= len(prefetched) + len(drafts)
