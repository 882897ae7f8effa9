"""The benchmark runs, and what it measures is real work: its generated records are realistic and give the
cards a clinician would see (no timing is asserted here)."""

import asyncio

import orjson
import pytest

from bench.evaluation import fallback, main, measure, resources
from bench.records import PATIENT, order_select, patient_view
from cards.drugs import DrugIdentifier
from cards.interactions import TOPICS, InteractionFamily
from cards.knowledge import load
from cds.clock import fixed
from cds.evaluate import Evaluator
from cds.main import services
from cds.record import RecordBuilder
from cds.settings import Settings
from tests.clock import now


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator(services(), Settings(database_url="sqlite://"), http=None, clock=fixed(now()))


def test_generated_records_have_the_size_asked_for() -> None:
    request = patient_view(1000)
    assert 990 <= resources(request) <= 1010
    kinds = {e["resource"]["resourceType"] for v in request["prefetch"].values() for e in v.get("entry", [])}
    assert kinds == {"MedicationRequest", "Observation", "Condition", "Immunization", "AllergyIntolerance"}


def topics(evaluator: Evaluator, request: dict[str, object]) -> set[str]:
    response = asyncio.run(evaluator.evaluate(f"tacrolimus-{request['hook']}", request))
    return {c.source.topic.code for c in response.cards if c.source.topic}


def test_the_benchmark_patient_gets_real_cards(evaluator: Evaluator) -> None:
    # a kidney recipient on tacrolimus with clarithromycin and fluconazole, levels and creatinine on record;
    # on patient-view its long-standing combinations are found and, established, not shown (issue 14)
    request = patient_view(100)
    assert "trough-target" in topics(evaluator, request)
    found = interaction_findings(request)
    assert "interaction-raises-level" in found
    assert "interaction-raises-level" in topics(evaluator, order_select(100))


def interaction_findings(request: dict[str, object]) -> set[str]:
    """The interaction family's findings on the request's record, shown or not."""
    knowledge = load()
    family = InteractionFamily(knowledge, DrugIdentifier(knowledge))
    builder = RecordBuilder(hook="patient-view", now=now(), patient_id=PATIENT)
    prefetch = request["prefetch"]
    assert isinstance(prefetch, dict)
    for value in prefetch.values():
        builder.add(
            [e["resource"] for e in value.get("entry", [])] if "entry" in value else [value], where="t"
        )
    return {TOPICS[f.entry.effect] for f in family.findings(builder.build())}


def test_measure_times_both_sides(evaluator: Evaluator, capsys: pytest.CaptureFixture[str]) -> None:
    for hook, make in (("patient-view", patient_view), ("order-select", order_select)):
        load, evaluate = measure(evaluator, hook, orjson.dumps(make(10)), rounds=1, seconds=0.01)
        assert load > 0
        assert evaluate > load
    main(["--sizes", "10", "--rounds", "1", "--seconds", "0.01", "--delays", "0.001", "0.002"])
    out = capsys.readouterr().out
    assert "patient-view" in out
    assert "order-select" in out
    assert "FHIR fallback, no prefetch: 7 requests answered after 1 to 2 ms each" in out


def test_the_fallback_benchmark_fetches_every_prefetch_key() -> None:
    settings = Settings(database_url="sqlite://", fhir_deadline=10.0, fhir_request_timeout=10.0)
    made, took = fallback(lambda http: Evaluator(services(), settings, http, clock=fixed(now())), [0.001])
    assert made == 7  # patient, medication requests and statements, conditions, observations, ...
    assert took > 0
