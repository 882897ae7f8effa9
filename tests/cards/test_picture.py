"""The level story as drawn: the tables beside the picture (for screen readers and print) carry every fact
of the story row by row, the picture's description says the same in words, and its axes and geometry
place each date and value where it belongs.

The fixture is the bundled example "Six months of levels" (cards/examples/level-story.json), whose facts
tests/cards/test_story.py derives by hand: troughs 12, 6, 6, 6, 8 (10 nmol/L) and 7 ng/mL, a "<2" given as
a bound, targets 7 to 20 then 5 to 15 ng/mL (Prograf US label, kidney, with azathioprine), Prograf 8 then
6 mg/day, then Advagraf 5 mg once daily, fluconazole from 2026-07-10 with no end and clarithromycin
2026-10-10 to 2026-10-17. The window runs from the first tacrolimus on record, 2026-06-02, to the example's
instant, 2026-12-01T09:00Z."""

import dataclasses
import itertools
import re
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any
from xml.etree import ElementTree

import pytest

from cards import picture
from cards.story import DoseStep, DrugBar, Figure, Point, Story
from tests.cards.test_story import AS_OF, KNOWLEDGE, entries, example, level, story_of

PLUS_TEN = timezone(timedelta(hours=10))


class Tables(HTMLParser):
    """Each table's caption and its rows of cell texts, and any text outside a cell, a caption or another
    element that holds text (a browser would show it, out of place, above the table or between rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self.stray: list[str] = []
        self._text: list[str] | None = None
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open.append(tag)
        if tag == "table":
            self.tables.append(("", []))
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("td", "th", "caption"):
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        assert self._open.pop() == tag
        if tag == "caption" and self._text is not None:
            self.tables[-1] = ("".join(self._text), self.tables[-1][1])
        elif tag in ("td", "th") and self._text is not None:
            self.tables[-1][1][-1].append("".join(self._text))
        if tag in ("td", "th", "caption"):
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)
        elif data.strip() and (not self._open or self._open[-1] in ("table", "tr", "dl", "ul")):
            self.stray.append(data)


def tables_of(story: Story) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(picture.tables(story, KNOWLEDGE))
    parser.close()
    assert parser.stray == []
    assert parser._open == []
    return dict(parser.tables)


KIDNEY = "adult kidney transplant with azathioprine"
TRANSPLANT = "transplant on 2026-06-01"
USPI = "Prograf US prescribing information"  # the label the kidney targets come from (README, Sources)


@pytest.mark.now(AS_OF)
def test_the_levels_table_has_a_row_for_every_result_with_its_target_dose_and_ratio() -> None:
    levels = tables_of(story_of(example()))["Tacrolimus levels"]
    assert levels[0] == [
        "date",
        "as recorded",
        "ng/mL",
        "what it is",
        "target in force (ng/mL)",
        "within",
        "daily dose in force",
        "C/D (ng/mL per mg/day)",
        "level-altering drugs since the trough before",
    ]
    bound = "a bound, not a measured value: drawn at its bound, not in the CV or the C/D"
    fluconazole = "Fluconazole 50 MG Oral Capsule (raises; from 2026-07-10, end not recorded)"
    assert levels[1:] == [
        # C/D: 12/8, 6/6, 6/6, 6/5, 8/5, 7/5, to two decimals
        ["2026-07-01", "12 ng/mL", "12", "trough", "7 to 20", "yes", "8 mg/day", "1.50", ""],
        ["2026-08-31", "6 ng/mL", "6", "trough", "7 to 20", "no", "6 mg/day", "1.00", fluconazole],
        ["2026-09-01", "6 ng/mL", "6", "trough", "5 to 15", "yes", "6 mg/day", "1.00", ""],
        [
            "2026-10-20",
            "6 ng/mL",
            "6",
            "trough",
            "5 to 15",
            "yes",
            "5 mg/day",
            "1.20",
            "Clarithromycin 500 MG Oral Tablet (raises)",
        ],
        ["2026-11-10", "10 nmol/L = 8 ng/mL", "8", "trough", "5 to 15", "yes", "5 mg/day", "1.60", ""],
        [
            "2026-11-15",
            "<2 ng/mL (note: Sample drawn from the line used for the infusion: repeat requested.)",
            bound,
            "trough",
            "5 to 15",
            "no",  # all of "<2" is below 5
            "5 mg/day",
            "",
            "",
        ],
        ["2026-11-17", "7 ng/mL", "7", "trough", "5 to 15", "yes", "5 mg/day", "1.40", ""],
        ["2026-11-20", "25 ng/mL", "25", "2 hour: not a trough, not judged", "", "", "", "", ""],
        ["2026-11-25", "7 ng/mL (preliminary)", "7", "preliminary result, not judged", "", "", "", "", ""],
        [
            "2026-11-27",
            "Sample haemolysed: not measured",
            "listed, not plotted: no numeric value",
            "result",
            "",
            "",
            "",
            "",
            "",
        ],
    ]


@pytest.mark.now(AS_OF)
def test_the_bands_doses_and_drugs_tables() -> None:
    found = tables_of(story_of(example()))
    assert found["Target bands"] == [
        ["from", "to", "ng/mL", "basis", "source"],
        [
            "2026-06-02",
            "2026-09-01",
            "7 to 20",
            f"US label, {KIDNEY}, months 1 to 3 after transplant; {TRANSPLANT}",
            USPI,
        ],
        [
            "2026-09-01",
            "2026-10-05",
            "5 to 15",
            f"US label, {KIDNEY}, months 4 to 12 after transplant; {TRANSPLANT}",
            USPI,
        ],
        [
            "2026-10-05",
            "2026-12-01",
            "5 to 15",
            "US label (Prograf, immediate-release) applied to Advagraf (the monograph: trough and exposure"
            f" relate alike for both), {KIDNEY}, months 4 to 12 after transplant; {TRANSPLANT}",
            USPI,
        ],
    ]
    assert found["Total daily dose of tacrolimus"] == [
        ["from", "to", "daily dose", "what the records say", "formulation"],
        [
            "2026-06-02",
            "2026-08-01",
            "8 mg/day",
            "4 mg every 12 hours = 8 mg/day",
            "immediate-release tacrolimus, every 12 hours",
        ],
        [
            "2026-08-01",
            "2026-10-05",
            "6 mg/day",
            "3 mg every 12 hours = 6 mg/day",
            "immediate-release tacrolimus, every 12 hours",
        ],
        [
            "2026-10-05",
            "2026-12-01",
            "5 mg/day",
            "5 mg once daily = 5 mg/day",
            "Advagraf / Astagraf XL prolonged-release capsules, once daily (changed)",
        ],
    ]
    assert found["Drugs that raise or lower the tacrolimus level"] == [
        ["drug", "effect", "from", "to"],
        ["Fluconazole 50 MG Oral Capsule", "raises", "2026-07-10", "not recorded"],
        ["Clarithromycin 500 MG Oral Tablet", "raises", "2026-10-10", "2026-10-17"],
    ]


@pytest.mark.now(AS_OF)
def test_the_derived_figures_with_their_definitions_and_sources() -> None:
    drawn = picture.tables(story_of(example()), KNOWLEDGE)
    assert "<h3>Derived figures (shown, not judged)</h3>" in drawn
    gandolfini = (
        ' Source: <a href="https://pmc.ncbi.nlm.nih.gov/articles/PMC9217626/" rel="noopener noreferrer">'
        "Gandolfini et al. 2022: detecting non-adherence after kidney transplant (review)</a>.</dd>"
    )
    assert "<dt>Concentration/dose ratio (C/D): <strong>1.40 ng/mL per mg/day (latest)</strong></dt>" in drawn
    assert "Rests on 6 of 6 troughs with a readable oral dose." + gandolfini in drawn
    assert "<dt>Coefficient of variation (CV): <strong>14.3 %</strong></dt>" in drawn
    # the CV's note, escaped, then its source
    assert "not in it: &lt;2 ng/mL on 2026-11-15, given as a bound." + gandolfini in drawn
    # the share within the band has no source of its own: its definition ends the entry
    assert drawn.count(gandolfini) == 2
    assert "the whole of its range is outside the band.</dd></dl>" in drawn
    tables_of(story_of(example()))  # no text between the entries, or anywhere outside an element's text


def test_a_figure_without_a_value_or_a_known_source() -> None:
    figure = Figure(
        name="CV",
        value=None,
        definition="The SD over the mean.",
        rests_on="no trough",
        note="",
        source="nowhere",
    )
    story = dataclasses.replace(story_of(example()), figures=(figure,))
    drawn = picture.tables(story, KNOWLEDGE)
    assert (
        "<dt>CV: <strong>no figure</strong></dt><dd>The SD over the mean. Rests on no trough.</dd>" in drawn
    )


def test_a_figure_resting_on_nothing_gives_only_its_note() -> None:
    # the CV with too few troughs at one dose (cards/story.py) rests on nothing: its note says why
    why = "Fewer than 3 troughs at one unchanged daily dose and formulation (the latest 2): no figure."
    figure = Figure(
        name="CV", value=None, definition="The SD over the mean.", rests_on="", note=why, source=""
    )
    story = dataclasses.replace(story_of(example()), figures=(figure,))
    drawn = picture.tables(story, KNOWLEDGE)
    assert f"<dt>CV: <strong>no figure</strong></dt><dd>The SD over the mean. {why}</dd>" in drawn


@pytest.mark.now(AS_OF)
def test_what_could_not_be_drawn_is_listed_escaped() -> None:
    story = dataclasses.replace(story_of(example()), notes=("a level <unreadable>", "a dose"))
    drawn = picture.tables(story, KNOWLEDGE)
    assert drawn.endswith("<h3>Not drawn</h3><ul><li>a level &lt;unreadable&gt;</li><li>a dose</li></ul>")
    assert "Not drawn" not in picture.tables(dataclasses.replace(story, notes=()), KNOWLEDGE)


@pytest.mark.now(AS_OF)
def test_each_target_band_links_to_the_source_of_its_range() -> None:
    story = story_of(example())
    first = story.bands[0]
    colitis = dataclasses.replace(first, source="uc-summary")
    unknown = dataclasses.replace(first, source="no-such-source")
    drawn = picture.tables(dataclasses.replace(story, bands=(first, colitis, unknown)), KNOWLEDGE)
    assert (
        '<td><a href="https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=7f667de1-9dfa-4bd6-8ba0-15ee2d78873b"'
        ' rel="noopener noreferrer">Prograf US prescribing information</a></td></tr>'
    ) in drawn
    assert (
        '<a href="https://www.droracle.ai/articles/131672/what-is-the-role-of-tacrolimus-fk506-as-rescue"'
        in drawn
    )
    rows = tables_of(dataclasses.replace(story, bands=(first, colitis, unknown)))["Target bands"]
    assert [row[-1] for row in rows] == [
        "source",
        "Prograf US prescribing information",
        "Online Q&A summary on tacrolimus in acute severe UC (cites ECCO)",
        "",  # a key sources.json does not hold: the cell is there, empty
    ]


@pytest.mark.now(AS_OF)
def test_empty_tables_say_so() -> None:
    bare = dataclasses.replace(
        story_of(example()), points=(), bands=(), doses=(), drugs=(), figures=(), notes=()
    )
    found = tables_of(bare)
    assert found["Tacrolimus levels"][1:] == [["No tacrolimus level in the window."]]
    assert found["Target bands"][1:] == [["None drawn."]]
    assert found["Total daily dose of tacrolimus"][1:] == [["No dated tacrolimus record in the window."]]
    assert found["Drugs that raise or lower the tacrolimus level"][1:] == [["None."]]
    assert picture.html(bare, KNOWLEDGE) == ""  # nothing to draw: no figure at all


@pytest.mark.now(AS_OF)
def test_the_description_says_the_story_in_words() -> None:
    story = story_of(example())
    assert picture.describe(story) == (
        "Tacrolimus levels from 2026-06-02 to 2026-12-01: 6 troughs, 1 given as a bound and 3 other results;"
        " the latest trough 7 ng/mL on 2026-11-17;"
        " target bands 7 to 20 ng/mL from 2026-06-02, 5 to 15 ng/mL from 2026-09-01, 5 to 15 ng/mL from"
        " 2026-10-05; 3 dose steps, the latest 5 mg/day; level-altering drugs Fluconazole 50 MG Oral Capsule"
        " (raises), Clarithromycin 500 MG Oral Tablet (raises)."
    )
    bare = dataclasses.replace(story, points=(), bands=(), doses=(), drugs=())
    assert picture.describe(bare) == "Tacrolimus levels from 2026-06-02 to 2026-12-01: 0 troughs."
    drawn = picture.svg(story)
    assert (
        '<title id="story-title">Tacrolimus level story for Marta Example, born 1971-04-17, female,' in drawn
    )
    assert " patient id example, 2026-06-02 to 2026-12-01</title>" in drawn
    assert f'<desc id="story-desc">{picture.describe(story)}</desc>' in drawn
    html = picture.html(story, KNOWLEDGE)
    assert html.startswith('<figure class="level-story"><svg ')
    assert "<figcaption>The level story: tacrolimus levels against the target in force" in html


def test_the_patient_is_named_by_what_the_record_gives() -> None:
    story = story_of(example())
    assert picture.who(dataclasses.replace(story, patient_name="", birth_date=None, gender="")) == (
        "patient id example"
    )


def month_starts(*days: str, zone: timezone = UTC) -> list[datetime]:
    return [datetime.fromisoformat(d).replace(tzinfo=zone) for d in days]


@pytest.mark.now(AS_OF)
def test_the_axis_marks_the_first_of_each_month() -> None:
    story = story_of(example())  # 2026-06-02 to 2026-12-01
    assert picture._ticks(story) == month_starts(
        "2026-07-01", "2026-08-01", "2026-09-01", "2026-10-01", "2026-11-01", "2026-12-01"
    )
    over_new_year = dataclasses.replace(
        story, start=datetime(2026, 11, 15, tzinfo=UTC), end=datetime(2027, 2, 10, tzinfo=UTC)
    )
    assert picture._ticks(over_new_year) == month_starts("2026-12-01", "2027-01-01", "2027-02-01")


@pytest.mark.now(AS_OF)
def test_the_axis_is_at_the_offset_of_the_latest_level() -> None:
    story = story_of(example())
    latest = dataclasses.replace(story.points[-1], when=datetime(2026, 11, 27, 8, 0, tzinfo=PLUS_TEN))
    ticks = picture._ticks(dataclasses.replace(story, points=(*story.points[:-1], latest)))
    # 2026-06-02T00:00Z is 10:00 at +10:00, 2026-12-01T09:00Z is 19:00: the same six months
    assert ticks == month_starts(
        "2026-07-01", "2026-08-01", "2026-09-01", "2026-10-01", "2026-11-01", "2026-12-01", zone=PLUS_TEN
    )


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("days", "expected"),
    [
        # under 60 days: a tick each week from the day after the start
        (59, ["2026-10-04", "2026-10-11", "2026-10-18", "2026-10-25", "2026-11-01", "2026-11-08"]),
        (60, ["2026-11-01", "2026-12-01"]),  # 60 days: the first of each month in the window
    ],
)
def test_a_short_window_is_marked_weekly(days: int, expected: list[str]) -> None:
    end = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    short = dataclasses.replace(story_of(example()), start=end - timedelta(days=days), end=end)
    ticks = picture._ticks(short)
    if days == 59:  # and on to the end: ..., 2026-11-15, 2026-11-22, 2026-11-29
        expected = [*expected, "2026-11-15", "2026-11-22", "2026-11-29"]
    assert ticks == month_starts(*expected)


def test_instants_and_values_are_placed_on_the_drawing() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    scale = picture.Scale(start, start + timedelta(days=10))
    # the plot runs from x = 78 to x = 900 - 20 = 880: 802 wide
    assert scale.x(start) == 78.0
    assert scale.x(start + timedelta(days=5)) == 479.0
    assert scale.x(start + timedelta(days=10)) == 880.0
    assert scale.x(start - timedelta(days=3)) == 78.0  # before the window: at its edge, not off it
    assert scale.x(start + timedelta(days=30)) == 880.0
    one_instant = picture.Scale(start, start)  # a window of no length spans one day
    assert one_instant.x(start + timedelta(hours=12)) == 479.0
    # values: 5 of at most 20 in a panel 230 high from y = 44 is 57.5 above its foot at 274
    assert picture._y(5, 44, 230, 20) == 216.5
    assert picture._y(0, 44, 230, 20) == 274.0
    assert picture._y(30, 44, 230, 20) == 44.0  # above the axis's top: at the top
    # the axis's top: the next multiple of the step at or above the value, never below one step
    assert picture._nice(12.1, 5) == 15
    assert picture._nice(15, 5) == 15
    assert picture._nice(0.4, 5) == 5


def test_a_label_never_runs_off_the_right_edge() -> None:
    # ten characters are about 56 wide; the edge is at 900 - 4 = 896
    assert picture._label(840, 10, "abcdefghij") == (
        '<text class="small" x="840" y="10" text-anchor="start">abcdefghij</text>'
    )
    assert picture._label(841, 10, "abcdefghij") == (
        '<text class="small" x="841" y="10" text-anchor="end">abcdefghij</text>'
    )
    assert picture._label(899, 10, "abcdefghij") == (
        '<text class="small" x="896" y="10" text-anchor="end">abcdefghij</text>'
    )
    assert picture._label(868, 10, "abcdefghij", "middle") == (
        '<text class="small" x="868" y="10" text-anchor="middle">abcdefghij</text>'
    )
    assert picture._label(869, 10, "a<b&cdefgh", "middle") == (
        '<text class="small" x="896" y="10" text-anchor="end">a&lt;b&amp;cdefgh</text>'
    )


SVG = "{http://www.w3.org/2000/svg}"


def drawing() -> ElementTree.Element:
    return ElementTree.fromstring(picture.svg(story_of(example())))  # noqa: S314 (our own drawing)


def shapes(root: ElementTree.Element, tag: str, look: str | None = None) -> list[ElementTree.Element]:
    return [e for e in root.iter(SVG + tag) if look is None or e.get("class") == look]


def title(element: ElementTree.Element) -> str:
    found = element.find(SVG + "title")
    assert found is not None
    assert found.text is not None
    return found.text


def level_y(value: float) -> float:
    """The level axis of the example runs to 25 ng/mL (its highest band, 20, and the monograph's ceiling of
    20, plus a tenth, to the next multiple of 5) over 230 from y = 44: value v is at 274 - 9.2 v."""
    return round(274 - 9.2 * value, 1)


@pytest.mark.now(AS_OF)
def test_each_trough_is_drawn_at_its_value_and_marked_when_outside_its_target() -> None:
    root = drawing()
    troughs = [c for c in shapes(root, "circle") if title_or_none(c)]
    assert [(title(c), c.get("class"), float(c.get("cy", ""))) for c in troughs] == [
        ("2026-07-01: 12 ng/mL, trough", "trough", level_y(12)),
        ("2026-08-31: 6 ng/mL, trough", "trough outside", level_y(6)),  # below 7 to 20
        ("2026-09-01: 6 ng/mL, trough", "trough", level_y(6)),
        ("2026-10-20: 6 ng/mL, trough", "trough", level_y(6)),
        ("2026-11-10: 10 nmol/L = 8 ng/mL, trough", "trough", level_y(8)),
        ("2026-11-17: 7 ng/mL, trough", "trough", level_y(7)),
    ]
    xs = [float(c.get("cx", "")) for c in troughs]
    assert xs == sorted(xs)  # in date order along the axis
    # the "<2" as a triangle at 2 pointing down, outside 5 to 15, labelled with what the record says
    [bound] = [p for p in shapes(root, "path", "trough outside")]
    assert title(bound).startswith("2026-11-15: <2 ng/mL, trough (note: Sample drawn from the line")
    tip = level_y(2)
    assert bound.get("d", "").endswith(f" {round(tip + 7, 1)}Z")
    assert f" {round(tip - 7, 1)}L" in bound.get("d", "")
    assert "<2 ng/mL" in [t.text for t in shapes(root, "text")]


def title_or_none(element: ElementTree.Element) -> str | None:
    found = element.find(SVG + "title")
    return found.text if found is not None else None


@pytest.mark.now(AS_OF)
def test_the_target_bands_the_ceiling_and_the_level_axis() -> None:
    root = drawing()
    bands = shapes(root, "rect", "band")
    assert [(float(b.get("y", "")), float(b.get("height", ""))) for b in bands] == [
        (level_y(20), round(level_y(7) - level_y(20), 1)),
        (level_y(15), round(level_y(5) - level_y(15), 1)),
        (level_y(15), round(level_y(5) - level_y(15), 1)),
    ]
    assert title(bands[0]).startswith("7 to 20 ng/mL from 2026-06-02 to 2026-09-01 (US label, adult kidney")
    # from the window's start (x = 78) to its end (x = 880), each band beginning where the one before ends
    edges = [(float(b.get("x", "")), float(b.get("x", "")) + float(b.get("width", ""))) for b in bands]
    assert edges[0][0] == 78.0
    assert edges[-1][1] == pytest.approx(880.0)
    assert all(a[1] == pytest.approx(b[0], abs=0.1) for a, b in itertools.pairwise(edges))
    [ceiling] = shapes(root, "line", "ceiling")
    assert float(ceiling.get("y1", "")) == float(ceiling.get("y2", "")) == level_y(20)
    assert title(ceiling) == "20 ng/mL: most patients can be managed below it (monograph)"
    axis = [t for t in shapes(root, "text") if t.get("x") == "72" and float(t.get("y", "")) < 280]
    assert [(t.text, float(t.get("y", ""))) for t in axis] == [
        (f"{v}", level_y(v) + 3) for v in (0, 5, 10, 15, 20, 25)
    ]
    assert root.get("height") == "580"  # the drug lanes: 502 + 2 rows of 24 + 30


@pytest.mark.now(AS_OF)
def test_results_that_are_not_troughs_are_in_their_own_lane() -> None:
    root = drawing()
    others = [p for p in shapes(root, "path", "other") if title_or_none(p)]
    assert [title(p) for p in others] == [
        "2026-11-20: 25 ng/mL, 2 hour: not a trough, not judged",
        "2026-11-25: 7 ng/mL (preliminary), preliminary result, not judged",
    ]  # the haemolysed sample has no value: listed in the table, not drawn
    assert all(" 300L" in p.get("d", "") for p in others)  # the lane at y = 306, under the axis at 274
    words = [t.text for t in shapes(root, "text")]
    assert "25 ng/mL 2 hour" in words
    assert "7 ng/mL preliminary" in words


IMMEDIATE = "immediate-release tacrolimus, every 12 hours"


def dose_y(mg: float) -> float:
    """The dose axis runs to 10 mg/day (8, the highest, plus a quarter) over 90 from y = 362."""
    return round(452 - 9 * mg, 1)


@pytest.mark.now(AS_OF)
def test_the_daily_dose_as_steps_with_the_formulation_switch() -> None:
    root = drawing()
    [path] = shapes(root, "path", "dose")
    d = path.get("d", "")
    heights = [float(v) for v in d.replace("M", " ").replace("L", " ").split()[1::2]]
    assert heights == [dose_y(8), dose_y(8), dose_y(6), dose_y(6), dose_y(5), dose_y(5)]
    steps = [line for line in shapes(root, "line") if line.get("stroke") == "transparent"]
    assert [title(s) for s in steps] == [
        f"2026-06-02 to 2026-08-01: 4 mg every 12 hours = 8 mg/day ({IMMEDIATE})",
        f"2026-08-01 to 2026-10-05: 3 mg every 12 hours = 6 mg/day ({IMMEDIATE})",
        "2026-10-05 to 2026-12-01: 5 mg once daily = 5 mg/day (Advagraf / Astagraf XL prolonged-release"
        " capsules, once daily)",
    ]
    [switch] = shapes(root, "line", "switch")
    assert switch.get("x1") == steps[2].get("x1")
    assert title(switch) == (
        "2026-10-05: formulation changed to Advagraf / Astagraf XL prolonged-release capsules, once daily"
    )
    words = [t.text for t in shapes(root, "text")]
    assert [w for w in words if w and w.endswith(" mg/day")] == ["8 mg/day", "6 mg/day", "5 mg/day"]
    assert "10" in words  # the dose axis's top


@pytest.mark.now(AS_OF)
def test_the_drugs_that_raise_the_level_as_bars_hatched_when_their_end_is_not_known() -> None:
    root = drawing()
    bars = [r for r in shapes(root, "rect") if r.get("class") in ("raises", "open-raises")]
    assert [(r.get("class"), title(r)) for r in bars] == [
        (
            "open-raises",
            "Fluconazole 50 MG Oral Capsule (raises tacrolimus levels): 2026-07-10 to an end not recorded"
            " (hatched: when it stopped is not known)",
        ),
        ("raises", "Clarithromycin 500 MG Oral Tablet (raises tacrolimus levels): 2026-10-10 to 2026-10-17"),
    ]
    assert [r.get("y") for r in bars] == ["502", "526"]  # a row each
    words = [t.text for t in shapes(root, "text")]
    assert "Drugs that raise or lower the tacrolimus level (hatched: stopped, end not recorded)" in words
    assert "Fluconazole 50 MG Oral Capsule (raises, end not recorded)" in words
    assert "Clarithromycin 500 MG Oral Tablet (raises)" in words


@pytest.mark.now(AS_OF)
def test_a_dose_that_cannot_be_read_is_said_so_in_the_description_and_the_tables() -> None:
    request = example()
    for entry in entries(request, "medicationRequests"):
        if entry["resource"]["id"] == "tac-3":  # Advagraf 5 mg once daily from 2026-10-05
            del entry["resource"]["dosageInstruction"]
    story = story_of(request)
    assert "; 3 dose steps, the latest not readable;" in picture.describe(story)
    found = tables_of(story)
    doses = found["Total daily dose of tacrolimus"]
    assert [row[:3] for row in doses[1:]] == [
        ["2026-06-02", "2026-08-01", "8 mg/day"],
        ["2026-08-01", "2026-10-05", "6 mg/day"],
        ["2026-10-05", "2026-12-01", "not readable"],
    ]
    # each trough's dose in force, and no C/D without a readable dose (the "<2" has none in any case)
    assert [(row[0], row[6], row[7]) for row in found["Tacrolimus levels"][1:]] == [
        ("2026-07-01", "8 mg/day", "1.50"),
        ("2026-08-31", "6 mg/day", "1.00"),
        ("2026-09-01", "6 mg/day", "1.00"),
        ("2026-10-20", "not readable", ""),
        ("2026-11-10", "not readable", ""),
        ("2026-11-15", "not readable", ""),
        ("2026-11-17", "not readable", ""),
        ("2026-11-20", "", ""),
        ("2026-11-25", "", ""),
        ("2026-11-27", "", ""),
    ]


@pytest.mark.now(AS_OF)
def test_an_undated_level_is_listed_last_with_no_date() -> None:
    request = example()
    undated = level("undated", "2026-11-28T08:00:00Z", 9.0)
    del undated["resource"]["effectiveDateTime"]
    entries(request, "observations").append(undated)
    levels = tables_of(story_of(request))["Tacrolimus levels"]
    assert levels[-1] == ["no date", "9 ng/mL", "listed, not plotted: no date", "trough", "", "", "", "", ""]
    assert [row[0] for row in levels[1:]].count("no date") == 1


@pytest.mark.now(AS_OF)
def test_every_level_altering_drug_since_the_trough_before_is_listed_beside_the_trough() -> None:
    request = example()
    for entry in entries(request, "medicationRequests"):
        resource = entry["resource"]
        if resource["id"] == "clari":  # moved from 2026-10-10 to between the troughs of 07-01 and 08-31
            resource["authoredOn"] = "2026-08-10"
            resource["dispenseRequest"]["validityPeriod"] = {"start": "2026-08-10", "end": "2026-08-17"}
    levels = tables_of(story_of(request))["Tacrolimus levels"]
    assert [(row[0], row[8]) for row in levels[1:5]] == [
        ("2026-07-01", ""),
        (
            "2026-08-31",
            "Fluconazole 50 MG Oral Capsule (raises; from 2026-07-10, end not recorded);"
            " Clarithromycin 500 MG Oral Tablet (raises)",
        ),
        ("2026-09-01", ""),
        ("2026-10-20", ""),
    ]


# A window of 802 hours from 2026-11-01T00:00Z over the plot's 802 units (x = 78 to 880): an instant h hours
# into it is at x = 78 + h.
START = datetime(2026, 11, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def window(**parts: Any) -> Story:
    """A story over that window with only the given parts (points, doses, drugs ...)."""
    fields: dict[str, Any] = {
        "patient_id": "p",
        "start": START,
        "end": at(802),
        "points": (),
        "bands": (),
        "doses": (),
        "drugs": (),
        "figures": (),
        "notes": (),
        "ceiling": 20.0,
    }
    return Story(**{**fields, **parts})


def drawn_texts(story: Story) -> list[str]:
    """Each `<text>` element of the story's picture as written."""
    return re.findall(r"<text [^>]*>[^<]*</text>", picture.svg(story))


