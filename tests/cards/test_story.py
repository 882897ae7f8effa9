"""The level story: scenario tests with expected values computed by hand from each fixture.

The main fixture is the bundled example "Six months of levels" (cards/examples/level-story.json), read at
the instant its dates were written for. Its targets come from the Prograf US label's kidney table with
azathioprine (months 1 to 3: 7 to 20 ng/mL; months 4 to 12: 5 to 15 ng/mL); 1 nmol/L of tacrolimus is
0.804 ng/mL (molar mass 804 g/mol, the monograph's monohydrate 822.0 less water)."""

import copy
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import pytest

from cards import picture
from cards.drugs import DrugIdentifier
from cards.knowledge import load
from cards.story import Story, StoryBuilder
from cds.fhirjson import when
from cds.record import PatientRecord, RecordBuilder
from tests.builders import EXAMPLES, LOINC, medication_request

KNOWLEDGE = load()
DRUGS = DrugIdentifier(KNOWLEDGE)
AS_OF = "2026-12-01T09:00:00Z"  # cards/examples/index.json asOf
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def example() -> dict[str, Any]:
    request: dict[str, Any] = orjson.loads((EXAMPLES / "level-story.json").read_bytes())
    return request


def record_of(
    request: dict[str, Any], now: str = AS_OF, drafts: Sequence[dict[str, Any]] = ()
) -> PatientRecord:
    instant = when(now)
    assert instant is not None
    hook = "order-sign" if drafts else "patient-view"
    builder = RecordBuilder(hook=hook, now=instant, patient_id="example")
    builder.add(drafts, where="draftOrders", draft=True)  # first, as the evaluator adds them
    for key, value in request["prefetch"].items():
        resources = (
            [e["resource"] for e in value.get("entry", [])] if value["resourceType"] == "Bundle" else [value]
        )
        builder.add(resources, where=f"prefetch {key}")
    return builder.build()


def story_of(request: dict[str, Any], now: str = AS_OF, drafts: Sequence[dict[str, Any]] = ()) -> Story:
    # a builder per story, made while the test runs: one made on import would be made before mutation testing
    # applies a mutant, and no test would see a fault in its constructor
    return StoryBuilder(KNOWLEDGE, DRUGS).story(record_of(request, now, drafts))


def day(moment: datetime | None) -> str:
    assert moment is not None
    return moment.date().isoformat()


def entries(request: dict[str, Any], key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = request["prefetch"][key]["entry"]
    return found


def level(rid: str, moment: str, value: float, unit: str = "ng/mL") -> dict[str, Any]:
    return {
        "resource": {
            "resourceType": "Observation",
            "id": rid,
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "11253-2"}]},
            "effectiveDateTime": moment,
            "valueQuantity": {"value": value, "unit": unit},
        }
    }


def course(rid: str, text: str, start: str | None = None, end: str | None = None) -> dict[str, Any]:
    """A completed order as a prefetch entry: from `start` (authoredOn) to `end` (its validity's end)."""
    extra: dict[str, Any] = {"authoredOn": start} if start else {}
    if end:
        extra["dispenseRequest"] = {"validityPeriod": {"start": start, "end": end}}
    return {"resource": medication_request(rid, text, status="completed", **extra)}


FLUCONAZOLE_HATCHED = (
    "Fluconazole 50 MG Oral Capsule has no end date and is no longer current: drawn hatched from its start to"
    " the window's end, as when it stopped is not known."
)


@pytest.mark.now(AS_OF)
def test_the_troughs_their_targets_doses_and_concentration_dose_ratios() -> None:
    story = story_of(example())
    troughs = [(day(t.when), t.value) for t in story.troughs]
    # 10 nmol/L x 0.804 = 8.04, shown to one decimal as the level card does: 8.0 ng/mL
    assert troughs == [
        ("2026-07-01", 12.0),
        ("2026-08-31", 6.0),
        ("2026-09-01", 6.0),
        ("2026-10-20", 6.0),
        ("2026-11-10", 8.0),
        ("2026-11-17", 7.0),
    ]
    # transplant 2026-06-01: 2026-08-31 is day 91 (month 2.99, 7 to 20), 2026-09-01 day 92 (month 3.02)
    assert [(t.band.low, t.band.high) if t.band else None for t in story.troughs] == [
        (7, 20),
        (7, 20),
        (5, 15),
        (5, 15),
        (5, 15),
        (5, 15),
    ]
    assert [t.within for t in story.troughs] == [True, False, True, True, True, True]
    # Prograf 4 mg twice daily = 8 mg/day to 2026-08-01, 3 mg twice daily = 6 mg/day to 2026-10-05, then
    # Advagraf 5 mg once daily: 12/8, 6/6, 6/6, 6/5, 8.0/5, 7/5
    assert [t.dose.daily_mg if t.dose else None for t in story.troughs] == [8, 6, 6, 5, 5, 5]
    assert [round(t.ratio, 2) if t.ratio is not None else None for t in story.troughs] == [
        1.5,
        1.0,
        1.0,
        1.2,
        1.6,
        1.4,
    ]


@pytest.mark.now(AS_OF)
def test_the_coefficient_of_variation_and_the_share_within_the_band() -> None:
    figures = {f.name: f for f in story_of(example()).figures}
    # the CV only over the latest troughs at one unchanged dose (the sources: reliable only while the dose
    # is unchanged): Advagraf 5 mg/day from 2026-10-05, troughs 6, 8, 7: mean 7, sample SD 1, CV 14.3 %
    cv = figures["Coefficient of variation (CV)"]
    assert cv.value == "14.3 %"
    assert cv.rests_on.startswith("the troughs at 5 mg/day (Advagraf")
    assert cv.rests_on.endswith("2026-10-20 to 2026-11-17, n = 3")
    # clarithromycin ended 2026-10-17, before them; fluconazole from 2026-07-10 has no end: said, as is the
    # "<2" between them, which no CV can include
    assert cv.note == (
        "Fluconazole 50 MG Oral Capsule (raises levels) from 2026-07-10 has no end on record: it may have"
        " been taken between them; not in it: <2 ng/mL on 2026-11-15, given as a bound."
    )
    # six measured troughs, five within the band in force at their date (2026-08-31 below 7 to 20), and
    # the "<2" of 2026-11-15: all of its range is below 5 to 15, so it counts as outside: 5 of 7
    share = figures["Troughs within the band"]
    assert share.value == "5 of 7 (71 %)"
    assert share.note == (
        "1 given as a bound (<2 ng/mL on 2026-11-15) counted as outside: the whole of its range is outside"
        " the band."
    )
    ratio = figures["Concentration/dose ratio (C/D)"]
    assert ratio.value == "1.40 ng/mL per mg/day (latest)"  # 7 / 5


