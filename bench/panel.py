"""`python -m bench.panel`: the measured burden panel of issue 14.

Every file in ``bench/panel/`` is one synthetic patient with one or more hook calls, each with the cards a
pharmacist wants at that call (``wanted``: topic, indicator and why; an empty list means no card). The runner
evaluates each call in process with the service's own card families, as if now were 2026-12-01T09:00:00Z,
and prints per hook the calls, cards per call (mean and max) and the share of ``info`` cards, for what the
service shows and for what was wanted; then every call whose cards differ from ``wanted``, compared as the
multiset of (topic, indicator).

Exit status: 0 whatever the differences, unless ``--check`` is given, when any call that differs (or that
the service refuses with a 4xx) exits 1. A panel file that cannot be read exits 2, naming file and problem.
See ``bench/panel/README.md`` for the policy behind the wanted cards.
"""

import argparse
import asyncio
import statistics
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cards import load_services
from cds.errors import CDSError
from cds.evaluate import Evaluator
from cds.settings import Settings

PANEL_DIR = Path(__file__).with_name("panel")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PREFETCH_KEYS = (
    "patient",
    "medicationRequests",
    "medicationStatements",
    "conditions",
    "observations",
    "immunizations",
    "allergies",
)
HOOKS = ("patient-view", "order-select", "order-sign")

Hook = Literal["patient-view", "order-select", "order-sign"]
Indicator = Literal["info", "warning", "critical"]
# The topics a pharmacist may want, including those issues 12 to 14 add (abnormal-result, formulation-switch,
# treatment-duration, before-starting). interaction-counselling is absent on purpose: issue 14 merges it into
# before-starting.
Topic = Literal[
    "interaction-raises-level",
    "interaction-lowers-level",
    "interaction-toxicity",
    "live-vaccine",
    "pregnancy",
    "breastfeeding",
    "hypersensitivity",
    "topical-use",
    "organ-function",
    "abnormal-result",
    "trough-target",
    "dosing",
    "formulation-switch",
    "treatment-duration",
    "before-starting",
    "data-incomplete",
]
Key = tuple[str, str]  # (topic, indicator)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Wanted(_Strict):
    topic: Topic
    indicator: Indicator
    why: str = Field(min_length=1)


class Call(_Strict):
    hook: Hook
    note: str | None = None
    request: dict[str, Any]
    wanted: list[Wanted]

    @model_validator(mode="after")
    def _request_matches(self) -> Self:
        if self.request.get("hook") != self.hook:
            raise ValueError(f"request.hook is {self.request.get('hook')!r}, the call says {self.hook!r}")
        prefetch = self.request.get("prefetch")
        missing = [k for k in PREFETCH_KEYS if not isinstance(prefetch, dict) or k not in prefetch]
        if missing:
            raise ValueError(f"request.prefetch lacks {', '.join(missing)}: the panel sends every key")
        return self


class Patient(_Strict):
    title: str = Field(min_length=1)
    story: str = Field(min_length=1)
    calls: list[Call] = Field(min_length=1)


class PanelError(Exception):
    """A panel file that cannot be read or does not have the panel's shape."""


@dataclass(frozen=True, slots=True)
class Shown:
    topic: str
    indicator: str
    summary: str

    @property
    def key(self) -> Key:
        return self.topic, self.indicator


@dataclass(frozen=True, slots=True)
class Outcome:
    file: str
    title: str
    number: int  # the call's position in its file, from 1
    call: Call
    shown: tuple[Shown, ...]
    error: str | None = None  # the service refused the call (4xx): status and message

    @property
    def wanted(self) -> Counter[Key]:
        return Counter((w.topic, w.indicator) for w in self.call.wanted)

    @property
    def got(self) -> Counter[Key]:
        return Counter(s.key for s in self.shown)

    @property
    def differs(self) -> bool:
        return self.error is not None or self.wanted != self.got


def load(directory: Path) -> list[tuple[Path, Patient]]:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise PanelError(f"no panel files (*.json) in {directory}")
    patients = []
    for path in files:
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as error:
            raise PanelError(f"{path.name}: not valid JSON: {error}") from None
        try:
            patients.append((path, Patient.model_validate(data)))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in error.errors()[:5]
            )
            raise PanelError(f"{path.name}: {problems}") from None
    return patients


def evaluator() -> Evaluator:
    settings = Settings(auth="off", database_url="sqlite://")
    return Evaluator(load_services(), settings, http=None, clock=lambda: NOW)