PROGRAF = "immediate-release tacrolimus, every 12 hours"
ADVAGRAF = "Advagraf / Astagraf XL prolonged-release capsules, once daily"


def test_the_dose_steps_around_a_dose_that_cannot_be_read() -> None:
    story = window(
        doses=(
            DoseStep(at(0), at(100), 8.0, "4 mg every 12 hours = 8 mg/day", PROGRAF),
            DoseStep(at(100), at(250), 6.0, "3 mg every 12 hours = 6 mg/day", PROGRAF),
            DoseStep(at(250), at(300.3), None, "dose not readable", PROGRAF),
            # 3.5 mg every 18 hours: 3.5 x 24 / 18 = 4.666... mg/day, written to the microgram
            DoseStep(
                at(300.3),
                at(802),
                3.5 * 24 / 18,
                "3.5 mg every 18 hours",
                ADVAGRAF,
                short="Advagraf",
                formulation_changed=True,
            ),
        )
    )
    drawn = picture.svg(story)
    # the axis to 10 mg/day (8 plus a quarter, to the next whole mg) over 90 from y = 362: 452 - 9 mg
    assert re.findall(r'<path class="dose" d="([^"]*)"/>', drawn) == [
        "M78.0 380.0L178.0 380.0L178.0 398.0L328.0 398.0",  # 8 then 6 mg/day, joined at the step
        "M378.3 410.0L880.0 410.0",  # after the gap, a line of its own
    ]
    assert (
        '<rect class="gap" x="328.0" y="362" width="50.3" height="90"><title>2026-11-11 to 2026-11-13:'
        f" dose not readable ({PROGRAF})</title></rect>"
        '<text class="small" x="331.0" y="407.0">dose not readable</text>'
    ) in drawn
    texts = drawn_texts(story)
    assert [t for t in texts if "mg/day" in t] == [
        '<text x="78" y="348">Total daily dose (mg/day)</text>',
        '<text class="small" x="81.0" y="376.0">8 mg/day</text>',
        '<text class="small" x="181.0" y="394.0">6 mg/day</text>',
        '<text class="small" x="381.3" y="406.0">4.667 mg/day</text>',
    ]
    assert '<text class="small" x="72" y="455" text-anchor="end">0</text>' in texts
    assert '<text class="small" x="72" y="365" text-anchor="end">10</text>' in texts
    # the switch's label fits on one line right of it: 381.3 + 20 characters of about 5.6 < 896
    assert '<text class="small" x="381.3" y="372" text-anchor="start">switched to Advagraf</text>' in texts
    assert "No dated tacrolimus order or statement" not in drawn


