"""The level story's dose steps and its points: scenario tests on the bundled example "Six months of levels"
(cards/examples/level-story.json, read at the instant its dates were written for), each changed the way a
record can differ, with the expected values worked out by hand.

The example's orders: Prograf 4 mg twice daily (8 mg/day) from 2026-06-02 to 2026-08-01, 3 mg twice daily
(6 mg/day) to 2026-10-05, then Advagraf 5 mg once daily, active. Its transplant: kidney, 2026-06-01, with
azathioprine (the Prograf US label's table: 7 to 20 ng/mL in months 1 to 3, 5 to 15 in months 4 to 12)."""

import copy
import re
from typing import Any

import pytest

from cards import picture
from cards.story import Point, Story
from tests.builders import RXNORM
from tests.cards.test_story import (
    AS_OF,
    KNOWLEDGE,
    day,
    entries,
    example,
    level,
    observation_entry,
    story_of,
)

PROGRAF = "Tacrolimus 1 MG Oral Capsule [Prograf]"
ADVAGRAF = "Advagraf 5 mg prolonged-release hard capsules"
ADVAGRAF_DISPLAY = "Advagraf / Astagraf XL prolonged-release capsules, once daily"
PROGRAF_DISPLAY = "immediate-release tacrolimus, every 12 hours"


def dosage(mg: float, per_day: int, text: str = "") -> list[dict[str, Any]]:
    return [
        {
            "text": text or f"{mg:g} mg {'once' if per_day == 1 else 'twice'} daily",
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg"}}],
        }
    ]


def order(
    rid: str,
    text: str,
    start: str,
    *,
    end: str | None = None,
    status: str = "completed",
    dose: list[dict[str, Any]] | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """A tacrolimus MedicationRequest entry: written on `start`, valid to `end` when given."""
    concept: dict[str, Any] = {"text": text}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code, "display": text}]
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": concept,
        "authoredOn": start,
    }
    if end is not None:
        resource["dispenseRequest"] = {"validityPeriod": {"start": start, "end": end}}
    if dose is not None:
        resource["dosageInstruction"] = dose
    return {"resource": resource}


def resource(request: dict[str, Any], rid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        e["resource"] for e in entries(request, "medicationRequests") if e["resource"]["id"] == rid
    )
    return found


def tacrolimus_orders(request: dict[str, Any], *orders: dict[str, Any]) -> None:
    """The example's tacrolimus orders replaced by `orders` (its other drugs kept)."""
    others = [e for e in entries(request, "medicationRequests") if not e["resource"]["id"].startswith("tac")]
    request["prefetch"]["medicationRequests"]["entry"] = [*orders, *others]


def steps(story: Story) -> list[tuple[str, str, float | None, str, bool]]:
    return [(day(s.start), day(s.end), s.daily_mg, s.shown, s.formulation_changed) for s in story.doses]


def trough_on(story: Story, date: str) -> Point:
    (found,) = [t for t in story.points if t.when is not None and day(t.when) == date]
    return found


EIGHT = "4 mg every 12 hours = 8 mg/day"
SIX = "3 mg every 12 hours = 6 mg/day"
FIVE = "5 mg once daily = 5 mg/day"


# the dose in force at a trough


@pytest.mark.now(AS_OF)
def test_a_trough_drawn_at_this_instant_has_the_dose_in_force_now() -> None:
    # the Advagraf step runs to now (2026-12-01T09:00Z), and a trough drawn at that instant is under it:
    # 9 / 5 mg/day = 1.80 ng/mL per mg/day
    request = example()
    entries(request, "observations").append(level("now", "2026-12-01T09:00:00Z", 9.0))
    story = story_of(request)
    now = trough_on(story, "2026-12-01")
    assert now.dose is not None
    assert (now.dose.daily_mg, now.dose.formulation, day(now.dose.start)) == (
        5.0,
        ADVAGRAF_DISPLAY,
        "2026-10-05",
    )
    assert now.ratio == pytest.approx(1.8)
    assert "<td>2026-12-01</td><td>9 ng/mL</td><td>9</td><td>trough</td><td>5 to 15</td><td>yes</td>" in (
        picture.tables(story, KNOWLEDGE)
    )
    assert "<td>5 mg/day</td><td>1.80</td>" in picture.tables(story, KNOWLEDGE)


