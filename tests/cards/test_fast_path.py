"""Issue 22: the fast path (the services' relevance test, cards.relevance.TacrolimusScan, called before the
record is built) and the full evaluation agree on every request.

Shown here over generated records (hypothesis), every bundled example, every burden panel call, and the
requests that must never be short-circuited: tacrolimus named only by a brand, only by a code, only in a
contained or referenced Medication, in a DSTU2 MedicationOrder, in upper case. tests/conftest.py checks the
same on every call of the suite that the fast path answers."""

import asyncio
import copy
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import panel
from bench.records import hospital_mix, patient_view
from cards import load_examples, load_services
from cds.clock import fixed
from cds.errors import CDSError
from cds.evaluate import Evaluator
from cds.models import Card
from cds.models.request import PatientViewContext
from cds.service import Service
from cds.settings import Settings
from tests import clock
from tests.builders import PATIENT_ID, RXNORM, bundle, full_prefetch, hook_request, medication_request

pytestmark = pytest.mark.dates
ATC = "http://www.whocc.no/atc"
LOINC = "http://loinc.org"
SERVICES = load_services()
CLARITHROMYCIN = medication_request("clari-1", "Clarithromycin 500 MG Oral Tablet", code="205866")


class Watched(Evaluator):
    """An evaluator that remembers whether the fast path answered its last call."""

    fast = False

    def _answer(
        self,
        service: Service,
        context: PatientViewContext,
        drafts: list[Any],
        data: Any,
        medications: list[dict[str, Any]],
        index: Any,
        now: datetime,
        hook_instance: str,
    ) -> list[Card]:
        self.fast = self._nothing_to_say(service, data, medications, index, now, context.patientId)
        return super()._answer(service, context, drafts, data, medications, index, now, hook_instance)


def evaluators(at: datetime) -> tuple[Watched, Evaluator]:
    """(with the fast path, without it): the same services, one with no relevance test."""
    config = Settings(auth="off", database_url="sqlite://")
    fast = Watched(SERVICES, config, http=None, clock=fixed(at))
    full = Evaluator([replace(s, relevant=None) for s in SERVICES], config, http=None, clock=fixed(at))
    return fast, full