def test_no_dose_on_record_is_said_in_the_dose_panel() -> None:
    texts = drawn_texts(window())
    assert (
        '<text class="small" x="86" y="402" text-anchor="start">'
        "No dated tacrolimus order or statement in the window.</text>"
    ) in texts
    assert not [t for t in texts if "mg/day" in t and "Total daily dose" not in t]


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        # "switched to Advagraf": 20 characters, about 112 wide, from x + 3: on one line while it ends by 896
        (781.0, '<text class="small" x="784.0" y="372" text-anchor="start">switched to Advagraf</text>'),
        (
            782.0,
            '<text class="small" x="785.0" y="360" text-anchor="start">switched to</text>'
            '<text class="small" x="785.0" y="372" text-anchor="start">Advagraf</text>',
        ),
    ],
)
def test_the_switch_label_goes_on_two_lines_when_one_would_run_off_the_edge(x: float, expected: str) -> None:
    assert picture._switch_label(x, "Advagraf") == expected


@pytest.mark.now(AS_OF)
def test_the_example_s_switch_is_labelled_with_the_product_it_switched_to() -> None:
    root = drawing()
    [switch] = shapes(root, "line", "switch")
    x = float(switch.get("x1", ""))
    # "switched to Advagraf / Astagraf XL prolonged-release", 52 characters (about 291 wide), would run off
    # the edge from the switch of 2026-10-05 (past the plot's middle): two lines, each from x + 3
    [said] = [t for t in shapes(root, "text") if t.text == "switched to"]
    [short] = [t for t in shapes(root, "text") if t.text == "Advagraf / Astagraf XL prolonged-release"]
    assert [(float(t.get("x", "")), t.get("y")) for t in (said, short)] == [(x + 3, "360"), (x + 3, "372")]


