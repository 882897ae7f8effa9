"""The benchmark runs and its generated records are realistic (no timing is asserted here)."""

import pytest

from bench.evaluation import main, measure
from bench.records import patient_view


def test_generated_records_have_the_size_asked_for() -> None:
    request = patient_view(1000)
    entries = sum(
        len(v.get("entry", [])) for v in request["prefetch"].values() if v.get("resourceType") == "Bundle"
    )
    assert 990 <= entries <= 1010
    kinds = {e["resource"]["resourceType"] for v in request["prefetch"].values() for e in v.get("entry", [])}
    assert kinds == {"MedicationRequest", "Observation", "Condition", "Immunization", "AllergyIntolerance"}


def test_measure_times_both_sides(capsys: pytest.CaptureFixture[str]) -> None:
    resources, load, evaluate = measure(10, rounds=1, seconds=0.01)
    assert resources >= 10
    assert load > 0
    assert evaluate > 0
    main(["--sizes", "10", "--rounds", "1", "--seconds", "0.01"])
    assert "ratio" in capsys.readouterr().out