def _without_uuids(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_uuids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [_without_uuids(v) for v in value]
    return value


def answer(evaluator: Evaluator, request: dict[str, Any]) -> object:
    """The response without its random uuids, or the error's status and message."""
    try:
        response = asyncio.run(evaluator.evaluate(f"tacrolimus-{request['hook']}", copy.deepcopy(request)))
    except CDSError as error:
        return ("refused", error.status_code, error.message)
    return _without_uuids(response.to_json())


def both(request: dict[str, Any], at: datetime | None = None) -> tuple[object, bool]:
    """The answer, asserted the same on both paths, and whether the fast path gave it."""
    fast, full = evaluators(at or clock.now())
    quick = answer(fast, request)
    assert quick == answer(full, request)
    return quick, fast.fast


def topics(response: object) -> list[str]:
    assert isinstance(response, dict), response
    return [card["source"]["topic"]["code"] for card in response["cards"]]


# --- requests that must not be short-circuited ------------------------------------------------------


def _concept_only(rid: str, concept: dict[str, Any], kind: str = "MedicationRequest") -> dict[str, Any]:
    resource = medication_request(rid, "x", resource_type=kind)
    resource["medicationCodeableConcept"] = concept
    return resource


def _contained() -> dict[str, Any]:
    resource = medication_request("tac-c", "x")
    del resource["medicationCodeableConcept"]
    resource["medicationReference"] = {"reference": "#m1"}
    resource["contained"] = [
        {"resourceType": "Medication", "id": "m1", "code": {"text": "Tacrolimus 1 mg capsule"}}
    ]
    return resource


def _referenced(target: str) -> dict[str, Any]:
    resource = medication_request("tac-r", "x")
    del resource["medicationCodeableConcept"]
    resource["medicationReference"] = {"reference": target}
    return resource


MEDICATION = {
    "resourceType": "Medication",
    "id": "m2",
    "code": {"coding": [{"system": RXNORM, "code": "42316"}]},
}
# Tacrolimus as EHRs send it, each the only tacrolimus of the request (tacrolimus.json and its sources:
# ingredient 42316, ATC L04AD02, the brands of the monograph and the BNF list).
TACROLIMUS_ONLY_AS = {
    "Prograf in text": _concept_only("t", {"text": "Prograf 1mg capsules"}),
    "Advagraf in text": _concept_only("t", {"text": "Advagraf 3mg prolonged-release capsules"}),
    "Envarsus in text": _concept_only("t", {"text": "Envarsus 1mg prolonged-release tablets"}),
    "Adoport in text": _concept_only("t", {"text": "Adoport 1mg capsules"}),
    "Modigraf in text": _concept_only("t", {"text": "Modigraf 1mg granules for oral suspension"}),
    "upper case": _concept_only("t", {"text": "TACROLIMUS 1 MG ORAL CAPSULE"}),
    "a brand in a display only": _concept_only(
        "t", {"coding": [{"system": "https://dmd.nhs.uk", "code": "", "display": "PROGRAF 5mg capsules"}]}
    ),
    "a dm+d coding's display": _concept_only(
        "t", {"coding": [{"system": "https://dmd.nhs.uk", "code": "", "display": "Tacrolimus 1mg capsules"}]}
    ),
    "the RxNorm ingredient code only": _concept_only("t", {"coding": [{"system": RXNORM, "code": "42316"}]}),
    "an integer RxNorm code": _concept_only("t", {"coding": [{"system": RXNORM, "code": 42316}]}),
    "the ATC code in lower case": _concept_only("t", {"coding": [{"system": ATC, "code": "l04ad02"}]}),
    "a contained Medication": _contained(),
    "a DSTU2 MedicationOrder": _concept_only(
        "t", {"text": "Tacrolimus 1 MG Oral Capsule"}, "MedicationOrder"
    ),
}


@pytest.mark.parametrize("tacrolimus", TACROLIMUS_ONLY_AS.values(), ids=TACROLIMUS_ONLY_AS.keys())
def test_tacrolimus_known_only_this_way_is_evaluated_in_full(tacrolimus: dict[str, Any]) -> None:
    request = hook_request(prefetch=full_prefetch([tacrolimus, CLARITHROMYCIN]))
    response, fast = both(request)
    assert not fast
    assert "interaction-raises-level" in topics(response)  # clarithromycin raises tacrolimus levels


def test_a_referenced_medication_in_prefetch_is_evaluated_in_full() -> None:
    prefetch = full_prefetch([_referenced("Medication/m2"), CLARITHROMYCIN])
    prefetch["medicationRequests"]["entry"].append({"resource": MEDICATION})
    response, fast = both(hook_request(prefetch=prefetch))
    assert not fast
    assert "interaction-raises-level" in topics(response)


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_a_draft_referencing_a_medication_in_draft_orders_is_evaluated_in_full(hook: str) -> None:
    draft = {**_referenced("Medication/m2"), "status": "draft", "intent": "order"}
    request = hook_request(hook, prefetch=full_prefetch([CLARITHROMYCIN]), drafts=[draft, MEDICATION])
    request["context"]["selections"] = ["MedicationRequest/tac-r"]
    response, fast = both(request)
    assert not fast
    assert "interaction-raises-level" in topics(response)


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_a_tacrolimus_draft_for_a_patient_not_on_it_is_evaluated_in_full(hook: str) -> None:
    draft = _concept_only("t", {"text": "Advagraf 1mg prolonged-release capsules"})
    draft.update(status="draft", intent="order")
    response, fast = both(hook_request(hook, prefetch=full_prefetch([CLARITHROMYCIN]), drafts=[draft]))
    assert not fast
    assert "interaction-raises-level" in topics(response)


# --- what the fast path answers, and where it must answer as the full path does -----------------------


def test_a_patient_not_on_tacrolimus_is_answered_without_a_record() -> None:
    response, fast = both(hook_request(prefetch=full_prefetch([CLARITHROMYCIN])))
    assert fast
    assert response == {"cards": []}


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_an_order_that_is_not_tacrolimus_is_answered_without_a_record(hook: str) -> None:
    draft = {**medication_request("d1", "Amlodipine 5 MG Oral Tablet"), "status": "draft"}
    response, fast = both(hook_request(hook, prefetch=full_prefetch([CLARITHROMYCIN]), drafts=[draft]))
    assert fast
    assert response == {"cards": []}


def test_a_medication_that_cannot_be_retrieved_gets_the_data_incomplete_card() -> None:
    # it may be tacrolimus: silence must not read as "no problem"
    response, fast = both(hook_request(prefetch=full_prefetch([_referenced("Medication/elsewhere")])))
    assert not fast
    assert topics(response) == ["data-incomplete"]


def test_a_key_sent_only_in_part_gets_the_data_incomplete_card() -> None:
    prefetch = full_prefetch([CLARITHROMYCIN])
    prefetch["medicationStatements"] = bundle(
        [], next_url="https://ehr.example.org/fhir/MedicationStatement?p=2"
    )
    response, fast = both(hook_request(prefetch=prefetch))
    assert not fast
    assert topics(response) == ["data-incomplete"]


def test_missing_medication_orders_are_a_412_on_both_paths() -> None:
    prefetch = full_prefetch([CLARITHROMYCIN])
    del prefetch["medicationRequests"]
    response, _ = both(hook_request(prefetch=prefetch))
    assert isinstance(response, tuple)
    assert response[:2] == ("refused", 412)


def test_other_keys_missing_give_no_card_for_a_patient_not_on_tacrolimus() -> None:
    prefetch = full_prefetch([CLARITHROMYCIN])
    del prefetch["observations"], prefetch["allergies"]
    response, fast = both(hook_request(prefetch=prefetch))
    assert fast
    assert response == {"cards": []}


def test_stopped_tacrolimus_is_evaluated_in_full_and_gives_no_card() -> None:
    stopped = medication_request("t", "Tacrolimus 1 MG Oral Capsule", status="stopped")
    response, fast = both(hook_request(prefetch=full_prefetch([stopped, CLARITHROMYCIN])))
    assert not fast  # the scan sees its name; the full path finds it not current
    assert response == {"cards": []}


# --- every example, panel call and benchmark record ---------------------------------------------------


def test_every_bundled_example_agrees() -> None:
    examples = load_examples(SERVICES)
    assert examples
    for example in examples:
        both(example.request, example.as_of)


def test_every_panel_call_agrees() -> None:
    calls = [call.request for _, patient in panel.load(panel.PANEL_DIR) for call in patient.calls]
    assert len(calls) == 41
    for request in calls:  # every panel patient is on or starting tacrolimus: none is short-circuited
        assert not both(request, panel.NOW)[1]


def test_the_benchmark_records_agree() -> None:
    for request in [patient_view(100), patient_view(100, tacrolimus=False), *hospital_mix(100)]:
        both(request)
    assert both(patient_view(100, tacrolimus=False))[1]


# --- generated records ----------------------------------------------------------------------------------

CONCEPTS = [
    {"text": "Tacrolimus 1 MG Oral Capsule [Prograf]", "coding": [{"system": RXNORM, "code": "108513"}]},
    {"text": "Advagraf 1mg prolonged-release capsules"},
    {"text": "Protopic 0.1% ointment"},
    {"coding": [{"system": RXNORM, "code": "42316"}]},
    {"coding": [{"system": ATC, "code": "L04AD02"}]},
    {"text": "Clarithromycin 500 MG Oral Tablet", "coding": [{"system": RXNORM, "code": "205866"}]},
    {"text": "Fluconazole 100 MG Oral Tablet"},
    {"text": "Amlodipine 5 MG Oral Tablet"},
    {"text": "Prednisone 5 MG Oral Tablet"},
    {"text": "Measles, mumps and rubella vaccine"},
    {"coding": [{"system": "urn:local", "code": "X1"}]},
    {},
    "Rifampicin 300mg capsules",
]
MEDICATIONS = [
    {"resourceType": "Medication", "id": f"m{i}", "code": concept}
    for i, concept in enumerate(CONCEPTS)
    if isinstance(concept, dict)
]


@st.composite
def medication_use(draw: st.DrawFn, draft: bool = False) -> dict[str, Any]:
    kind = draw(st.sampled_from(["MedicationRequest", "MedicationOrder", "MedicationStatement"]))
    status = "draft" if draft else draw(st.sampled_from(["active", "active", "stopped", "completed", None]))
    resource: dict[str, Any] = {"resourceType": kind, "id": f"med-{draw(st.integers(0, 30))}"}
    if status:
        resource["status"] = status
    how = draw(st.sampled_from(["concept", "concept", "contained", "reference", "missing", "none"]))
    concept = draw(st.sampled_from(CONCEPTS))
    if how == "concept":
        resource["medicationCodeableConcept"] = concept
    elif how == "contained" and isinstance(concept, dict):
        resource["medicationReference"] = {"reference": "#c"}
        resource["contained"] = [{"resourceType": "Medication", "id": "c", "code": concept}]
    elif how == "reference":
        resource["medicationReference"] = {"reference": f"Medication/m{draw(st.integers(0, len(CONCEPTS)))}"}
    elif how == "missing":
        resource["medicationReference"] = {"reference": "Medication/not-sent", "display": concept and "x"}
    if draw(st.booleans()):
        route = draw(st.sampled_from(["Oral", "Topical", "Intravenous"]))
        resource["dosageInstruction"] = [{"route": {"text": route}, "text": "1 mg twice daily"}]
    return resource


@st.composite
def others(draw: st.DrawFn) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 4))):
        code, value = draw(
            st.sampled_from([("11253-2", 4.0), ("11253-2", 25.0), ("2160-0", 3.0), ("2823-3", 6.5)])
        )
        found.append(
            {
                "resourceType": "Observation",
                "id": f"obs-{i}",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": code}]},
                "effectiveDateTime": clock.ago_iso(draw(st.integers(0, 400))),
                "valueQuantity": {"value": value, "unit": "ng/mL" if code == "11253-2" else "mg/dL"},
            }
        )
    if draw(st.booleans()):
        found.append({"resourceType": "Condition", "id": "c1", "code": {"text": "Kidney transplant"}})
    if draw(st.booleans()):
        found.append({"resourceType": "Observation", "id": "no-code"})  # skipped: it has no code
    return found