FLUCONAZOLE = "Fluconazole (raises)"  # 20 characters: about 112 wide at the small font


@pytest.mark.parametrize(
    ("x1", "width", "expected"),
    [
        # right of the bar (from its end + 4) while it ends by 896
        (700.0, 80.0, f'<text class="small" x="784.0" y="514" text-anchor="start">{FLUCONAZOLE}</text>'),
        # else left of it (ending at its start - 4) while it begins at 4 or after
        (700.0, 80.1, f'<text class="small" x="696.0" y="514" text-anchor="end">{FLUCONAZOLE}</text>'),
        (120.0, 700.0, f'<text class="small" x="116.0" y="514" text-anchor="end">{FLUCONAZOLE}</text>'),
        # else on the bar, over a white halo
        (
            119.9,
            700.0,
            f'<text class="small on-bar" x="123.9" y="514" text-anchor="start">{FLUCONAZOLE}</text>',
        ),
    ],
)
def test_a_drug_bar_s_name_goes_right_of_it_else_left_else_on_it(
    x1: float, width: float, expected: str
) -> None:
    assert picture._drug_label(x1, width, 514, FLUCONAZOLE) == expected


def test_drug_bars_each_as_long_as_it_was_taken_and_at_least_3_wide() -> None:
    story = window(
        drugs=(
            DrugBar("Fluconazole", "raises", at(100), at(200.3), end_known=True),
            DrugBar("Rifampicin", "lowers", at(300), at(300.5), end_known=True),  # half an hour
        )
    )
    drawn = picture.svg(story)
    assert re.findall(r'<rect class="(?:raises|lowers)"[^>]*>', drawn) == [
        '<rect class="raises" x="178.0" y="502" width="100.3" height="16">',
        '<rect class="lowers" x="378.0" y="526" width="3.0" height="16">',
    ]
    texts = drawn_texts(story)
    # every end is known: nothing hatched, and the panel's title does not speak of it
    assert '<text x="78" y="492">Drugs that raise or lower the tacrolimus level</text>' in texts
    assert '<text class="small" x="282.3" y="514" text-anchor="start">Fluconazole (raises)</text>' in texts
    assert '<text class="small" x="385.0" y="538" text-anchor="start">Rifampicin (lowers)</text>' in texts
    assert "None on record in the window." not in drawn
    assert "hatched" not in drawn.split("</defs>")[1]


