"""The level story's SVG as drawn, element by element: its frame, its date grid, the level panel's legend,
axes and ceiling, the markers of the troughs (bounds as triangles pointing the way the value lies, markers
that would overlap spread apart), and the panels' sizes when there is little to draw.

The fixture is the bundled example "Six months of levels" (see tests/cards/test_picture.py). Its window runs
from 2026-06-02T00:00Z to 2026-12-01T09:00Z: 182 days and 9 hours, 15,757,200 s, drawn from x = 78 to
x = 880 (802 wide), so an instant t seconds into it is at x = 78 + 802 t / 15,757,200, to one decimal. Its
level axis runs to 25 ng/mL (level_y), its dose axis to 10 mg/day, and it has two drug rows: the drawing is
502 + 2 x 24 + 30 = 580 high."""

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest

from cards import picture
from cards.story import Point, Story
from tests.cards.test_picture import PLUS_TEN, drawing, month_starts, shapes, title, title_or_none
from tests.cards.test_story import AS_OF, entries, example, level, story_of

SVG_HEAD = (
    '<svg class="story-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 900 580" width="900"'
    ' height="580" role="img" aria-labelledby="story-title story-desc"><title id="story-title">'
)


def parsed(story: Story) -> ElementTree.Element:
    return ElementTree.fromstring(picture.svg(story))  # noqa: S314 (our own drawing)


def circles(root: ElementTree.Element) -> list[tuple[str, str | None, str | None, str | None]]:
    """The trough dots: (title, class, cx, cy)."""
    return [
        (title(c), c.get("class"), c.get("cx"), c.get("cy"))
        for c in shapes(root, "circle")
        if title_or_none(c)
    ]


def triangles(root: ElementTree.Element) -> list[tuple[str, str | None, str | None]]:
    """The markers of troughs given as a bound: (title, class, path)."""
    return [
        (title(p), p.get("class"), p.get("d"))
        for p in shapes(root, "path")
        if p.get("class") in ("trough", "trough outside")
    ]


# the frame


@pytest.mark.now(AS_OF)
def test_the_drawing_is_one_svg_element_with_its_title_first_and_the_hatch_patterns() -> None:
    drawn = picture.svg(story_of(example()))
    assert drawn.startswith(SVG_HEAD)
    assert drawn.endswith("</text></svg>")  # the last drug's label, then the end: nothing between elements
    assert "</title><desc " in drawn
    # a bar whose end is not recorded is filled with a hatch of its effect's colour (the style sheet's
    # .raises #e8a33d and .lowers #3d8fe8), named as the style sheet names them: url(#hatch-raises) and
    # url(#hatch-lowers)
    assert (
        "</style><defs>"
        '<pattern id="hatch-raises" width="6" height="6" patternUnits="userSpaceOnUse"'
        ' patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        '<rect width="3" height="6" fill="#e8a33d"/></pattern>'
        '<pattern id="hatch-lowers" width="6" height="6" patternUnits="userSpaceOnUse"'
        ' patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        '<rect width="3" height="6" fill="#3d8fe8"/></pattern>'
        "</defs>"
    ) in drawn


@pytest.mark.now(AS_OF)
def test_the_month_grid_runs_down_the_drawing_with_each_date_under_its_line() -> None:
    drawn = picture.svg(story_of(example()))
    # the first of each month: 29, 60, 91, 121, 152 and 182 days into the window; each line from the level
    # panel's top (44) to 28 above the drawing's foot (552), its date 12 above the foot (568), centred under
    # it, but the last (x past 880 - 30) ending at its line
    ticks = [
        ("205.5", "2026-07-01", "middle"),  # 802 x 29 / 182.375 = 127.5
        ("341.9", "2026-08-01", "middle"),  # 263.9
        ("478.2", "2026-09-01", "middle"),  # 400.2
        ("610.1", "2026-10-01", "middle"),  # 532.1
        ("746.4", "2026-11-01", "middle"),  # 668.4
        ("878.4", "2026-12-01", "end"),  # 800.4
    ]
    expected = "".join(
        f'<line class="grid" x1="{x}" y1="44" x2="{x}" y2="552"/>'
        f'<text class="small" x="{x}" y="568" text-anchor="{anchor}">{date}</text>'
        for x, date, anchor in ticks
    )
    assert f"</defs>{expected}<text " in drawn


