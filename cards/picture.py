"""The level story drawn: a server-rendered SVG (no JavaScript; a `<title>` and a `<desc>`) and the same
facts as HTML tables beside it, for screen readers and for print. Dates are written as the record writes
them (each at its own offset): nothing is shifted to the server's time zone."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from cards.knowledge import Knowledge
from cards.story import Band, DoseStep, DrugBar, Figure, Point, Story

WIDTH = 900
LEFT, RIGHT = 78, 20
LEVEL_TOP, LEVEL_HEIGHT = 44, 230
OTHER_Y = 306  # the lane of results that are not troughs: off the trough axis, never on the band
DOSE_TOP, DOSE_HEIGHT = 362, 90
DRUG_TOP, DRUG_ROW = 502, 24
MARKER_GAP = 10.0  # markers closer than this are spread apart (each keeps its date in its tooltip)

STYLE = (
    ".story-svg text{font:12px system-ui,sans-serif;fill:#222}.story-svg .small{font-size:10px}"
    ".story-svg .axis{stroke:#888;stroke-width:1}.story-svg .grid{stroke:#e4e4e4;stroke-width:1}"
    ".story-svg .band{fill:#d9f0dc}.story-svg .ceiling{stroke:#b03a2e;stroke-dasharray:5 4}"
    ".story-svg .trough{fill:#1d4f91}.story-svg .outside{stroke:#b03a2e;stroke-width:3}"
    ".story-svg .other{fill:#fff;stroke:#6a3d9a;stroke-width:2}.story-svg .dose{fill:none;stroke:#1d4f91;"
    "stroke-width:2.5}.story-svg .gap{fill:#f3e5e5;stroke:#b03a2e;stroke-dasharray:3 3}"
    ".story-svg .switch{stroke:#6a3d9a;stroke-dasharray:6 3;stroke-width:1.5}"
    ".story-svg .raises{fill:#e8a33d}.story-svg .lowers{fill:#3d8fe8}"
    ".story-svg .open-raises{fill:url(#hatch-raises)}.story-svg .open-lowers{fill:url(#hatch-lowers)}"
    ".story-svg .lane{stroke:#ccc;stroke-dasharray:2 3}"
    ".story-svg .on-bar{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}"
    "table.story-table td,table.story-table th{padding:2px 8px;text-align:left;vertical-align:top}"
    "table.story-table td:first-child{white-space:nowrap}"
)


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "no date"


def _mg(value: float) -> str:
    """A daily dose to four significant figures: 0.375 and 0.0625 mg/day as the story keeps them (the
    figures its ratio uses), 4.667 for 3.5 mg every 18 hours."""
    return f"{value:.4g} mg/day"


class Scale:
    """Instants to x, values to y."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start.timestamp()
        self.span = max(end.timestamp() - self.start, 86400.0)

    def x(self, moment: datetime) -> float:
        share = (moment.timestamp() - self.start) / self.span
        return round(LEFT + max(0.0, min(1.0, share)) * (WIDTH - LEFT - RIGHT), 1)


def _y(value: float, top: float, height: float, maximum: float) -> float:
    return round(top + height - min(value, maximum) / maximum * height, 1)