@pytest.mark.now(AS_OF)
def test_a_break_between_orders_is_a_gap_even_at_the_same_dose_and_a_trough_in_it_has_no_dose() -> None:
    # the first order valid to 2026-07-15 only, the next written 2026-08-01 at the same 4 mg twice daily:
    # no tacrolimus order in force from 07-15 to 08-01, so no step there and no dose (nor C/D) for a trough
    # drawn on 07-20
    request = example()
    resource(request, "tac-1")["dispenseRequest"]["validityPeriod"]["end"] = "2026-07-15"
    resource(request, "tac-2")["dosageInstruction"] = dosage(4, 2)
    entries(request, "observations").append(level("gap", "2026-07-20T08:00:00Z", 9.0))
    story = story_of(request)
    assert steps(story) == [
        ("2026-06-02", "2026-07-15", 8.0, EIGHT, False),
        ("2026-08-01", "2026-10-05", 8.0, EIGHT, False),
        ("2026-10-05", "2026-12-01", 5.0, FIVE, True),
    ]
    gap = trough_on(story, "2026-07-20")
    assert (gap.trough, gap.dose, gap.ratio) == (True, None, None)
    # its row: no dose and no C/D (fluconazole, begun 2026-07-10, is beside this first trough after it)
    assert (
        "<td>2026-07-20</td><td>9 ng/mL</td><td>9</td><td>trough</td><td>7 to 20</td><td>yes</td><td></td>"
        "<td></td><td>Fluconazole"
    ) in picture.tables(story, KNOWLEDGE)


@pytest.mark.now(AS_OF)
def test_a_renewal_at_the_same_dose_is_one_step() -> None:
    # the second order renews the first at the same 4 mg twice daily from the day the first ends: one
    # step of 8 mg/day from 2026-06-02 to 2026-10-05, then the Advagraf one
    request = example()
    resource(request, "tac-2")["dosageInstruction"] = dosage(4, 2)
    story = story_of(request)
    assert steps(story) == [
        ("2026-06-02", "2026-10-05", 8.0, EIGHT, False),
        ("2026-10-05", "2026-12-01", 5.0, FIVE, True),
    ]
    assert [t.dose.daily_mg if t.dose else None for t in story.troughs] == [8, 8, 8, 5, 5, 5]


# where a step ends


@pytest.mark.now(AS_OF)
def test_records_received_out_of_order_with_no_end_run_to_the_next_record_s_start() -> None:
    # the two Prograf orders stopped with no end date: each runs to the next tacrolimus record's start,
    # whatever order the server sent them in
    request = example()
    for rid in ("tac-1", "tac-2"):
        del resource(request, rid)["dispenseRequest"]
    entries(request, "medicationRequests").reverse()
    story = story_of(request)
    assert steps(story) == [
        ("2026-06-02", "2026-08-01", 8.0, EIGHT, False),
        ("2026-08-01", "2026-10-05", 6.0, SIX, False),
        ("2026-10-05", "2026-12-01", 5.0, FIVE, True),
    ]
    assert not any("not in the dose steps" in n for n in story.notes)