def short_window(seconds: int) -> Story:
    """The example over a window from 2026-10-01T00:00Z of `seconds`: weekly ticks from 2026-10-02."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    return dataclasses.replace(story_of(example()), start=start, end=start + timedelta(seconds=seconds))


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("seconds", "x", "anchor"),
    [
        # the tick 50 days in (2026-11-20) at 78 + 802 x 4,320,000 / seconds
        (4_487_896, "850.0", "middle"),  # 772.0: not past 880 - 30, centred under its line
        (4_487_315, "850.1", "end"),  # 772.1: past it, ending at its line
    ],
)
def test_a_date_near_the_right_edge_ends_at_its_line(seconds: int, x: str, anchor: str) -> None:
    drawn = picture.svg(short_window(seconds))
    assert (
        f'<line class="grid" x1="{x}" y1="44" x2="{x}" y2="552"/>'
        f'<text class="small" x="{x}" y="568" text-anchor="{anchor}">2026-11-20</text>'
    ) in drawn


# the ticks' dates


@pytest.mark.now(AS_OF)
def test_without_a_dated_level_the_axis_is_at_the_offset_of_the_window_s_start() -> None:
    story = dataclasses.replace(
        story_of(example()), points=(), start=datetime(2026, 6, 2, 9, 0, tzinfo=PLUS_TEN)
    )
    # 2026-12-01T09:00Z is 19:00 at +10:00: the first of December is in the window
    assert picture._ticks(story) == month_starts(
        "2026-07-01", "2026-08-01", "2026-09-01", "2026-10-01", "2026-11-01", "2026-12-01", zone=PLUS_TEN
    )


@pytest.mark.now(AS_OF)
def test_ticks_are_at_midnight_whatever_the_time_the_window_starts() -> None:
    story = story_of(example())
    odd = datetime(2026, 10, 3, 9, 27, 31, 500_000, tzinfo=UTC)
    weekly = dataclasses.replace(story, start=odd)  # 58 days and 23.5 hours: weekly, from the day after
    assert picture._ticks(weekly) == month_starts(
        "2026-10-04", "2026-10-11", "2026-10-18", "2026-10-25", "2026-11-01", "2026-11-08", "2026-11-15",
        "2026-11-22", "2026-11-29",
    )  # fmt: skip
    monthly = dataclasses.replace(story, start=odd.replace(month=6, day=2))
    assert picture._ticks(monthly) == month_starts(
        "2026-07-01", "2026-08-01", "2026-09-01", "2026-10-01", "2026-11-01", "2026-12-01"
    )


@pytest.mark.now(AS_OF)
def test_a_tick_on_the_window_s_edge_is_in_it() -> None:
    story = story_of(example())
    # a short window ending on a weekly tick's midnight
    weekly = dataclasses.replace(
        story, start=datetime(2026, 11, 1, 9, 0, tzinfo=UTC), end=datetime(2026, 11, 16, tzinfo=UTC)
    )
    assert picture._ticks(weekly) == month_starts("2026-11-02", "2026-11-09", "2026-11-16")
    # a long window ending, or starting, at the first of a month's midnight
    to_december = dataclasses.replace(story, end=datetime(2026, 12, 1, tzinfo=UTC))
    assert picture._ticks(to_december)[-1] == datetime(2026, 12, 1, tzinfo=UTC)
    from_june = dataclasses.replace(story, start=datetime(2026, 6, 1, tzinfo=UTC))
    assert picture._ticks(from_june)[:2] == month_starts("2026-06-01", "2026-07-01")


# instants and values


def test_instants_are_placed_to_a_tenth() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    ten_days = picture.Scale(start, start + timedelta(days=10))
    assert str(ten_days.x(start + timedelta(days=1))) == "158.2"  # 78 + 802 / 10
    # a window of no length spans one day: 86,190 s into it is 78 + 802 x 86,190 / 86,400 = 878.05
    one_instant = picture.Scale(start, start)
    assert one_instant.x(start + timedelta(seconds=86_190)) == 878.1
    # 12.3 of at most 25 over 230 from y = 44: 274 - 113.16
    assert picture._y(12.3, 44, 230, 25) == 160.8


# the level panel


@pytest.mark.now(AS_OF)
def test_the_level_panel_s_heading_legend_and_axes() -> None:
    drawn = picture.svg(story_of(example()))
    # the legend starts 330 left of the plot's right end (880): x = 550, its marks 18 above the panel's top
    # (y = 26), its words 14 above it (y = 30)
    assert (
        '<text x="78" y="30">Tacrolimus level (ng/mL); shaded: the target in force</text>'
        '<circle class="trough" cx="550" cy="26" r="4"/>'
        '<text class="small" x="557" y="30" text-anchor="start">trough</text>'
        '<circle class="trough outside" cx="610" cy="26" r="4"/>'
        '<text class="small" x="617" y="30" text-anchor="start">outside the target</text>'
        '<path class="other" d="M720 21L725 30L715 30Z"/>'
        '<text class="small" x="730" y="30" text-anchor="start">not a trough (lane below)</text>'
        # the level axis from y = 44 to its foot at 44 + 230, and along the foot to x = 880
        '<line class="axis" x1="78" y1="44" x2="78" y2="274"/>'
        '<line class="axis" x1="78" y1="274" x2="880" y2="274"/>'
        '<text class="small" x="72" y="277.0" text-anchor="end">0</text>'
    ) in drawn
    # the ceiling (20 ng/mL, at y = 90) labelled at the plot's right end, 4 in and 4 above its line
    assert (
        '<text class="small" x="876" y="86.0" text-anchor="end">20 ng/mL</text><circle class="trough"'
    ) in drawn
    # the lane of results that are not troughs, and the dose axis's foot, run to x = 880 too
    assert '<line class="lane" x1="78" y1="306" x2="880" y2="306"/>' in drawn
    assert '<line class="axis" x1="78" y1="452" x2="880" y2="452"/>' in drawn


def axis_labels(root: ElementTree.Element) -> list[str | None]:
    """The level axis's numbers: right-aligned at x = 72 above the lane of results that are not troughs."""
    return [t.text for t in shapes(root, "text") if t.get("x") == "72" and float(t.get("y", "")) < 300]


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("trough", "marks"),
    [
        # 35 ng/mL plus a tenth, 38.5, to the next multiple of 5: an axis to 40, marked every 5
        (35.0, ["0", "5", "10", "15", "20", "25", "30", "35", "40"]),
        # 40 ng/mL: 44, an axis to 45, past 40: marked every 10
        (40.0, ["0", "10", "20", "30", "40"]),
    ],
)
def test_the_level_axis_is_marked_every_5_ng_ml_up_to_40_then_every_10(
    trough: float, marks: list[str]
) -> None:
    story = story_of(example())
    high = dataclasses.replace(story.points[0], value=trough, shown=f"{trough:g} ng/mL")
    assert axis_labels(parsed(dataclasses.replace(story, points=(high, *story.points[1:])))) == marks