@pytest.mark.now(AS_OF)
def test_results_that_are_not_troughs_are_never_drawn_or_counted_as_troughs() -> None:
    story = story_of(example())
    by_day = {day(p.when): p for p in story.points if p.when is not None}
    bound = by_day["2026-11-15"]
    assert (bound.shown, bound.value, bound.trough, bound.censored) == ("<2 ng/mL", None, False, True)
    assert (bound.bound, bound.comparator, bound.within) == (2.0, "<", False)
    assert bound.note == "Sample drawn from the line used for the infusion: repeat requested."
    post_dose = by_day["2026-11-20"]
    assert (post_dose.value, post_dose.kind, post_dose.trough) == (25.0, "2 hour", False)
    preliminary = by_day["2026-11-25"]
    assert (preliminary.value, preliminary.kind, preliminary.trough) == (7.0, "preliminary", False)
    haemolysed = by_day["2026-11-27"]
    assert (haemolysed.shown, haemolysed.value) == ("Sample haemolysed: not measured", None)
    assert haemolysed.listed_why == "no numeric value"
    drawn = picture.svg(story)
    assert len(re.findall(r'<circle class="trough[^"]*" cx="[\d.]+" cy="[\d.]+" r="5">', drawn)) == 6
    assert drawn.count('<path class="other" d=') == 3  # the post-dose, the preliminary, the legend's
    # the post-dose and the preliminary result in their own lane, under the trough axis, never on it
    lane = [float(y) for y in re.findall(r'<path class="other" d="M[\d.]+ ([\d.]+)L', drawn)][1:]
    assert len(lane) == 2
    assert all(y > picture.LEVEL_TOP + picture.LEVEL_HEIGHT for y in lane)
    assert "25 ng/mL 2 hour" in drawn
    # the "<2" drawn as a triangle marked outside, its note in its tooltip and in the table
    assert re.search(r'<path class="trough outside" d="[^"]+"><title>2026-11-15: &lt;2 ng/mL', drawn)
    note = "(note: Sample drawn from the line used for the infusion: repeat requested.)"
    assert note in drawn
    assert f"<td>&lt;2 ng/mL {note}</td>" in picture.tables(story, KNOWLEDGE)


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("comparator", "value", "within"),
    [("<", 5.0, False), ("<=", 5.0, None), ("<", 5.1, None), (">", 15.0, False), (">=", 15.0, None)],
)
def test_a_trough_given_as_a_bound_is_judged_only_when_all_of_its_range_is_outside(
    comparator: str, value: float, within: bool | None
) -> None:
    # 5 to 15 ng/mL on 2026-11-01: "<5" lies below 5; "<=5" may be 5 (within); ">15" lies above; ">=15"
    # may be 15
    request = example()
    bound = level("a", "2026-11-01T08:00:00Z", value)
    bound["resource"]["valueQuantity"]["comparator"] = comparator
    request["prefetch"]["observations"]["entry"] = [bound]
    (point,) = story_of(request).points
    assert (point.censored, point.within) == (True, within)


@pytest.mark.now(AS_OF)
def test_the_dose_steps_mark_the_formulation_switch() -> None:
    story = story_of(example())
    steps = [(day(s.start), day(s.end), s.daily_mg, s.formulation_changed) for s in story.doses]
    assert steps == [
        ("2026-06-02", "2026-08-01", 8.0, False),
        ("2026-08-01", "2026-10-05", 6.0, False),
        ("2026-10-05", "2026-12-01", 5.0, True),
    ]
    assert story.doses[-1].kind == "advagraf"
    # the switch marked by a line at 2026-10-05, its label right of the line (over the Advagraf step, never
    # over the Prograf one before it), on two lines when one would run off the picture
    drawn = picture.svg(story)
    line = re.search(r'<line class="switch" x1="([\d.]+)"', drawn)
    assert line is not None
    labels = re.findall(
        r'<text class="small" x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)">([^<]*)</text>', drawn
    )
    said = {words: (float(x), anchor) for x, anchor, words in labels}
    for words in ("switched to", "Advagraf / Astagraf XL prolonged-release"):
        x, anchor = said[words]
        assert anchor == "start"
        assert x > float(line.group(1))