@pytest.mark.now(AS_OF)
def test_a_morning_and_an_evening_order_of_the_same_day_add_up() -> None:
    # 1.5 mg in the morning and 1 mg in the evening, two orders written the same day with no end date,
    # stopped at the switch to Advagraf: 2.5 mg/day from 2026-06-02 to 2026-10-05 (neither ends at the
    # other's start, which is its own)
    request = example()
    tacrolimus_orders(
        request,
        order("am", PROGRAF, "2026-06-02", code="108513", dose=dosage(1.5, 1, "1.5 mg in the morning")),
        order("pm", PROGRAF, "2026-06-02", code="108513", dose=dosage(1, 1, "1 mg in the evening")),
        {"resource": resource(example(), "tac-3")},
    )
    story = story_of(request)
    assert steps(story) == [
        (
            "2026-06-02",
            "2026-10-05",
            2.5,
            "1.5 mg once daily = 1.5 mg/day; 1 mg once daily = 1 mg/day",
            False,
        ),
        ("2026-10-05", "2026-12-01", 5.0, FIVE, True),
    ]
    # the first trough, 12 ng/mL on 2026-07-01: 12 / 2.5 = 4.80
    assert "<td>2.5 mg/day</td><td>4.80</td>" in picture.tables(story, KNOWLEDGE)


@pytest.mark.now(AS_OF)
def test_a_stopped_record_with_no_end_and_none_after_it_is_left_out_and_said() -> None:
    # an Advagraf order written on 2026-10-05 and stopped with no end date, then written again the same day
    # (active): the stopped one has no end to draw (nothing starts after it), the active one runs to now
    request = example()
    stopped = order("tac-3-stopped", ADVAGRAF, "2026-10-05", status="stopped", dose=dosage(5, 1))
    entries(request, "medicationRequests").insert(2, stopped)
    story = story_of(request)
    assert steps(story) == [
        ("2026-06-02", "2026-08-01", 8.0, EIGHT, False),
        ("2026-08-01", "2026-10-05", 6.0, SIX, False),
        ("2026-10-05", "2026-12-01", 5.0, FIVE, True),
    ]
    said = f"{ADVAGRAF} from 2026-10-05 (stopped) has no end date: not in the dose steps."
    assert said in story.notes
    assert f"<li>{said}</li>" in picture.tables(story, KNOWLEDGE)


@pytest.mark.now(AS_OF)
def test_an_active_order_whose_end_date_has_passed_ends_there() -> None:
    # the Advagraf order still active, but valid to 2026-11-20 only: its step ends on its end date, not now
    request = example()
    resource(request, "tac-3")["dispenseRequest"] = {
        "validityPeriod": {"start": "2026-10-05", "end": "2026-11-20"}
    }
    assert steps(story_of(request))[-1] == ("2026-10-05", "2026-11-20", 5.0, FIVE, True)


@pytest.mark.now(AS_OF)
def test_a_statement_s_effective_period_ends_its_step() -> None:
    # the first Prograf as a statement taken from 2026-06-02 to 2026-07-15 (its effective period), the next
    # order written 2026-08-01: the statement's step ends on 07-15, not at the next order's start
    request = example()
    statement = {
        "resourceType": "MedicationStatement",
        "id": "tac-1",
        "status": "completed",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": resource(request, "tac-1")["medicationCodeableConcept"],
        "effectivePeriod": {"start": "2026-06-02", "end": "2026-07-15"},
        "dosage": dosage(4, 2),
    }
    entries(request, "medicationRequests").pop(0)
    request["prefetch"]["medicationStatements"]["entry"] = [{"resource": statement}]
    story = story_of(request)
    assert steps(story) == [
        ("2026-06-02", "2026-07-15", 8.0, EIGHT, False),
        ("2026-08-01", "2026-10-05", 6.0, SIX, False),
        ("2026-10-05", "2026-12-01", 5.0, FIVE, True),
    ]


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("undated", "note"),
    [
        (1, "1 tacrolimus record with no date: not in the dose steps."),
        (2, "2 tacrolimus records with no date: not in the dose steps."),
    ],
)
def test_records_with_no_date_are_counted_and_left_out(undated: int, note: str) -> None:
    request = example()
    for n in range(undated):
        found = order(f"undated-{n}", PROGRAF, "", code="108513", status="active", dose=dosage(2, 2))
        del found["resource"]["authoredOn"]
        entries(request, "medicationRequests").append(found)
    story = story_of(request)
    assert [n for n in story.notes if "with no date" in n] == [note]
    assert f"<li>{note}</li>" in picture.tables(story, KNOWLEDGE)
    assert [s[2] for s in steps(story)] == [8.0, 6.0, 5.0]