def test_no_level_altering_drug_is_said_in_the_drug_panel() -> None:
    texts = drawn_texts(window())
    assert '<text x="78" y="492">Drugs that raise or lower the tacrolimus level</text>' in texts
    assert '<text class="small" x="86" y="516">None on record in the window.</text>' in texts


def test_results_that_are_not_troughs_are_labelled_alternately_above_and_below_their_lane() -> None:
    story = window(
        points=(
            Point(at(100), "25 ng/mL", 25.0, "2 hour"),
            Point(at(190), "12 ng/mL", 12.0, "random"),  # 90 after: far enough, above again
            Point(at(279), "9 ng/mL (preliminary)", 9.0, "preliminary"),  # 89 after: below
        )
    )
    drawn = picture.svg(story)
    # each a triangle on the lane at y = 306 (from 300 to 311), its label above (296) or below (323)
    assert re.findall(r'<path class="other" d="([^"]*)">', drawn) == [
        "M178.0 300L184.0 311L172.0 311Z",
        "M268.0 300L274.0 311L262.0 311Z",
        "M357.0 300L363.0 311L351.0 311Z",
    ]
    texts = drawn_texts(story)
    assert [t for t in texts if " ng/mL " in t] == [
        '<text class="small" x="178.0" y="296" text-anchor="middle">25 ng/mL 2 hour</text>',
        '<text class="small" x="268.0" y="296" text-anchor="middle">12 ng/mL random</text>',
        '<text class="small" x="357.0" y="323" text-anchor="middle">9 ng/mL preliminary</text>',
    ]
    assert '<text class="small" x="72" y="309" text-anchor="end">not troughs</text>' in texts