async def run(patients: Sequence[tuple[Path, Patient]], service: Evaluator) -> list[Outcome]:
    outcomes = []
    for path, patient in patients:
        for number, call in enumerate(patient.calls, start=1):
            try:
                response = await service.evaluate(f"tacrolimus-{call.hook}", call.request)
            except CDSError as error:
                refused = f"{error.status_code} {error.code}: {error.message}"
                outcomes.append(Outcome(path.name, patient.title, number, call, (), refused))
                continue
            shown = tuple(
                Shown(card.source.topic.code if card.source.topic else "-", card.indicator, card.summary)
                for card in response.cards
            )
            outcomes.append(Outcome(path.name, patient.title, number, call, shown))
    return outcomes


def _burden(counts: Sequence[int], info: int) -> str:
    total = sum(counts)
    mean = statistics.fmean(counts) if counts else 0.0
    share = f"{info / total:.0%}" if total else "-"
    return f"{mean:>5.2f} {max(counts, default=0):>4} {total:>6} {share:>6}"


def burden_table(outcomes: Sequence[Outcome]) -> list[str]:
    header = f"{'':<14}{'':>6}  {'service shows':^24}  {'pharmacist wants':^24}"
    half = f"{'mean':>5} {'max':>4} {'cards':>6} {'info':>6}"
    columns = f"{'hook':<14}{'calls':>6}  {half}  {half}"
    lines = [header, columns]
    groups: list[tuple[str, list[Outcome]]] = [(h, [o for o in outcomes if o.call.hook == h]) for h in HOOKS]
    groups.append(("all", list(outcomes)))
    for hook, group in groups:
        if not group:
            continue
        got = _burden(
            [len(o.shown) for o in group],
            sum(1 for o in group for s in o.shown if s.indicator == "info"),
        )
        wanted = _burden(
            [len(o.call.wanted) for o in group],
            sum(1 for o in group for w in o.call.wanted if w.indicator == "info"),
        )
        lines.append(f"{hook:<14}{len(group):>6}  {got}  {wanted}")
    return lines


def _keys(counter: Counter[Key]) -> str:
    return ", ".join(f"{topic} {indicator}" for topic, indicator in sorted(counter.elements())) or "no card"


def difference(outcome: Outcome, why: bool) -> list[str]:
    lines = [f"{outcome.file} call {outcome.number} ({outcome.call.hook}): {outcome.title}"]
    if outcome.error:
        lines.append(f"  refused: {outcome.error}")
    lines.append(f"  wanted:  {_keys(outcome.wanted)}")
    if why:
        for wanted in outcome.call.wanted:
            lines += textwrap.wrap(
                f"{wanted.topic} {wanted.indicator}: {wanted.why}",
                width=108,
                initial_indent="    - ",
                subsequent_indent="      ",
            )
    if not outcome.error:
        lines.append(f"  got:     {_keys(outcome.got)}")
        for shown in outcome.shown:
            lines.append(f"    - [{shown.indicator}] {shown.topic}: {shown.summary}")
    missing, unexpected = outcome.wanted - outcome.got, outcome.got - outcome.wanted
    if missing and not outcome.error:
        lines.append(f"  missing:    {_keys(missing)}")
    if unexpected:
        lines.append(f"  unexpected: {_keys(unexpected)}")
    return lines


def report(outcomes: Sequence[Outcome], patients: int, why: bool) -> Iterable[str]:
    differing = [o for o in outcomes if o.differs]
    yield f"Burden panel: {patients} patients, {len(outcomes)} calls, evaluated at {NOW.isoformat()}"
    yield ""
    yield from burden_table(outcomes)
    yield ""
    refused = sum(1 for o in outcomes if o.error)
    matching = len(outcomes) - len(differing)
    yield f"Calls matching the wanted cards: {matching} of {len(outcomes)}; refused by the service: {refused}"
    for outcome in differing:
        yield ""
        yield from difference(outcome, why)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.panel",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when any call differs")
    parser.add_argument("--why", action="store_true", help="show why each card is wanted")
    parser.add_argument("--dir", type=Path, default=PANEL_DIR, help="panel directory (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        patients = load(args.dir)
    except PanelError as error:
        print(f"panel: {error}", file=sys.stderr)
        return 2
    outcomes = asyncio.run(run(patients, evaluator()))
    for line in report(outcomes, len(patients), args.why):
        print(line)
    return 1 if args.check and any(o.differs for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