# what a step says


@pytest.mark.now(AS_OF)
def test_a_product_not_recognised_is_said_so_in_the_step_and_the_switch() -> None:
    # an order that names tacrolimus but no product (no brand, form or release words) after Prograf: the step
    # says the product is not known, and the switch to it is marked
    request = example()
    resource(request, "tac-3")["medicationCodeableConcept"] = {"text": "Tacrolimus"}
    story = story_of(request)
    last = story.doses[-1]
    assert (last.formulation, last.short, last.formulation_changed) == (
        "tacrolimus (product not known)",
        "product not known",
        True,
    )
    assert ">switched to product not known</text>" in picture.svg(story)
    assert "<td>tacrolimus (product not known) (changed)</td>" in picture.tables(story, KNOWLEDGE)


@pytest.mark.now(AS_OF)
def test_an_infusion_by_rate_gives_its_daily_dose() -> None:
    # intravenous tacrolimus at 0.1 mg/h from the transplant's first day to 2026-06-05 (0.1 x 24 = 2.4
    # mg/day), then Prograf by mouth: the infusion's step, then the switch to capsules
    request = example()
    infusion = order(
        "tac-iv",
        "Tacrolimus 5 mg/mL concentrate for solution for infusion",
        "2026-06-02",
        end="2026-06-05",
        dose=[
            {
                "text": "0.1 mg/h continuous infusion",
                "doseAndRate": [{"rateQuantity": {"value": 0.1, "unit": "mg/h"}}],
            }
        ],
    )
    first = resource(request, "tac-1")
    first["authoredOn"] = first["dispenseRequest"]["validityPeriod"]["start"] = "2026-06-05"
    entries(request, "medicationRequests").insert(0, infusion)
    story = story_of(request)
    assert steps(story)[:2] == [
        ("2026-06-02", "2026-06-05", 2.4, "0.1 mg/h = 2.4 mg/day", False),
        ("2026-06-05", "2026-08-01", 8.0, EIGHT, True),
    ]
    assert story.doses[0].formulation == "intravenous tacrolimus, continuous infusion"


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("dose", "shown"),
    [
        (None, f"{ADVAGRAF}: dose not readable"),  # no dosage at all
        (
            [{"text": "as directed by the transplant clinic"}],
            f"{ADVAGRAF}: dose not readable (as directed by the transplant clinic)",
        ),
    ],
)
def test_a_dose_not_readable_says_what_the_order_says(dose: list[dict[str, Any]] | None, shown: str) -> None:
    request = example()
    if dose is None:
        del resource(request, "tac-3")["dosageInstruction"]
    else:
        resource(request, "tac-3")["dosageInstruction"] = dose
    story = story_of(request)
    assert steps(story)[-1] == ("2026-10-05", "2026-12-01", None, shown, True)
    assert f"<td>not readable</td><td>{shown}</td>" in picture.tables(story, KNOWLEDGE)