@pytest.mark.now(AS_OF)
def test_a_result_that_is_not_a_trough_does_not_raise_the_level_axis() -> None:
    # the example's 2-hour level of 25 ng/mL (plus a tenth: 27.5) would take the axis to 30: it stays at 25
    assert axis_labels(drawing()) == ["0", "5", "10", "15", "20", "25"]


# the troughs' markers


@pytest.mark.now(AS_OF)
def test_markers_that_would_overlap_are_spread_apart() -> None:
    root = drawing()
    # 2026-08-31T07:00Z is 90 days 7 hours into the window (x = 475.1) and 2026-09-01T07:00Z a day later
    # (479.5), both at 6 ng/mL: the second is moved 10 right, to 489.5
    assert circles(root)[1:3] == [
        ("2026-08-31: 6 ng/mL, trough", "trough outside", "475.1", "218.8"),
        ("2026-09-01: 6 ng/mL, trough", "trough", "489.5", "218.8"),
    ]


@pytest.mark.now(AS_OF)
def test_a_bound_below_is_a_triangle_pointing_down_at_its_bound_labelled_as_recorded() -> None:
    root = drawing()
    # 2026-11-15T08:00Z, 166 days 8 hours in: x = 809.5; "<2" at y = 274 - 9.2 x 2 = 255.6; a triangle 12
    # wide whose base is 7 above the bound and whose tip is 7 below it; its words 8 right and 4 below
    assert triangles(root) == [
        (
            "2026-11-15: <2 ng/mL, trough (note: Sample drawn from the line used for the infusion: repeat"
            " requested.)",
            "trough outside",
            "M803.5 248.6L815.5 248.6L809.5 262.6Z",
        )
    ]
    assert (
        '</path><text class="small" x="817.5" y="259.6" text-anchor="start">&lt;2 ng/mL</text>'
    ) in picture.svg(story_of(example()))


def with_levels(*added: dict[str, Any]) -> Story:
    request = example()
    entries(request, "observations").extend(added)
    return story_of(request)