def _nice(value: float, step: float) -> float:
    return max(step, -(-value // step) * step)


def _ticks(story: Story) -> list[datetime]:
    """The first of each month in the window (each week when it spans under two months), at the offset of
    the record's latest level (else of the window's start): the record's own dates."""
    dated = [p.when for p in story.points if p.when is not None]
    zone = (dated[-1] if dated else story.start).tzinfo
    start, end = story.start.astimezone(zone), story.end.astimezone(zone)
    ticks: list[datetime] = []
    if end - start < timedelta(days=60):
        day = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        while day <= end:
            ticks.append(day)
            day += timedelta(days=7)
        return ticks
    month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while month <= end:
        if month >= start:
            ticks.append(month)
        month = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
    return ticks


def _width(words: str) -> float:
    return len(words) * 5.6  # about, at the small font


def _label(x: float, y: float, words: str, anchor: str = "start") -> str:
    """Small text at (x, y), escaped; text that would run off the right edge ends at x, and centred text
    that would, ends at the edge."""
    if anchor == "start" and x + _width(words) > WIDTH - 4:
        anchor = "end"
        x = min(x, WIDTH - 4)
    elif anchor == "middle" and x + _width(words) / 2 > WIDTH - 4:
        anchor, x = "end", WIDTH - 4
    return f'<text class="small" x="{x}" y="{y}" text-anchor="{anchor}">{escape(words)}</text>'


def who(story: Story) -> str:
    """The patient as the picture names them: name, birth date and sex where the record gives them (two
    identifiers to check against the chart), and the id."""
    said = [story.patient_name] if story.patient_name else []
    if story.birth_date is not None:
        said.append(f"born {story.birth_date.isoformat()}")
    if story.gender:
        said.append(story.gender)
    return ", ".join([*said, f"patient id {story.patient_id}"])


def _hatch(effect: str, colour: str) -> str:
    return (
        f'<pattern id="hatch-{effect}" width="6" height="6" patternUnits="userSpaceOnUse"'
        f' patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        f'<rect width="3" height="6" fill="{colour}"/></pattern>'
    )


def describe(story: Story) -> str:
    """The picture in a few sentences: its `<desc>`."""
    troughs = story.troughs
    parts = [f"Tacrolimus levels from {_day(story.start)} to {_day(story.end)}: {len(troughs)} troughs"]
    bounds = [p for p in story.points if p.censored]
    others = [p for p in story.points if not p.trough and not p.censored]
    if bounds:
        parts[0] += f", {len(bounds)} given as a bound"
    if others:
        parts[0] += f" and {len(others)} other results"
    if troughs:
        latest = troughs[-1]
        parts.append(f"the latest trough {latest.shown} on {_day(latest.when)}")
    if story.bands:
        parts.append(
            "target bands "
            + ", ".join(f"{b.low:g} to {b.high:g} ng/mL from {_day(b.start)}" for b in story.bands)
        )
    if story.doses:
        latest_dose = story.doses[-1]
        dose = _mg(latest_dose.daily_mg) if latest_dose.daily_mg is not None else "not readable"
        parts.append(f"{len(story.doses)} dose steps, the latest {dose}")
    if story.drugs:
        parts.append("level-altering drugs " + ", ".join(f"{d.name} ({d.effect})" for d in story.drugs))
    return "; ".join(parts) + "."


def svg(story: Story) -> str:
    """The picture as one `<svg>` element."""
    scale = Scale(story.start, story.end)
    values = [v for p in story.points if p.kind == "trough" for v in (p.value, p.bound) if v is not None]
    level_max = _nice(max([story.ceiling, *values, *(b.high for b in story.bands)]) * 1.1, 5)
    dose_values = [d.daily_mg for d in story.doses if d.daily_mg is not None]
    dose_max = _nice(max(dose_values, default=1.0) * 1.25, 1)
    height = DRUG_TOP + DRUG_ROW * max(1, len(story.drugs)) + 30
    right = WIDTH - RIGHT
    out = [
        f'<svg class="story-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}"'
        f' width="{WIDTH}" height="{height}" role="img" aria-labelledby="story-title story-desc">',
        f'<title id="story-title">Tacrolimus level story for {escape(who(story))},'
        f" {_day(story.start)} to {_day(story.end)}</title>",
        f'<desc id="story-desc">{escape(describe(story))}</desc>',
        f"<style>{STYLE}</style><defs>{_hatch('raises', '#e8a33d')}{_hatch('lowers', '#3d8fe8')}</defs>",
    ]
    for tick in _ticks(story):
        x = scale.x(tick)
        out.append(f'<line class="grid" x1="{x}" y1="{LEVEL_TOP}" x2="{x}" y2="{height - 28}"/>')
        out.append(_label(x, height - 12, f"{tick:%Y-%m-%d}", "end" if x > WIDTH - RIGHT - 30 else "middle"))
    out += _level_panel(story, scale, level_max, right)
    out += _dose_panel(story.doses, scale, dose_max, right)
    out += _drug_panel(story.drugs, scale)
    out.append("</svg>")
    return "".join(out)


def _level_panel(story: Story, scale: Scale, level_max: float, right: float) -> list[str]:
    bottom = LEVEL_TOP + LEVEL_HEIGHT
    legend_x = WIDTH - RIGHT - 330
    out = [
        f'<text x="{LEFT}" y="{LEVEL_TOP - 14}">Tacrolimus level (ng/mL); shaded: the target in force</text>',
        f'<circle class="trough" cx="{legend_x}" cy="{LEVEL_TOP - 18}" r="4"/>',
        _label(legend_x + 7, LEVEL_TOP - 14, "trough"),
        f'<circle class="trough outside" cx="{legend_x + 60}" cy="{LEVEL_TOP - 18}" r="4"/>',
        _label(legend_x + 67, LEVEL_TOP - 14, "outside the target"),
        f'<path class="other" d="M{legend_x + 170} {LEVEL_TOP - 23}L{legend_x + 175} {LEVEL_TOP - 14}'
        f'L{legend_x + 165} {LEVEL_TOP - 14}Z"/>',
        _label(legend_x + 180, LEVEL_TOP - 14, "not a trough (lane below)"),
        f'<line class="axis" x1="{LEFT}" y1="{LEVEL_TOP}" x2="{LEFT}" y2="{bottom}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
    ]
    step = 5.0 if level_max <= 40 else 10.0
    value = 0.0
    while value <= level_max:
        y = _y(value, LEVEL_TOP, LEVEL_HEIGHT, level_max)
        out.append(f'<text class="small" x="{LEFT - 6}" y="{y + 3}" text-anchor="end">{value:g}</text>')
        value += step
    for band in story.bands:
        x1, x2 = scale.x(band.start), scale.x(band.end)
        y1 = _y(band.high, LEVEL_TOP, LEVEL_HEIGHT, level_max)
        y2 = _y(band.low, LEVEL_TOP, LEVEL_HEIGHT, level_max)
        out.append(
            f'<rect class="band" x="{x1}" y="{y1}" width="{round(x2 - x1, 1)}" height="{round(y2 - y1, 1)}">'
            f"<title>{escape(_band_text(band))}</title></rect>"
        )
    ceiling = _y(story.ceiling, LEVEL_TOP, LEVEL_HEIGHT, level_max)
    out.append(
        f'<line class="ceiling" x1="{LEFT}" y1="{ceiling}" x2="{right}" y2="{ceiling}"><title>'
        f"{story.ceiling:g} ng/mL: most patients can be managed below it (monograph)</title></line>"
        + _label(right - 4, ceiling - 4, f"{story.ceiling:g} ng/mL", "end")
    )
    out += _troughs(story, scale, level_max)
    out += _others(story, scale, right)
    return out


def _said(point: Point) -> str:
    note = f" (note: {point.note})" if point.note else ""
    return escape(f"{_day(point.when)}: {point.shown}, {_kind_text(point)}{note}")


def _troughs(story: Story, scale: Scale, level_max: float) -> list[str]:
    """Measured troughs as dots; a trough given as a bound as a triangle at its bound, pointing the way its
    value lies; markers that would overlap spread apart."""
    out: list[str] = []
    placed: list[tuple[float, float]] = []
    for point in story.points:
        value = point.value if point.trough else point.bound if point.censored else None
        if value is None or point.when is None:
            continue
        x, y = scale.x(point.when), _y(value, LEVEL_TOP, LEVEL_HEIGHT, level_max)
        while any(abs(x - px) < MARKER_GAP and abs(y - py) < MARKER_GAP for px, py in placed):
            x = round(x + MARKER_GAP, 1)
        placed.append((x, y))
        look = "trough outside" if point.within is False else "trough"
        if point.trough:
            out.append(
                f'<circle class="{look}" cx="{x}" cy="{y}" r="5"><title>{_said(point)}</title></circle>'
            )
            continue
        tip = 7 if point.comparator.startswith("<") else -7
        out.append(
            f'<path class="{look}" d="M{x - 6} {y - tip}L{x + 6} {y - tip}L{x} {y + tip}Z">'
            f"<title>{_said(point)}</title></path>" + _label(x + 8, y + 4, point.shown)
        )
    return out


def _others(story: Story, scale: Scale, right: float) -> list[str]:
    """Results that are not troughs (post-dose, random, preliminary) in their own lane under the level
    axis, each labelled with its value: never on the trough axis, never against the band."""
    others = [p for p in story.points if not p.trough and p.value is not None and p.when is not None]
    if not others:
        return []
    out = [
        f'<line class="lane" x1="{LEFT}" y1="{OTHER_Y}" x2="{right}" y2="{OTHER_Y}"/>',
        f'<text class="small" x="{LEFT - 6}" y="{OTHER_Y + 3}" text-anchor="end">not troughs</text>',
    ]
    last_x = -1000.0
    below = False
    for point in others:
        assert point.when is not None
        assert point.value is not None
        x = scale.x(point.when)
        below = not below if x - last_x < 90 else False  # a neighbour's label: the other side of the lane
        last_x = x
        words = f"{point.value:g} ng/mL {point.kind}"
        out.append(
            f'<path class="other" d="M{x} {OTHER_Y - 6}L{x + 6} {OTHER_Y + 5}L{x - 6} {OTHER_Y + 5}Z">'
            f"<title>{_said(point)}</title></path>"
            + _label(x, OTHER_Y + 17 if below else OTHER_Y - 10, words, "middle")
        )
    return out


def _dose_panel(doses: Sequence[DoseStep], scale: Scale, dose_max: float, right: float) -> list[str]:
    bottom = DOSE_TOP + DOSE_HEIGHT
    out = [
        f'<text x="{LEFT}" y="{DOSE_TOP - 14}">Total daily dose (mg/day)</text>',
        f'<line class="axis" x1="{LEFT}" y1="{DOSE_TOP}" x2="{LEFT}" y2="{bottom}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
        f'<text class="small" x="{LEFT - 6}" y="{bottom + 3}" text-anchor="end">0</text>',
        f'<text class="small" x="{LEFT - 6}" y="{DOSE_TOP + 3}" text-anchor="end">{dose_max:g}</text>',
    ]
    path: list[str] = []
    for step in doses:
        x1, x2 = scale.x(step.start), scale.x(step.end)
        said = escape(f"{_day(step.start)} to {_day(step.end)}: {step.shown} ({step.formulation})")
        if step.formulation_changed:
            out.append(
                f'<line class="switch" x1="{x1}" y1="{LEVEL_TOP}" x2="{x1}" y2="{bottom}"><title>'
                f"{escape(f'{_day(step.start)}: formulation changed to {step.formulation}')}</title></line>"
                + _switch_label(x1, step.short)
            )
        if step.daily_mg is None:
            out.append(
                f'<rect class="gap" x="{x1}" y="{DOSE_TOP}" width="{round(x2 - x1, 1)}"'
                f' height="{DOSE_HEIGHT}">'
                f"<title>{said}</title></rect>"
                f'<text class="small" x="{x1 + 3}" y="{DOSE_TOP + DOSE_HEIGHT / 2}">dose not readable</text>'
            )
            if path:
                out.append(f'<path class="dose" d="{"".join(path)}"/>')
                path = []
            continue
        y = _y(step.daily_mg, DOSE_TOP, DOSE_HEIGHT, dose_max)
        path.append(f"{'L' if path else 'M'}{x1} {y}L{x2} {y}")
        out.append(
            f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="transparent" stroke-width="10"><title>'
            f"{said}</title></line>"
            f'<text class="small" x="{x1 + 3}" y="{y - 4}">{_mg(step.daily_mg)}</text>'
        )
    if path:
        out.append(f'<path class="dose" d="{"".join(path)}"/>')
    if not doses:
        out.append(_label(LEFT + 8, DOSE_TOP + 40, "No dated tacrolimus order or statement in the window."))
    return out


def _switch_label(x: float, short: str) -> str:
    """'switched to ...' right of the switch line, on two lines when one would run off the edge."""
    words = f"switched to {short}"
    if x + 3 + _width(words) <= WIDTH - 4:
        return _label(x + 3, DOSE_TOP + 10, words)
    return _label(x + 3, DOSE_TOP - 2, "switched to") + _label(x + 3, DOSE_TOP + 10, short)


def _drug_label(x1: float, width: float, y: float, words: str) -> str:
    """A bar's name right of it, else left of it, else on it (over a white halo) when neither fits."""
    right = x1 + width + 4
    if right + _width(words) <= WIDTH - 4:
        return _label(right, y, words)
    if x1 - 4 - _width(words) >= 4:
        return _label(x1 - 4, y, words, "end")
    return f'<text class="small on-bar" x="{x1 + 4}" y="{y}" text-anchor="start">{escape(words)}</text>'


def _drug_panel(drugs: Sequence[DrugBar], scale: Scale) -> list[str]:
    hatched = " (hatched: stopped, end not recorded)" if any(not d.end_known for d in drugs) else ""
    out = [
        f'<text x="{LEFT}" y="{DRUG_TOP - 10}">Drugs that raise or lower the tacrolimus level{hatched}</text>'
    ]
    if not drugs:
        out.append(
            f'<text class="small" x="{LEFT + 8}" y="{DRUG_TOP + 14}">None on record in the window.</text>'
        )
    for i, bar in enumerate(drugs):
        y = DRUG_TOP + i * DRUG_ROW
        x1, x2 = scale.x(bar.start), scale.x(bar.end)
        ended = (
            _day(bar.end) if bar.end_known else "an end not recorded (hatched: when it stopped is not known)"
        )
        said = escape(f"{bar.name} ({bar.effect} tacrolimus levels): {_day(bar.start)} to {ended}")
        width = max(round(x2 - x1, 1), 3.0)
        look = bar.effect if bar.end_known else f"open-{bar.effect}"
        out.append(
            f'<rect class="{look}" x="{x1}" y="{y}" width="{width}" height="{DRUG_ROW - 8}">'
            f"<title>{said}</title></rect>"
            + _drug_label(
                x1, width, y + 12, f"{bar.name} ({bar.effect}{'' if bar.end_known else ', end not recorded'})"
            )
        )
    return out


def _band_text(band: Band) -> str:
    return f"{band.low:g} to {band.high:g} ng/mL from {_day(band.start)} to {_day(band.end)} ({band.basis})"


def _kind_text(point: Point) -> str:
    if point.kind == "trough":
        return "trough"
    if point.kind == "preliminary":
        return "preliminary result, not judged"
    if point.kind == "unknown":
        return "result"
    return f"{point.kind}: not a trough, not judged"


def _row(cells: Sequence[str], linked: str | None = None) -> str:
    """A table row of text cells, then a last cell of markup already escaped (a source's link) if given."""
    tail = f"<td>{linked}</td>" if linked is not None else ""
    return "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + tail + "</tr>"


def tables(story: Story, knowledge: Knowledge) -> str:
    """The same facts as tables, and the derived figures with their definitions and sources."""
    rows = []
    for point in story.points:
        if point.censored:
            plotted = point.listed_why
        elif point.value is None:  # a point has no value exactly when it says why (cards.story)
            plotted = f"listed, not plotted: {point.listed_why}"
        else:
            plotted = f"{point.value:g}"
        band = f"{point.band.low:g} to {point.band.high:g}" if point.band else ""
        within = {True: "yes", False: "no", None: ""}[point.within]
        dose = ""
        if point.dose is not None:
            dose = _mg(point.dose.daily_mg) if point.dose.daily_mg is not None else "not readable"
        ratio = f"{point.ratio:.2f}" if point.ratio is not None else ""
        shown = f"{point.shown} (note: {point.note})" if point.note else point.shown
        drugs_before = "; ".join(point.drugs_before)
        cells = (_day(point.when), shown, plotted, _kind_text(point), band, within, dose, ratio, drugs_before)
        rows.append(_row(cells))
    levels = (
        '<table class="story-table"><caption>Tacrolimus levels</caption><tr><th>date</th><th>as recorded</th>'
        "<th>ng/mL</th><th>what it is</th><th>target in force (ng/mL)</th><th>within</th>"
        "<th>daily dose in force</th><th>C/D (ng/mL per mg/day)</th>"
        "<th>level-altering drugs since the trough before</th></tr>"
        + ("".join(rows) or '<tr><td colspan="9">No tacrolimus level in the window.</td></tr>')
        + "</table>"
    )
    doses = "".join(
        _row(
            (
                _day(step.start),
                _day(step.end),
                _mg(step.daily_mg) if step.daily_mg is not None else "not readable",
                step.shown,
                step.formulation + (" (changed)" if step.formulation_changed else ""),
            )
        )
        for step in story.doses
    )
    drugs = "".join(
        _row((bar.name, bar.effect, _day(bar.start), _day(bar.end) if bar.end_known else "not recorded"))
        for bar in story.drugs
    )
    bands = "".join(
        _row(
            (_day(b.start), _day(b.end), f"{b.low:g} to {b.high:g}", b.basis),
            _source_link(b.source, knowledge),
        )
        for b in story.bands
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in story.notes)
    return (
        f"{levels}{_figures(story.figures, knowledge)}"
        '<table class="story-table"><caption>Target bands</caption><tr><th>from</th><th>to</th>'
        "<th>ng/mL</th><th>basis</th><th>source</th></tr>"
        f"{bands or '<tr><td colspan=5>None drawn.</td></tr>'}</table>"
        '<table class="story-table"><caption>Total daily dose of tacrolimus</caption>'
        "<tr><th>from</th><th>to</th>"
        "<th>daily dose</th><th>what the records say</th><th>formulation</th></tr>"
        f"{doses or '<tr><td colspan=5>No dated tacrolimus record in the window.</td></tr>'}</table>"
        '<table class="story-table"><caption>Drugs that raise or lower the tacrolimus level</caption><tr>'
        "<th>drug</th><th>effect</th><th>from</th><th>to</th></tr>"
        f"{drugs or '<tr><td colspan=4>None.</td></tr>'}"
        "</table>" + (f"<h3>Not drawn</h3><ul>{notes}</ul>" if notes else "")
    )


def _source_link(key: str, knowledge: Knowledge) -> str:
    """A sources.json entry as a link to it ('' for a key it does not hold)."""
    entry = knowledge.sources.get(key)
    if entry is None:
        return ""
    return f'<a href="{escape(entry.url)}" rel="noopener noreferrer">{escape(entry.label)}</a>'


def _figures(figures: Sequence[Figure], knowledge: Knowledge) -> str:
    items = []
    for figure in figures:
        value = escape(figure.value) if figure.value is not None else "no figure"
        link = _source_link(figure.source, knowledge)
        source = f" Source: {link}." if link else ""
        note = f" {escape(figure.note)}" if figure.note else ""
        # a figure resting on nothing (too few troughs) has only its note to say why
        rests_on = f" Rests on {escape(figure.rests_on)}." if figure.rests_on else ""
        items.append(
            f"<dt>{escape(figure.name)}: <strong>{value}</strong></dt><dd>{escape(figure.definition)}"
            f"{rests_on}{note}{source}</dd>"
        )
    return f'<h3>Derived figures (shown, not judged)</h3><dl class="story-figures">{"".join(items)}</dl>'


def html(story: Story, knowledge: Knowledge) -> str:
    """The picture and its tables: an HTML fragment ('' when the record has no level, dose or drug)."""
    if story.empty:
        return ""
    return (
        f'<figure class="level-story">{svg(story)}<figcaption>The level story: tacrolimus levels against'
        " the target in force, the total daily dose and the drugs that raise or lower the level."
        f"</figcaption></figure>{tables(story, knowledge)}"
    )
