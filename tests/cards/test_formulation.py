"""Recognising the tacrolimus product of an order, and the doses its strengths make up."""

from datetime import UTC, datetime
from typing import Any

import pytest

from cards.formulation import Formulations, OrderedDose, every, mg, orderable_range, strengths_text
from cards.knowledge import load
from cds.record import MedicationUse, RecordBuilder

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
DMD = "https://dmd.nhs.uk"
KNOWLEDGE = load()


@pytest.fixture
def formulations() -> Formulations:
    """Made in each test, not at import: an instance made once would keep its words' kinds (and what its
    constructor built) from before a mutant is applied, so a mutation test could not see the change."""
    return Formulations(KNOWLEDGE)


def medication(concept: dict[str, Any], **extra: Any) -> MedicationUse:
    builder = RecordBuilder(hook="order-select", now=datetime(2026, 12, 1, tzinfo=UTC), patient_id="p")
    builder.add(
        [
            {
                "resourceType": "MedicationRequest",
                "id": "m",
                "status": "draft",
                "medicationCodeableConcept": concept,
                **extra,
            }
        ],
        where="test",
        draft=True,
    )
    [found] = builder.build().medications
    return found


@pytest.mark.parametrize(
    ("concept", "kind"),
    [
        # by RxNorm product code alone (no text): the code's name decides (reference section 1b)
        ({"coding": [{"system": RXNORM, "code": "198377"}]}, "immediate-release"),
        ({"coding": [{"system": RXNORM, "code": "108513"}]}, "immediate-release"),
        ({"coding": [{"system": RXNORM, "code": "1431977"}]}, "advagraf"),  # Astagraf 0.5 mg
        ({"coding": [{"system": RXNORM, "code": "1431980"}]}, "advagraf"),  # 24 HR ER capsule
        ({"coding": [{"system": RXNORM, "code": "1664440"}]}, "envarsus"),  # Envarsus 4 mg
        ({"coding": [{"system": RXNORM, "code": "1664434"}]}, "envarsus"),  # 24 HR ER tablet
        ({"coding": [{"system": RXNORM, "code": "1738338"}]}, "intravenous"),  # 5 mg/mL injection
        # codes named only in the RxNorm product list (not tacrolimus.json's own codes)
        ({"coding": [{"system": RXNORM, "code": "1431985"}]}, "advagraf"),  # 24 HR ER 5 mg capsule
        ({"coding": [{"system": RXNORM, "code": "108514"}]}, "immediate-release"),  # Prograf 5 mg capsule
        # a coding no list names (a UK dm+d code): the text decides
        (
            {"text": "Prograf 1mg hard capsules", "coding": [{"system": DMD, "code": "317411000001104"}]},
            "immediate-release",
        ),
        # by name and brand (UK and US)
        ({"text": "Prograf 1mg hard capsules"}, "immediate-release"),
        ({"text": "Adoport 0.5mg capsules"}, "immediate-release"),
        ({"text": "Advagraf 3mg prolonged-release hard capsules"}, "advagraf"),
        ({"text": "Astagraf XL 5 mg"}, "advagraf"),
        ({"text": "Envarsus 0.75mg prolonged-release tablets"}, "envarsus"),
        ({"text": "tacrolimus 1 mg modified-release capsules"}, "advagraf"),
        ({"text": "tacrolimus extended release"}, "prolonged-release"),
        ({"text": "Modigraf 0.2mg granules for oral suspension sachets"}, "granules"),
        ({"text": "Prograf 5mg/1ml concentrate for solution for infusion ampoules"}, "intravenous"),
        ({"text": "Tacrolimus"}, "unknown"),
        ({"text": "tacrolimus 1 mg tablet"}, "unknown"),  # no immediate-release tacrolimus tablet exists
    ],
)
def test_kind(concept: dict[str, Any], kind: str, formulations: Formulations) -> None:
    assert formulations.kind(medication(concept)) == kind


def test_intravenous_by_route_code(formulations: Formulations) -> None:
    route = {"coding": [{"system": SNOMED, "code": "47625008"}]}
    found = medication({"text": "Tacrolimus"}, dosageInstruction=[{"route": route}])
    assert formulations.kind(found) == "intravenous"