@pytest.mark.now(AS_OF)
def test_the_target_bands_and_the_level_altering_drugs() -> None:
    story = story_of(example())
    assert [(day(b.start), day(b.end), b.low, b.high) for b in story.bands] == [
        ("2026-06-02", "2026-09-01", 7, 20),
        ("2026-09-01", "2026-10-05", 5, 15),
        ("2026-10-05", "2026-12-01", 5, 15),  # the same range, now applied to Advagraf: said in its basis
    ]
    bars = [(b.name, b.effect, day(b.start), day(b.end), b.end_known) for b in story.drugs]
    assert bars == [
        # stopped, no end date: from its start to the window's end, drawn hatched (when it stopped is unknown)
        ("Fluconazole 50 MG Oral Capsule", "raises", "2026-07-10", "2026-12-01", False),
        ("Clarithromycin 500 MG Oral Tablet", "raises", "2026-10-10", "2026-10-17", True),
    ]
    drawn = picture.svg(story)
    assert re.search(r'<rect class="open-raises" [^>]*><title>Fluconazole 50 MG Oral Capsule', drawn)
    assert re.search(r'<rect class="raises" [^>]*><title>Clarithromycin 500 MG Oral Tablet', drawn)
    # the band after the switch: the Prograf rows, said to be applied to Advagraf (the monograph: trough and
    # exposure relate alike for Prograf and Advagraf)
    assert story.bands[-1].basis.startswith(
        "US label (Prograf, immediate-release) applied to Advagraf (the monograph: trough and exposure"
    )
    # the drugs taken since the trough before, beside each trough: clarithromycin between 09-01 and 10-20
    by_day = {day(t.when): t for t in story.troughs}
    assert "Clarithromycin 500 MG Oral Tablet (raises)" in by_day["2026-10-20"].drugs_before
    assert not any("Clarithromycin" in d for d in by_day["2026-11-10"].drugs_before)
    assert by_day["2026-07-01"].drugs_before == ()  # fluconazole began 2026-07-10
    # fluconazole, stopped with no end recorded: beside the first trough after its start only
    assert by_day["2026-08-31"].drugs_before == (
        "Fluconazole 50 MG Oral Capsule (raises; from 2026-07-10, end not recorded)",
    )
    assert by_day["2026-09-01"].drugs_before == ()
    # azathioprine changes no level: no bar
    assert not any("Azathioprine" in b.name for b in story.drugs)


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(("count", "figure"), [(2, None), (3, "16.7 %")])
def test_fewer_than_three_troughs_give_no_figure(count: int, figure: str | None) -> None:
    request = example()
    levels = [
        level("a", "2026-11-01T08:00:00Z", 10.0),
        level("b", "2026-11-08T08:00:00Z", 12.0),
        level("c", "2026-11-15T08:00:00Z", 14.0),
    ][:count]
    request["prefetch"]["observations"]["entry"] = levels
    figures = {f.name: f for f in story_of(request).figures}
    cv, share = figures["Coefficient of variation (CV)"], figures["Troughs within the band"]
    # 10, 12, 14: mean 12, sample SD 2, CV 2 / 12 = 16.7 %; all within 5 to 15
    assert cv.value == figure
    assert share.value == (None if figure is None else "3 of 3 (100 %)")
    assert share.note == ("Fewer than 3 troughs (2): no figure." if figure is None else "")
    if figure is None:
        assert cv.note == "Fewer than 3 troughs (2): no figure."
        assert "no figure" in picture.tables(story_of(request), KNOWLEDGE)


@pytest.mark.now(AS_OF)
def test_a_dose_that_cannot_be_read_is_a_labelled_gap_not_a_zero() -> None:
    request = example()
    for entry in entries(request, "medicationRequests"):
        if entry["resource"]["id"] == "tac-3":
            del entry["resource"]["dosageInstruction"]
    story = story_of(request)
    last = story.doses[-1]
    assert (day(last.start), last.daily_mg) == ("2026-10-05", None)
    assert "dose not readable" in last.shown
    assert [t.ratio for t in story.troughs][-3:] == [None, None, None]  # no ratio without a dose
    drawn = picture.svg(story)
    assert "dose not readable" in drawn
    assert "0 mg/day" not in drawn
    figures = {f.name: f for f in story.figures}
    assert figures["Concentration/dose ratio (C/D)"].rests_on == "3 of 6 troughs with a readable oral dose"


@pytest.mark.now(AS_OF)
def test_units_convert_as_the_level_card_does() -> None:
    request = example()
    request["prefetch"]["observations"]["entry"] = [
        level("a", "2026-11-01T08:00:00Z", 9.0, "ug/L"),
        level("b", "2026-11-08T08:00:00Z", 12.5, "nmol/L"),  # 12.5 x 0.804 = 10.05: 10.1 ng/mL
        level("c", "2026-11-15T08:00:00Z", 9.0, "mg/dL"),  # not a unit the service converts
    ]
    points = story_of(request).points
    assert [(p.value, p.trough) for p in points] == [(9.0, True), (10.1, True), (None, False)]
    assert points[2].listed_why.startswith("unit not converted")


@pytest.mark.now(AS_OF)
def test_dates_are_the_record_s_own_never_shifted_to_the_server_s_zone() -> None:
    request = example()
    # 23:30 in New York on 10 November is 04:30 UTC on 11 November
    request["prefetch"]["observations"]["entry"] = [level("a", "2026-11-10T23:30:00-05:00", 9.0)]
    story = story_of(request)
    assert [day(p.when) for p in story.points] == ["2026-11-10"]
    assert "<td>2026-11-10</td>" in picture.tables(story, KNOWLEDGE)
    assert "2026-11-11" not in picture.tables(story, KNOWLEDGE)


@pytest.mark.now(AS_OF)
def test_twelve_months_or_since_the_start_of_tacrolimus() -> None:
    request = example()
    entries(request, "observations").append(level("old", "2025-11-01T08:00:00Z", 9.0))
    entries(request, "medicationRequests")[0]["resource"]["dispenseRequest"]["validityPeriod"]["start"] = (
        "2025-01-01"
    )
    entries(request, "medicationRequests")[0]["resource"]["authoredOn"] = "2025-01-01"
    story = story_of(request)
    assert day(story.start) == "2025-12-01"  # 365 days before 2026-12-01
    assert "1 older tacrolimus level before 2025-12-01: not shown." in story.notes
    assert day(story_of(example()).start) == "2026-06-02"  # the first order, later than 12 months ago


COLITIS = {
    "resourceType": "Condition",
    "id": "uc",
    "clinicalStatus": {"coding": [{"code": "active"}]},
    "code": {"text": "Ulcerative colitis"},
    "onsetDateTime": "2019-03-01",
}


def colitis_request(ordered: str, levels: list[dict[str, Any]]) -> dict[str, Any]:
    """Ulcerative colitis, one current Prograf order authored at `ordered`, and these levels."""
    request = example()
    request["prefetch"]["conditions"]["entry"] = [{"resource": COLITIS}]
    tacrolimus = {
        "resourceType": "MedicationRequest",
        "id": "tac-uc",
        "status": "active",
        "intent": "order",
        "authoredOn": ordered,
        "medicationCodeableConcept": {
            "text": "Tacrolimus 1 MG Oral Capsule [Prograf]",
            "coding": [{"system": RXNORM, "code": "108513"}],
        },
    }
    request["prefetch"]["medicationRequests"]["entry"] = [{"resource": tacrolimus}]
    request["prefetch"]["observations"]["entry"] = levels
    return request


INITIAL = "colitis initial target, days 0 to 13 on tacrolimus"
MAINTENANCE = "colitis maintenance target, from day 14 on tacrolimus"
# the seed's UC summary, labelled as what it is (the reference: an online question-and-answer summary that
# cites the third ECCO consensus, not ECCO itself)
UC_SUMMARY = (
    '<a href="https://www.droracle.ai/articles/131672/what-is-the-role-of-tacrolimus-fk506-as-rescue"'
    ' rel="noopener noreferrer">Online Q&amp;A summary on tacrolimus in acute severe UC (cites ECCO)</a>'
)