@pytest.mark.now(AS_OF)
def test_two_products_in_force_at_once_are_both_named_and_judged_against_neither_s_own_rows() -> None:
    # Advagraf 5 mg once daily valid to 2026-11-05, Envarsus 4 mg once daily written 2026-11-01: both in
    # force from 11-01 to 11-05 (9 mg/day). A trough on 11-03 is judged against the Prograf US label's table
    # (kidney, month 6 with azathioprine: 5 to 15 ng/mL), neither the Envarsus rows nor the Prograf rows
    # "applied to Advagraf"
    request = example()
    resource(request, "tac-3")["status"] = "completed"
    resource(request, "tac-3")["dispenseRequest"] = {
        "validityPeriod": {"start": "2026-10-05", "end": "2026-11-05"}
    }
    envarsus = order(
        "tac-4", "Envarsus 4 mg prolonged-release tablets", "2026-11-01", status="active", dose=dosage(4, 1)
    )
    entries(request, "medicationRequests").insert(3, envarsus)
    entries(request, "observations").append(level("both", "2026-11-03T08:00:00Z", 9.0))
    story = story_of(request)
    both = story.doses[-2]
    assert (day(both.start), day(both.end), both.daily_mg, both.shown) == (
        "2026-11-01",
        "2026-11-05",
        9.0,
        "5 mg once daily = 5 mg/day; 4 mg once daily = 4 mg/day",
    )
    assert both.formulation == f"{ADVAGRAF_DISPLAY} + Envarsus prolonged-release tablets, once daily"
    assert both.short == "Advagraf / Astagraf XL prolonged-release + Envarsus prolonged-release"
    assert f"<td>{both.formulation} (changed)</td>" in picture.tables(story, KNOWLEDGE)
    assert ">Advagraf / Astagraf XL prolonged-release + Envarsus prolonged-release</text>" in picture.svg(
        story
    )
    trough = trough_on(story, "2026-11-03")
    assert trough.band is not None
    assert (trough.band.low, trough.band.high) == (5, 15)
    assert trough.band.basis.startswith("US label, adult kidney transplant with azathioprine")


# the points: results listed, not plotted, and the laboratory's notes

NOTE = "Sample taken 30 minutes late."
EMPTY_CELLS = "<td></td><td></td><td></td><td></td><td></td></tr>"  # target, within, dose, C/D, drugs


def levels_only(request: dict[str, Any], *found: dict[str, Any]) -> Story:
    request["prefetch"]["observations"]["entry"] = list(found)
    return story_of(request)


def undated(rid: str, value: float) -> dict[str, Any]:
    found = level(rid, "", value)
    del found["resource"]["effectiveDateTime"]
    return found


@pytest.mark.now(AS_OF)
def test_a_level_in_a_unit_not_converted_or_with_no_date_is_listed_with_why() -> None:
    # 9 mg/dL is not a unit the service converts (ng/mL, ug/L, nmol/L are): listed on its date, not plotted;
    # 9 ng/mL with no date: listed last, not plotted, as it has no place on the time axis. Both are troughs
    # by their names (nothing says otherwise), judged against no target and given no dose
    story = levels_only(example(), undated("u", 9.0), level("mgdl", "2026-11-15T08:00:00Z", 9.0, "mg/dL"))
    assert [(p.shown, p.kind, p.listed_why) for p in story.points] == [
        ("9 mg/dL", "trough", "unit not converted (ng/mL, ug/L, nmol/L are)"),
        ("9 ng/mL", "trough", "no date"),
    ]
    tables = picture.tables(story, KNOWLEDGE)
    assert (
        "<tr><td>2026-11-15</td><td>9 mg/dL</td><td>listed, not plotted: unit not converted (ng/mL, ug/L,"
        f" nmol/L are)</td><td>trough</td>{EMPTY_CELLS}"
    ) in tables
    row = "<tr><td>no date</td><td>9 ng/mL</td><td>listed, not plotted: no date</td><td>trough</td>"
    assert row + EMPTY_CELLS in tables
    assert not re.search(r'<circle class="trough[^"]*" cx="[\d.]+" cy="[\d.]+" r="5">', picture.svg(story))


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("result", "shown"),
    [
        (level("a", "2026-11-15T08:00:00Z", 9.0), "9 ng/mL"),  # a trough, plotted
        (level("a", "2026-11-15T08:00:00Z", 9.0, "mg/dL"), "9 mg/dL"),  # a unit not converted
        (undated("a", 9.0), "9 ng/mL"),  # no date
        (observation_entry("a", "2026-11-15T08:00:00Z", valueString="Clotted"), "Clotted"),  # no number
    ],
    ids=["trough", "unit not converted", "no date", "no number"],
)
def test_the_laboratory_s_note_is_shown_beside_any_result(result: dict[str, Any], shown: str) -> None:
    result = copy.deepcopy(result)
    result["resource"]["note"] = [{"text": NOTE}]
    story = levels_only(example(), result)
    (point,) = story.points
    assert point.note == NOTE
    assert f"<td>{shown} (note: {NOTE})</td>" in picture.tables(story, KNOWLEDGE)