@pytest.mark.parametrize(
    ("timing", "per_day"),
    [
        ({"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}, 2),
        ({"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}}, 2),
        ({"code": {"coding": [{"code": "BID"}]}}, 2),
        ({"code": {"coding": [{"code": "QD"}]}}, 1),
    ],
)
def test_daily_dose_from_the_timing(
    timing: dict[str, Any], per_day: float, formulations: Formulations
) -> None:
    dosage = [{"timing": timing, "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "mg"}}]}]
    found = medication({"text": "Prograf 1 mg capsules"}, dosageInstruction=dosage)
    dose = formulations.ordered(found, "immediate-release")
    assert dose is not None
    assert dose.daily_mg == 2 * per_day


@pytest.mark.parametrize(
    ("low", "high", "strengths", "per_day", "expected"),
    [
        (6.2, 9.3, [0.5, 1, 5], 2, (6.0, 10.0)),  # 3.1-4.65 each -> 3-5
        (7.0, 7.0, [0.5, 1, 5], 2, (7.0, 7.0)),  # 3.5 each: exact
        (9.8, 9.8, [0.75, 1, 4], 1, (9.75, 10.0)),  # Envarsus
        (2.1, 3.5, [], None, (2.1, 3.5)),  # an infusion: as computed
        (2.1, 3.5, [0.5, 1, 5], None, (2.1, 3.5)),  # by rate: as computed, whatever the strengths
        (2.1, 3.5, [], 2, (2.1, 3.5)),  # no strengths known: as computed
        (0.2, 1.0, [0.5], 2, (0.0, 1.0)),  # 0.1 each is below the smallest dose: from nothing
        (150, 250, [0.5, 1, 5], 1, (100.0, 250.0)),  # past the doses listed (100 mg each): as computed
    ],
)
def test_orderable_range(
    low: float, high: float, strengths: list[float], per_day: int | None, expected: tuple[float, float]
) -> None:
    assert orderable_range(low, high, strengths, per_day) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("per_day", "said"),
    [(1, "once daily"), (2, "every 12 hours"), (3, "every 8 hours"), (5, "5 times a day")],  # 24/5 = 4.8 h
)
def test_how_often(per_day: int, said: str) -> None:
    assert every(per_day) == said


def test_amounts_to_a_hundredth_of_a_mg() -> None:
    assert mg(1.234) == "1.23 mg"
    assert mg(5.0) == "5 mg"


@pytest.mark.parametrize(
    ("strengths", "said"), [([0.5, 1, 5], "0.5, 1 and 5 mg"), ([1, 5], "1 and 5 mg"), ([5], "5 mg"), ([], "")]
)
def test_the_strengths_a_product_comes_in(
    strengths: list[float], said: str, formulations: Formulations
) -> None:
    entry = formulations.entry("immediate-release")
    assert entry is not None
    assert strengths_text(entry.model_copy(update={"strengths_mg": strengths})) == said


def _ordered(
    formulations: Formulations,
    concept: dict[str, Any],
    kind: str,
    dose_and_rate: dict[str, Any],
    **timing: Any,
) -> OrderedDose | None:
    dosage: dict[str, Any] = {"doseAndRate": [dose_and_rate]}
    if timing:
        dosage["timing"] = {"repeat": {"period": 1, "periodUnit": "d", **timing}}
    return formulations.ordered(medication(concept, dosageInstruction=[dosage]), kind)


IV_TEXT = {"text": "Prograf 5mg/1ml concentrate for solution for infusion ampoules"}


@pytest.mark.parametrize(
    ("unit", "daily", "shown"),
    [
        ("mg/h", 1.2, "0.05 mg/h = 1.2 mg/day"),
        ("mg / h", 1.2, "0.05 mg / h = 1.2 mg/day"),  # spaces in the unit as written
        ("MG/HR", 1.2, "0.05 MG/HR = 1.2 mg/day"),
        ("mg/d", 0.05, "0.05 mg/d = 0.05 mg/day"),
    ],
)
def test_an_infusion_by_rate(unit: str, daily: float, shown: str, formulations: Formulations) -> None:
    found = _ordered(formulations, IV_TEXT, "intravenous", {"rateQuantity": {"value": 0.05, "unit": unit}})
    assert found is not None
    assert found.per_day is None
    assert found.daily_mg == pytest.approx(daily)
    assert found.shown == shown


@pytest.mark.parametrize(
    ("per_day", "daily", "shown"),
    [
        (1, 2.0, "2 mg/day by infusion"),  # one dose a day of an infusion: given over the day
        (2, 4.0, "2 mg every 12 hours = 4 mg/day"),
    ],
)
def test_an_infusion_by_amount(per_day: int, daily: float, shown: str, formulations: Formulations) -> None:
    found = _ordered(
        formulations, IV_TEXT, "intravenous", {"doseQuantity": {"value": 2, "unit": "mg"}}, frequency=per_day
    )
    assert found is not None
    assert (found.daily_mg, found.shown) == (daily, shown)


HALF_MG_BID = "0.5 mg every 12 hours = 1 mg/day"


@pytest.mark.parametrize(
    ("concept", "quantity", "daily", "shown"),
    [
        ({"text": "Prograf 0.5 mg capsules"}, {"value": 500, "unit": "mcg"}, 1.0, HALF_MG_BID),
        ({"text": "Prograf 0.5 mg capsules"}, {"value": 500, "unit": "µg"}, 1.0, HALF_MG_BID),
        # units of a product whose name gives its strength: by its text, or by its code's name alone
        ({"text": "Prograf 0.5 mg capsules", "coding": [{"system": DMD, "code": "317411000001104"}]},
         {"value": 3, "unit": "capsules"}, 3.0, "1.5 mg every 12 hours = 3 mg/day"),
        ({"coding": [{"system": RXNORM, "code": "108514"}]}, {"value": 2, "unit": "capsule"}, 20.0,
         "10 mg every 12 hours = 20 mg/day"),  # Prograf 5 mg, named in the RxNorm product list
    ],
)  # fmt: skip
def test_a_dose_in_other_units(
    concept: dict[str, Any], quantity: dict[str, Any], daily: float, shown: str, formulations: Formulations
) -> None:
    found = _ordered(formulations, concept, "immediate-release", {"doseQuantity": quantity}, frequency=2)
    assert found is not None
    assert found.daily_mg == pytest.approx(daily)
    assert found.shown == shown


@pytest.mark.parametrize(
    ("concept", "quantity"),
    [
        ({"text": "Prograf 1 mg capsules"}, {"value": 2, "unit": "mL"}),  # not an amount in mg
        ({"text": "tacrolimus capsules"}, {"value": 2, "unit": "capsules"}),  # no strength named
    ],
)
def test_a_dose_not_in_mg_is_not_read(
    concept: dict[str, Any], quantity: dict[str, Any], formulations: Formulations
) -> None:
    assert (
        _ordered(formulations, concept, "immediate-release", {"doseQuantity": quantity}, frequency=2) is None
    )