@pytest.mark.now(AS_OF)
def test_colitis_initial_target_for_the_first_14_days_then_maintenance() -> None:
    # the UC summary: 10 to 15 ng/mL in the initial acute phase, then 5 to 10 for maintenance; the project's
    # policy: the first 14 days (days 0 to 13) are the acute phase
    request = colitis_request(
        "2026-11-01T09:00:00Z",
        [
            level("d13", "2026-11-14T09:00:00Z", 12.0),  # day 13
            level("d14", "2026-11-15T09:00:00Z", 12.0),  # day 14
        ],
    )
    story = story_of(request)
    assert [(t.band.low, t.band.high) if t.band else None for t in story.troughs] == [(10, 15), (5, 10)]
    assert [t.within for t in story.troughs] == [True, False]
    assert [(day(b.start), day(b.end), b.low, b.high, b.basis) for b in story.bands] == [
        ("2026-11-01", "2026-11-15", 10, 15, INITIAL),
        ("2026-11-15", "2026-12-01", 5, 10, MAINTENANCE),
    ]
    assert story.notes == ()  # the start of tacrolimus is known: nothing to say of its first 14 days
    # each colitis band links to the summary its range comes from, the initial and the maintenance one alike
    tables = picture.tables(story, KNOWLEDGE)
    assert f"<td>10 to 15</td><td>{INITIAL}</td><td>{UC_SUMMARY}</td></tr>" in tables
    assert f"<td>5 to 10</td><td>{MAINTENANCE}</td><td>{UC_SUMMARY}</td></tr>" in tables


@pytest.mark.now(AS_OF)
def test_colitis_with_a_level_before_the_first_order_has_no_target_for_its_first_14_days() -> None:
    # a level on 2026-10-25, a week before the first order on record: tacrolimus began on or before
    # 2026-10-25, so whether 2026-10-25 to 2026-11-07 (days 0 to 13) were the initial phase is not known;
    # from day 14 (2026-11-08) it is maintenance either way
    request = colitis_request(
        "2026-11-01T09:00:00Z",
        [
            level("d0", "2026-10-25T09:00:00Z", 12.0),
            level("d13", "2026-11-07T09:00:00Z", 12.0),
            level("d14", "2026-11-08T09:00:00Z", 12.0),
        ],
    )
    story = story_of(request)
    assert [(day(t.when), t.band.low if t.band else None, t.within) for t in story.troughs] == [
        ("2026-10-25", None, None),
        ("2026-11-07", None, None),
        ("2026-11-08", 5, False),  # 12 ng/mL above maintenance's 5 to 10
    ]
    assert [(day(b.start), day(b.end), b.low, b.high, b.basis) for b in story.bands] == [
        ("2026-11-08", "2026-12-01", 5, 10, MAINTENANCE),
    ]
    assert story.notes == (
        "Tacrolimus began on or before 2026-10-25 (no start on record): the colitis phase, and so the target,"
        " is not known for its first 14 days.",
    )


@pytest.mark.now(AS_OF)
def test_colitis_begun_under_14_days_ago_with_no_known_start_draws_no_band() -> None:
    # the first evidence, a level on 2026-11-20, is 11 days before now: no day has a known target
    story = story_of(colitis_request("2026-11-25T09:00:00Z", [level("d0", "2026-11-20T09:00:00Z", 12.0)]))
    assert story.bands == ()
    assert story.notes == (
        "Tacrolimus began on or before 2026-11-20 (no start on record): the colitis phase, and so the target,"
        " is not known for its first 14 days.",
        "No ulcerative colitis target is known for these dates: no band is drawn.",
    )


@pytest.mark.now(AS_OF)
def test_a_transplant_with_no_date_draws_no_band() -> None:
    # the label's targets are by months since the transplant: with no onset, none can be placed
    request = example()
    del entries(request, "conditions")[0]["resource"]["onsetDateTime"]
    story = story_of(request)
    assert story.bands == ()
    assert story.notes == (
        "kidney transplant has no date: the target by time since it cannot be drawn.",
        FLUCONAZOLE_HATCHED,
    )


@pytest.mark.now(AS_OF)
def test_the_picture_has_its_title_description_and_tables() -> None:
    story = story_of(example())
    drawn = picture.html(story, KNOWLEDGE)
    assert '<svg class="story-svg"' in drawn
    assert 'role="img" aria-labelledby="story-title story-desc"' in drawn
    assert (
        '<title id="story-title">Tacrolimus level story for Marta Example, born 1971-04-17, female,'
        " patient id example, 2026-06-02 to 2026-12-01</title>" in drawn
    )
    description = re.search(r'<desc id="story-desc">([^<]+)</desc>', drawn)
    assert description is not None
    assert "6 troughs, 1 given as a bound and 3 other results" in description.group(1)
    assert "<caption>Tacrolimus levels</caption>" in drawn
    assert "<td>10 nmol/L = 8 ng/mL</td>" in drawn