KEY_STATES = st.sampled_from(["sent", "sent", "sent", "absent", "outcome", "paged"])


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    hook = draw(st.sampled_from(["patient-view", "order-select", "order-sign"]))
    orders = draw(st.lists(medication_use(), max_size=5))
    orders += draw(st.lists(st.sampled_from(MEDICATIONS), max_size=3))
    prefetch = full_prefetch(orders)
    prefetch["observations"] = bundle(draw(others()))
    prefetch["patient"]["gender"] = draw(st.sampled_from(["female", "male"]))
    for key in list(prefetch):
        state = draw(KEY_STATES)
        if state == "absent":
            del prefetch[key]
        elif state == "outcome":
            prefetch[key] = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "no"}]}
        elif state == "paged" and prefetch[key]["resourceType"] == "Bundle":
            prefetch[key]["link"] = [{"relation": "next", "url": "https://ehr.example.org/fhir/x?page=2"}]
    drafts: list[dict[str, Any]] = []
    if hook != "patient-view":
        drafts = draw(st.lists(medication_use(draft=True), min_size=1, max_size=3))
        drafts = list({d["id"]: d for d in drafts}.values())
        drafts += draw(st.lists(st.sampled_from(MEDICATIONS), max_size=2))
    request = hook_request(hook, prefetch=prefetch, drafts=drafts)
    if hook == "order-select":
        request["context"]["selections"] = [f"{drafts[0]['resourceType']}/{drafts[0]['id']}"]
    return request


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_generated_requests_get_the_same_answer_on_both_paths(request: dict[str, Any]) -> None:
    assert request["context"]["patientId"] == PATIENT_ID
    both(request)


def test_the_scan_is_never_fooled_by_case_or_a_code_in_any_form() -> None:
    scan = SERVICES[0].relevant
    assert scan is not None
    for concept in [
        "TaCrOlImUs",
        {"code": 42316},
        {"code": " 42316 "},
        {"code": "D11AH01"},
        "fk-506",
        "FK506",
    ]:
        assert scan([(concept, None, None)])
    assert not scan([({"text": "Clarithromycin 500 MG Oral Tablet"}, None, None)])