@pytest.mark.now(AS_OF)
def test_an_infusion_overlapping_an_oral_order_gives_no_ratio() -> None:
    # the infusion at 0.1 mg/h (2.4 mg/day) from 2026-06-20 to 07-05, overlapping Prograf 8 mg/day: the
    # 2026-07-01 trough is drawn with both in force; its ratio would count the infusion's milligrams as oral
    # ones, so there is none (the sources' C/D is for oral doses); the troughs after it keep theirs
    request = example()
    infusion = order(
        "tac-iv",
        "Tacrolimus 5 mg/mL concentrate for solution for infusion",
        "2026-06-20",
        end="2026-07-05",
        dose=[
            {
                "text": "0.1 mg/h continuous infusion",
                "doseAndRate": [{"rateQuantity": {"value": 0.1, "unit": "mg/h"}}],
            }
        ],
    )
    entries(request, "medicationRequests").insert(0, infusion)
    story = story_of(request)
    by_day = {day(t.when): t for t in story.troughs}
    assert by_day["2026-07-01"].dose is not None
    assert by_day["2026-07-01"].dose.daily_mg == pytest.approx(10.4)  # 8 + 2.4, shown as the dose in force
    assert by_day["2026-07-01"].ratio is None
    assert by_day["2026-08-31"].ratio == pytest.approx(1.0)  # 6 ng/mL on 6 mg/day


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("renamed", "text", "hours", "micrograms", "daily", "ratio", "cell"),
    [
        # 125 micrograms every 8 hours (Prograf) = 0.375 mg/day, not 0.38 (the total to two decimals): the
        # 2026-11-10 trough (10 nmol/L = 8.0 ng/mL) gives 8.0 / 0.375 = 21.33 ng/mL per mg/day
        (True, "125 micrograms every 8 hours", 8, 125, 0.375, 8.0 / 0.375, "<td>0.375 mg/day</td>"),
        # 62.5 micrograms once daily (Advagraf) = 0.0625 mg/day, not 0.062 (to the microgram): 8.0 / 0.0625
        (False, "62.5 micrograms once daily", 24, 62.5, 0.0625, 128.0, "<td>0.0625 mg/day</td>"),
    ],
    ids=["to-the-microgram", "below-a-microgram"],
)
def test_a_dose_in_micrograms_keeps_its_exact_daily_total_and_ratio(
    renamed: bool, text: str, hours: int, micrograms: float, daily: float, ratio: float, cell: str
) -> None:
    request = example()
    advagraf = resource(request, "tac-3")
    if renamed:
        advagraf["medicationCodeableConcept"] = {"text": PROGRAF}
    advagraf["dosageInstruction"] = [
        {
            "text": text,
            "timing": {"repeat": {"frequency": 1, "period": hours, "periodUnit": "h"}},
            "doseAndRate": [{"doseQuantity": {"value": micrograms, "unit": "ug"}}],
        }
    ]
    story = story_of(request)
    trough = next(t for t in story.troughs if day(t.when) == "2026-11-10")
    assert trough.dose is not None
    assert trough.dose.daily_mg == daily
    assert trough.ratio == pytest.approx(ratio)
    assert cell in picture.tables(story, KNOWLEDGE)  # the dose its ratio uses