def test_no_level_dose_or_drug_draws_nothing() -> None:
    request = copy.deepcopy(example())
    for key in ("medicationRequests", "observations"):
        request["prefetch"][key]["entry"] = []
    assert picture.html(story_of(request), KNOWLEDGE) == ""


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(("value", "within"), [(4.9, False), (5.0, True), (15.0, True), (15.1, False)])
def test_a_trough_on_the_band_s_edge_is_within_it(value: float, within: bool) -> None:
    # 2026-11-01 is month 5 after the 2026-06-01 transplant: 5 to 15 ng/mL (label, with azathioprine)
    request = example()
    request["prefetch"]["observations"]["entry"] = [level("a", "2026-11-01T08:00:00Z", value)]
    (trough,) = story_of(request).troughs
    assert trough.within is within


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(("dropped", "figure"), [((), "14.3 %"), (("l6b",), None)])
def test_the_cv_needs_three_troughs_at_one_unchanged_dose(
    dropped: tuple[str, ...], figure: str | None
) -> None:
    # without the trough of 2026-11-17 only two troughs (6 and 8 ng/mL) were drawn on Advagraf 5 mg/day:
    # the three before them were at 8 and 6 mg/day of Prograf, so no CV, although six troughs remain
    request = example()
    entries(request, "observations")[:] = [
        e for e in entries(request, "observations") if e["resource"]["id"] not in dropped
    ]
    figures = {f.name: f for f in story_of(request).figures}
    cv = figures["Coefficient of variation (CV)"]
    assert cv.value == figure
    if figure is None:
        assert cv.note == (
            "Fewer than 3 troughs at one unchanged daily dose and formulation (the latest 2): no figure."
        )
        assert figures["Troughs within the band"].value == "4 of 6 (67 %)"  # with the "<2", outside
        assert cv.definition.startswith(
            "The standard deviation of the troughs divided by their mean, times 100"
        )
        assert cv.source == "gandolfini-2022-nonadherence"
        assert "(the latest 2): no figure." in picture.tables(story_of(request), KNOWLEDGE)


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("start", "end", "figure"),
    [
        ("2026-10-12", "2026-10-19", "14.3 %"),  # ended before the first trough of the run (2026-10-20)
        ("2026-10-25", "2026-11-01", None),  # between them
        ("2026-11-17", "2026-11-24", None),  # began the day of the last (08:00): taken by then
        ("2026-11-18", "2026-11-24", "14.3 %"),  # after the last
        # at the instant of the run's first or last trough: taken between them
        ("2026-10-12T08:00:00Z", "2026-10-20T08:00:00Z", None),  # ended the instant of the first
        ("2026-10-12T08:00:00Z", "2026-10-20T07:59:59Z", "14.3 %"),
        ("2026-11-17T08:00:00Z", "2026-11-24T08:00:00Z", None),  # began the instant of the last
        ("2026-11-17T08:00:01Z", "2026-11-24T08:00:00Z", "14.3 %"),
    ],
)
def test_no_cv_when_a_level_altering_drug_was_taken_between_its_troughs(
    start: str, end: str, figure: str | None
) -> None:
    # the run: Advagraf 5 mg/day troughs of 2026-10-20, 11-10 and 11-17; clarithromycin raises the level,
    # so a CV over troughs it was taken between measures the interaction, as a dose change would
    request = example()
    for entry in entries(request, "medicationRequests"):
        resource = entry["resource"]
        if resource["id"] == "clari":
            resource["authoredOn"] = start
            resource["dispenseRequest"]["validityPeriod"] = {"start": start, "end": end}
    cv = {f.name: f for f in story_of(request).figures}["Coefficient of variation (CV)"]
    assert cv.value == figure
    if figure is None:
        assert cv.note.startswith("Taken between these troughs: Clarithromycin 500 MG Oral Tablet (raises")
        assert cv.note.endswith("as with a dose change: no figure.")


def observation_entry(rid: str, moment: str, **value: Any) -> dict[str, Any]:
    found = level(rid, moment, 1.0)
    del found["resource"]["valueQuantity"]
    found["resource"].update(value)
    return found


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("moments", "shown", "note"),
    [
        # the window runs from the first tacrolimus on record (an order or a level) to now, edges included,
        # and over the last 12 months at most (365 days: from 2025-12-01T09:00Z)
        (["2026-06-02T00:00:00Z", "2026-12-01T09:00:00Z"], 2, None),
        (["2025-12-01T09:00:00Z"], 1, None),
        (["2025-12-01T08:59:59Z"], 0, "1 older tacrolimus level before 2025-12-01: not shown."),
        (
            ["2025-11-01T08:00:00Z", "2025-10-01T08:00:00Z"],
            0,
            "2 older tacrolimus levels before 2025-12-01: not shown.",
        ),
        (["2026-12-01T09:00:01Z"], 0, None),  # after now: neither shown nor older
    ],
)
def test_only_levels_in_the_window_are_shown_and_older_ones_counted(
    moments: list[str], shown: int, note: str | None
) -> None:
    request = example()
    request["prefetch"]["observations"]["entry"] = [level(f"o{n}", m, 9.0) for n, m in enumerate(moments)]
    story = story_of(request)
    assert len(story.points) == shown
    older = [n for n in story.notes if "older tacrolimus level" in n]
    assert older == ([note] if note else [])


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (
            {
                "valueCodeableConcept": {
                    "coding": [{"system": "urn:lab", "code": "HAEM", "display": "Haemolysed"}]
                }
            },
            "Haemolysed",
        ),
        ({}, "no value"),
    ],
)
def test_a_result_without_a_number_is_listed_with_what_it_says(value: dict[str, Any], shown: str) -> None:
    request = example()
    request["prefetch"]["observations"]["entry"] = [observation_entry("o1", "2026-11-27T08:00:00Z", **value)]
    [point] = story_of(request).points
    assert (point.shown, point.value, point.kind, point.listed_why) == (
        shown,
        None,
        "unknown",
        "no numeric value",
    )
    assert day(point.when) == "2026-11-27"


@pytest.mark.now(AS_OF)
@pytest.mark.now(AS_OF)
def test_no_trough_no_figures() -> None:
    request = example()
    request["prefetch"]["observations"]["entry"] = []
    figures = {f.name: f for f in story_of(request).figures}
    ratio = figures["Concentration/dose ratio (C/D)"]
    assert (ratio.value, ratio.rests_on, ratio.note) == (
        None,
        "0 of 0 troughs with a readable oral dose",
        "No trough with a readable oral dose in force: no ratio.",
    )
    assert ratio.source == "gandolfini-2022-nonadherence"
    cv, share = figures["Coefficient of variation (CV)"], figures["Troughs within the band"]
    assert (cv.value, cv.rests_on, cv.note) == (
        None,
        "troughs from none, n = 0",
        "Fewer than 3 troughs (0): no figure.",
    )
    assert cv.source == "gandolfini-2022-nonadherence"
    assert (share.value, share.rests_on) == (None, "troughs from none, n = 0")


@pytest.mark.now(AS_OF)
def test_without_a_band_in_force_there_is_no_share() -> None:
    request = example()
    request["prefetch"]["conditions"]["entry"] = []  # no transplant: no target drawn
    story = story_of(request)
    share = {f.name: f for f in story.figures}["Troughs within the band"]
    assert share.value is None
    assert share.note == "No band in force at any trough: no share."
    assert share.rests_on == "troughs from 2026-07-01 to 2026-11-17, n = 6; 0 with a band in force"
    assert story.notes == (
        "No transplant or colitis on record: no target band is drawn.",
        FLUCONAZOLE_HATCHED,
    )