@pytest.mark.now(AS_OF)
def test_a_bound_above_is_a_triangle_pointing_up_even_after_a_result_that_is_not_a_trough() -> None:
    above = level("l10", "2026-11-29T08:00:00Z", 30.0)
    above["resource"]["valueQuantity"]["comparator"] = ">"  # above the assay's range
    root = parsed(with_levels(above))
    # 180 days 8 hours in: x = 78 + 793.0 = 871.0; the axis now to 35 (30 plus a tenth, 33, to the next 5):
    # y = 274 - 230 x 30 / 35 = 76.9; the base 7 below the bound, the tip 7 above it; outside 5 to 15
    assert triangles(root)[1] == (
        "2026-11-29: >30 ng/mL, trough",
        "trough outside",
        "M865.0 83.9L877.0 83.9L871.0 69.9Z",
    )


@pytest.mark.now(AS_OF)
def test_a_result_that_is_not_a_trough_given_as_a_bound_is_not_drawn_as_one() -> None:
    preliminary = level("l11", "2026-11-28T08:00:00Z", 2.0)
    preliminary["resource"]["status"] = "preliminary"
    preliminary["resource"]["valueQuantity"]["comparator"] = "<"
    root = parsed(with_levels(preliminary))
    assert [t for t, _, _ in triangles(root)] == [
        "2026-11-15: <2 ng/mL, trough (note: Sample drawn from the line used for the infusion: repeat"
        " requested.)"
    ]
    assert not [e for e in root.iter() if (title_or_none(e) or "").startswith("2026-11-28")]


def hourly(*troughs: tuple[int, float]) -> Story:
    """Troughs (hours into the window, ng/mL) in a window of 802 hours (1 wide an hour: x = 78 + hours),
    with one of 25 ng/mL far from them (300 hours in), so that the axis runs to 30 (27.5 to the next 5):
    y = 274 - 230 v / 30."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    points = [
        Point(start + timedelta(hours=h), f"{v:g} ng/mL", v, "trough") for h, v in (*troughs, (300, 25.0))
    ]
    return dataclasses.replace(
        story_of(example()),
        start=start,
        end=start + timedelta(hours=802),
        points=tuple(points),
        bands=(),
        doses=(),
        drugs=(),
    )


@pytest.mark.now(AS_OF)
@pytest.mark.parametrize(
    ("troughs", "placed"),
    [
        # 10 apart across: apart enough, each where it belongs
        (((100, 6.0), (110, 6.0)), [("178.0", "228.0"), ("188.0", "228.0")]),
        # 9 apart: the second moved 10 right of where it belongs
        (((100, 6.0), (109, 6.0)), [("178.0", "228.0"), ("197.0", "228.0")]),
        # at one instant, 10 apart up and down (6 at 228.0, 7.3 at 218.03): apart enough
        (((100, 6.0), (100, 7.3)), [("178.0", "228.0"), ("178.0", "218.0")]),
        # 7.2 at 218.8, 9.2 above 6: moved 10 right
        (((100, 6.0), (100, 7.2)), [("178.0", "228.0"), ("188.0", "218.8")]),
    ],
    ids=["10-across", "9-across", "10-up", "9-up"],
)
def test_markers_closer_than_10_either_way_are_spread(
    troughs: tuple[tuple[int, float], ...], placed: list[tuple[str, str]]
) -> None:
    drawn = [(cx, cy) for _, _, cx, cy in circles(parsed(hourly(*troughs)))]
    assert drawn == [*placed, ("378.0", "82.3")]  # the 25 ng/mL: 274 - 191.7


# the dose and drug panels when there is little to draw


def dose_axis_top(root: ElementTree.Element) -> str | None:
    [top] = [t for t in shapes(root, "text") if t.get("x") == "72" and t.get("y") == "365"]
    return top.text


@pytest.mark.now(AS_OF)
def test_without_a_dose_or_a_drug_the_panels_keep_their_size() -> None:
    story = dataclasses.replace(story_of(example()), doses=(), drugs=())
    root = parsed(story)
    assert dose_axis_top(root) == "2"  # 1 mg/day plus a quarter, to the next whole mg
    assert root.get("height") == "556"  # one drug row kept: 502 + 24 + 30
    assert "No dated tacrolimus order or statement in the window." in [t.text for t in shapes(root, "text")]
    one_drug = dataclasses.replace(story, drugs=story_of(example()).drugs[:1])
    assert parsed(one_drug).get("height") == "556"


@pytest.mark.now(AS_OF)
def test_the_dose_axis_runs_to_the_next_whole_mg_above_the_highest_dose_and_a_quarter() -> None:
    story = story_of(example())
    advagraf = dataclasses.replace(story, doses=story.doses[2:])  # 5 mg once daily: 6.25, to 7
    assert dose_axis_top(parsed(advagraf)) == "7"