@pytest.mark.now(AS_OF)
def test_a_bound_that_reaches_into_the_band_is_not_counted() -> None:
    # "<6" on 2026-11-15 may be anything below 6, within 5 to 15 or not: not counted either way
    request = example()
    for entry in entries(request, "observations"):
        quantity = entry["resource"].get("valueQuantity", {})
        if quantity.get("comparator") == "<":
            quantity["value"] = 6
    share = {f.name: f for f in story_of(request).figures}["Troughs within the band"]
    assert share.value == "5 of 6 (83 %)"  # the six measured troughs, one (6 on 2026-08-31) below 7 to 20
    assert share.note == "1 given as a bound (<6 ng/mL on 2026-11-15) not counted: it reaches into the band."


@pytest.mark.now(AS_OF)
def test_the_example_s_only_note_is_the_drug_with_no_end() -> None:
    # the kidney transplant has its date and a target on every day; every tacrolimus order has a date and an
    # end; clarithromycin's end is recorded: only fluconazole (stopped, no end date) needs saying
    assert story_of(example()).notes == (FLUCONAZOLE_HATCHED,)


@pytest.mark.now(AS_OF)
def test_draft_orders_are_neither_dose_steps_nor_drug_bars() -> None:
    # an order being signed is not yet taken: the story is the record's, drawn as before the drafts
    draft_tacrolimus = medication_request(
        "draft-tac",
        "Tacrolimus 1 MG Oral Capsule [Prograf]",
        status="draft",
        code="108513",
        authoredOn="2026-11-20",
        dispenseRequest={"validityPeriod": {"start": "2026-11-20", "end": "2027-02-20"}},
        dosageInstruction=[{"text": "4 mg twice daily"}],
    )
    draft_itraconazole = medication_request(
        "draft-itra", "Itraconazole 100 MG Oral Capsule", status="draft", authoredOn="2026-11-28"
    )
    story = story_of(example(), drafts=[draft_tacrolimus, draft_itraconazole])
    assert [(day(s.start), day(s.end), s.daily_mg) for s in story.doses] == [
        ("2026-06-02", "2026-08-01", 8.0),
        ("2026-08-01", "2026-10-05", 6.0),
        ("2026-10-05", "2026-12-01", 5.0),
    ]
    assert [b.name for b in story.drugs] == [
        "Fluconazole 50 MG Oral Capsule",
        "Clarithromycin 500 MG Oral Tablet",
    ]
    assert story.notes == (FLUCONAZOLE_HATCHED,)


@pytest.mark.now(AS_OF)
def test_a_level_known_only_by_its_name_is_drawn() -> None:
    # a laboratory's own code, no LOINC: known as a tacrolimus level by its name
    request = example()
    local = level("local", "2026-11-10T08:00:00Z", 9.0)
    local["resource"]["code"] = {
        "coding": [{"system": "urn:lab", "code": "TACRO"}],
        "text": "Tacrolimus trough, whole blood",
    }
    request["prefetch"]["observations"]["entry"] = [local]
    [trough] = story_of(request).troughs
    assert (day(trough.when), trough.shown, trough.value, trough.within) == (
        "2026-11-10",
        "9 ng/mL",
        9.0,
        True,
    )


@pytest.mark.now(AS_OF)
def test_with_no_tacrolimus_or_level_the_window_is_the_last_12_months() -> None:
    # no evidence of tacrolimus: the window is the last 365 days, and the interacting drugs in it are drawn
    request = example()
    request["prefetch"]["observations"]["entry"] = []
    entries(request, "medicationRequests")[:] = [
        e for e in entries(request, "medicationRequests") if e["resource"]["id"] in ("clari", "fluc")
    ]
    story = story_of(request)
    assert (day(story.start), day(story.end)) == ("2025-12-01", "2026-12-01")
    assert [(b.name, day(b.start), day(b.end)) for b in story.drugs] == [
        ("Fluconazole 50 MG Oral Capsule", "2026-07-10", "2026-12-01"),
        ("Clarithromycin 500 MG Oral Tablet", "2026-10-10", "2026-10-17"),
    ]
    assert picture.html(story, KNOWLEDGE) != ""


@pytest.mark.now(AS_OF)
def test_a_tacrolimus_record_with_no_date_is_said_not_drawn() -> None:
    request = example()
    statement = {
        "resourceType": "MedicationStatement",
        "id": "tac-undated",
        "status": "active",
        "medicationCodeableConcept": {"text": "Tacrolimus 1 MG Oral Capsule [Prograf]"},
    }
    request["prefetch"]["medicationStatements"]["entry"] = [{"resource": statement}]
    story = story_of(request)
    assert "1 tacrolimus record with no date: not in the dose steps." in story.notes
    assert [s.daily_mg for s in story.doses] == [8.0, 6.0, 5.0]


@pytest.mark.now(AS_OF)
def test_a_record_with_no_patient_resource_names_the_patient_by_id_only() -> None:
    request = example()
    del request["prefetch"]["patient"]
    story = story_of(request)
    assert (story.patient_name, story.birth_date, story.gender) == ("", None, "")
    assert (
        '<title id="story-title">Tacrolimus level story for patient id example, 2026-06-02 to 2026-12-01'
        "</title>" in picture.svg(story)
    )


@pytest.mark.now(AS_OF)
def test_which_interacting_drugs_get_a_bar() -> None:
    # the window runs from 2026-06-02 (the first tacrolimus order); each record placed before the example's
    # clarithromycin and fluconazole, which keep their bars whatever comes before them
    request = example()
    entries(request, "medicationRequests")[3:3] = [
        course(
            "keto", "Ketoconazole 20 MG/ML Topical Cream", "2026-09-01", "2026-09-20"
        ),  # on the skin: none
        course("dil", "Diltiazem 120 MG Oral Capsule"),  # no date: said, no bar
        course("ver-old", "Nicardipine 20 MG Oral Capsule", "2026-05-01", "2026-06-01"),  # ended before it
        # ended the day tacrolimus began (an end date includes its day): taken with it, drawn at the edge
        course("nif", "Nifedipine 30 MG Oral Tablet", "2026-05-01", "2026-06-02"),
        # two orders of one drug, the later-starting one ending first: one bar, to the latest end
        course("ver-x", "Verapamil 120 MG Oral Tablet", "2026-07-01", "2026-07-20"),
        course("ver-y", "Verapamil 120 MG Oral Tablet", "2026-06-15", "2026-11-01"),
    ]
    story = story_of(request)
    assert [(b.name, b.effect, day(b.start), day(b.end), b.end_known) for b in story.drugs] == [
        ("Nifedipine 30 MG Oral Tablet", "raises", "2026-06-02", "2026-06-02", True),
        ("Verapamil 120 MG Oral Tablet", "raises", "2026-06-15", "2026-11-01", True),
        ("Fluconazole 50 MG Oral Capsule", "raises", "2026-07-10", "2026-12-01", False),
        ("Clarithromycin 500 MG Oral Tablet", "raises", "2026-10-10", "2026-10-17", True),
    ]
    assert story.notes == (
        "Diltiazem 120 MG Oral Capsule has no date: no bar is drawn for it.",
        FLUCONAZOLE_HATCHED,
    )


@pytest.mark.now(AS_OF)
def test_a_drug_with_no_name_is_named_by_its_record() -> None:
    # clarithromycin 500 mg tablets known by their RxNorm code alone: the bar names the order it comes from
    request = example()
    entries(request, "medicationRequests").append(
        {
            "resource": {
                "resourceType": "MedicationRequest",
                "id": "clari-2",
                "status": "completed",
                "intent": "order",
                "authoredOn": "2026-11-01",
                "dispenseRequest": {"validityPeriod": {"start": "2026-11-01", "end": "2026-11-05"}},
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "197517"}]},
            }
        }
    )
    story = story_of(request)
    assert [(b.name, day(b.start), day(b.end)) for b in story.drugs][-1] == (
        "MedicationRequest/clari-2",
        "2026-11-01",
        "2026-11-05",
    )


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("start", "end", "beside"),
    [
        # the troughs: 2026-08-31, 09-01, 10-20 08:00Z, 11-10 08:00Z, the "<2" of 11-15, 11-17; a drug is
        # beside each trough it was taken at or since the trough before, edges included
        ("2026-10-15", "2026-11-12", ["2026-10-20", "2026-11-10", "2026-11-15"]),  # across two troughs
        ("2026-10-20T08:00:00Z", "2026-10-25", ["2026-10-20", "2026-11-10"]),  # began the trough's instant
        ("2026-10-20T08:00:01Z", "2026-10-25", ["2026-11-10"]),
        ("2026-11-01", "2026-11-10T08:00:00Z", ["2026-11-10", "2026-11-15"]),  # ended the trough's instant
        ("2026-11-01", "2026-11-10T07:59:59Z", ["2026-11-10"]),
    ],
)
def test_the_drugs_taken_since_the_trough_before(start: str, end: str, beside: list[str]) -> None:
    request = example()
    for entry in entries(request, "medicationRequests"):
        resource = entry["resource"]
        if resource["id"] == "clari":
            resource["authoredOn"] = start
            resource["dispenseRequest"]["validityPeriod"] = {"start": start, "end": end}
    story = story_of(request)
    taken = "Clarithromycin 500 MG Oral Tablet (raises)"
    assert [day(p.when) for p in story.points if taken in p.drugs_before] == beside


@pytest.mark.now(AS_OF)
def test_a_level_that_cannot_be_read_does_not_end_the_drugs_since_the_trough_before() -> None:
    # clarithromycin 2026-10-10 to 10-17; a result in mg/dL on 10-18 is not a trough the story can read: the
    # trough of 10-25 is the first after 10-01's, so clarithromycin is beside it (and fluconazole, from
    # 2026-07-10 with no end, beside the first trough after its start only)
    request = example()
    request["prefetch"]["observations"]["entry"] = [
        level("a", "2026-10-01T08:00:00Z", 6.0),
        level("b", "2026-10-18T08:00:00Z", 0.6, "mg/dL"),
        level("c", "2026-10-25T08:00:00Z", 9.0),
    ]
    points = story_of(request).points
    assert [(day(p.when), p.drugs_before) for p in points] == [
        ("2026-10-01", ("Fluconazole 50 MG Oral Capsule (raises; from 2026-07-10, end not recorded)",)),
        ("2026-10-18", ()),
        ("2026-10-25", ("Clarithromycin 500 MG Oral Tablet (raises)",)),
    ]


def bound(rid: str, moment: str, comparator: str, value: float) -> dict[str, Any]:
    found = level(rid, moment, value)
    found["resource"]["valueQuantity"]["comparator"] = comparator
    return found


@pytest.mark.now(AS_OF)
def test_bounds_outside_the_band_and_reaching_into_it_are_each_listed() -> None:
    # besides the example's "<2" of 2026-11-15: "<2" on 11-16 and ">30" on 11-18, wholly outside 5 to 15, and
    # "<6" on 11-19, which reaches into it; six measured troughs, five within: 5 of 6 + 3 = 9, 56 %
    request = example()
    entries(request, "observations").extend(
        [
            bound("b1", "2026-11-16T08:00:00Z", "<", 2.0),
            bound("b2", "2026-11-18T08:00:00Z", ">", 30.0),
            bound("b3", "2026-11-19T08:00:00Z", "<", 6.0),
        ]
    )
    figures = {f.name: f for f in story_of(request).figures}
    share = figures["Troughs within the band"]
    assert share.value == "5 of 9 (56 %)"
    assert share.note == (
        "3 given as a bound (<2 ng/mL on 2026-11-15, <2 ng/mL on 2026-11-16, >30 ng/mL on 2026-11-18) counted"
        " as outside: the whole of its range is outside the band; 1 given as a bound (<6 ng/mL on 2026-11-19)"
        " not counted: it reaches into the band."
    )
    # the CV's run is 2026-10-20 to 11-17: the two "<2" between them are said, the later bounds are not
    assert figures["Coefficient of variation (CV)"].note.endswith(
        "; not in it: <2 ng/mL on 2026-11-15, <2 ng/mL on 2026-11-16, given as a bound."
    )


@pytest.mark.now(AS_OF)
def test_figures_with_nothing_to_add_have_no_note() -> None:
    # three troughs at Advagraf 5 mg/day, all within 5 to 15, no bound, and no interacting drug (fluconazole
    # and clarithromycin removed): nothing to say beside the CV or the share
    request = example()
    entries(request, "medicationRequests")[:] = [
        e for e in entries(request, "medicationRequests") if e["resource"]["id"] not in ("clari", "fluc")
    ]
    request["prefetch"]["observations"]["entry"] = [
        level("a", "2026-11-01T08:00:00Z", 10.0),
        level("b", "2026-11-08T08:00:00Z", 12.0),
        level("c", "2026-11-15T08:00:00Z", 14.0),
    ]
    figures = {f.name: f for f in story_of(request).figures}
    cv, share = figures["Coefficient of variation (CV)"], figures["Troughs within the band"]
    assert (cv.value, cv.note) == ("16.7 %", "")  # mean 12, sample SD 2
    assert (share.value, share.note) == ("3 of 3 (100 %)", "")


ADVAGRAF_RUN = (
    "the troughs at 5 mg/day (Advagraf / Astagraf XL prolonged-release capsules, once daily), 2026-10-20 to"
    " 2026-11-17, n = 3"
)


@pytest.mark.now(AS_OF)
def test_no_cv_when_two_level_altering_drugs_were_taken_between_its_troughs() -> None:
    # clarithromycin (raises) 2026-10-25 to 11-01 and rifampicin (lowers) 11-02 to 11-05, both between the
    # Advagraf troughs of 2026-10-20 and 11-17: each named, no figure
    request = example()
    for entry in entries(request, "medicationRequests"):
        resource = entry["resource"]
        if resource["id"] == "clari":
            resource["authoredOn"] = "2026-10-25"
            resource["dispenseRequest"]["validityPeriod"] = {"start": "2026-10-25", "end": "2026-11-01"}
    entries(request, "medicationRequests").append(
        course("rif", "Rifampicin 300 MG Oral Capsule", "2026-11-02", "2026-11-05")
    )
    story = story_of(request)
    cv = {f.name: f for f in story.figures}["Coefficient of variation (CV)"]
    assert cv.value is None
    assert cv.note == (
        "Taken between these troughs: Clarithromycin 500 MG Oral Tablet (raises levels); Rifampicin 300 MG"
        " Oral Capsule (lowers levels). The level changes with it, as with a dose change: no figure."
    )
    assert cv.rests_on == ADVAGRAF_RUN
    assert cv.definition.startswith("The standard deviation of the troughs divided by their mean, times 100")
    assert cv.source == "gandolfini-2022-nonadherence"
    assert f"Rests on {ADVAGRAF_RUN}." in picture.tables(story, KNOWLEDGE)


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("start", "beside"),
    [
        ("2026-10-20T08:00:00Z", ["2026-10-20"]),  # at the trough's instant: beside it, not the next too
        ("2026-10-20T07:59:59Z", ["2026-10-20"]),
        ("2026-10-20T08:00:01Z", ["2026-11-10"]),  # after it: beside the next one
        # begun before the window (from 2026-06-02, the first tacrolimus order): its bar starts at the
        # window's start, and it is beside the window's first trough (2026-07-01)
        ("2026-05-01", ["2026-07-01"]),
    ],
)
def test_a_drug_with_no_end_is_beside_one_trough_even_when_it_began_at_one(
    start: str, beside: list[str]
) -> None:
    # fluconazole with no end recorded (the example's, started here at `start`): beside the first trough at or
    # after its start only; the troughs: 2026-10-20 08:00Z, 11-10 08:00Z
    request = example()
    for entry in entries(request, "medicationRequests"):
        if entry["resource"]["id"] == "fluc":
            entry["resource"]["authoredOn"] = start
    points = story_of(request).points
    assert [day(p.when) for p in points if any(d.startswith("Fluconazole") for d in p.drugs_before)] == beside


@pytest.mark.now(AS_OF)
def test_a_cv_with_too_few_troughs_says_why_and_not_what_it_rests_on() -> None:
    # three troughs, the latest two at one dose (Advagraf 5 mg/day from 2026-10-05; Prograf before it)
    request = example()
    request["prefetch"]["observations"]["entry"] = [
        level("p", "2026-09-01T08:00:00Z", 6.0),
        level("a", "2026-10-20T08:00:00Z", 6.0),
        level("b", "2026-11-10T08:00:00Z", 8.0),
    ]
    page = picture.tables(story_of(request), KNOWLEDGE)
    assert (
        "Fewer than 3 troughs at one unchanged daily dose and formulation (the latest 2): no figure." in page
    )
    assert "Rests on ." not in page
    # the CV's entry has no "Rests on" at all (the C/D and the share beside it each say what they rest on)
    found = re.search(r"<dt>Coefficient of variation \(CV\):.*?</dd>", page)
    assert found is not None
    assert "Rests on" not in found.group(0)


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("moment", "said"),
    [
        ("2026-10-20T07:59:59Z", ""),  # a second before the run's first trough: outside it
        ("2026-10-20T08:00:00Z", "<2 ng/mL on 2026-10-20, "),  # at the first trough's instant: within
        ("2026-11-17T08:00:00Z", "<2 ng/mL on 2026-11-17, "),  # at the last trough's instant: within
    ],
)
def test_a_bound_at_the_instant_of_the_cv_s_first_or_last_trough_is_said_to_be_left_out(
    moment: str, said: str
) -> None:
    # the CV's run is the troughs of 2026-10-20, 11-10 and 11-17 (08:00Z each, the example); a bound taken at
    # the very instant of either end falls within the dates the CV rests on, so the note names it
    request = example()
    entries(request, "observations").append(bound("b0", moment, "<", 2.0))
    figures = {f.name: f for f in story_of(request).figures}
    note = figures["Coefficient of variation (CV)"].note
    if said.endswith("2026-10-20, "):
        assert note.endswith(f"; not in it: {said}<2 ng/mL on 2026-11-15, given as a bound.")
    elif said:
        assert note.endswith(f"; not in it: <2 ng/mL on 2026-11-15, {said[:-2]}, given as a bound.")
    else:
        assert note.endswith("; not in it: <2 ng/mL on 2026-11-15, given as a bound.")
