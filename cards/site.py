"""The site file (``CDS_SITE_FILE``, YAML or JSON): what a transplant centre sets for its own practice.

    name: St Elsewhere renal unit              # shown on the preview page and by `services`
    families: {topical: false}                 # card families on or off (all on by default)
    targets:                                   # the site's trough targets (ng/mL), by organ and phase
      - {organ: kidney, from_month: 0, to_month: 3, low: 8, high: 12}
      - {organ: kidney, from_month: 3, to_month: null, low: 5, high: 8, note: "maintenance"}
    indicators:                                # a topic's indicator, raised or lowered
      interaction-counselling: warning
      live-vaccine:                            # lowering a topic that can be critical needs a reason
        indicator: warning
        acknowledge_lowering_critical: "Vaccinations are reviewed by the transplant ID clinic (2026-11)"
    repeat_hold_days: 7                        # a dismissed warning or info card stays away this long
    level_stale_after_days: 60                 # a trough older than this (after month 3) means a level is due

Checked at start-up: a problem stops the service with a message naming the file and the entry. The site's
targets are shown in the level card as the site protocol, with the label's range beside it; a site never
lowers a critical card unless it says why.
"""

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, Self, get_args

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cards.interactions import TOPICS
from cards.knowledge import Dosing, Knowledge, TargetRow
from cds.errors import ConfigError
from cds.models.card import INDICATOR_RANK, Indicator

FamilyKey = Literal[
    "interactions",
    "vaccines",
    "pregnancy",
    "hypersensitivity",
    "topical",
    "organ_function",
    "results",
    "levels",
    "dosing",
    "starting",
    "duration",
]
FAMILIES: tuple[FamilyKey, ...] = get_args(FamilyKey)  # in the order the services run them


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteTarget(_Strict):
    organ: str
    from_month: float = Field(ge=0)
    to_month: float | None = Field(default=None, gt=0)  # None: no end
    low: float = Field(gt=0)
    high: float = Field(gt=0)
    population: Literal["adult", "child", "any"] = "any"
    note: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.to_month is not None and self.to_month <= self.from_month:
            raise ValueError(f"to_month ({self.to_month:g}) must be after from_month ({self.from_month:g})")
        return self


class IndicatorChange(_Strict):
    indicator: Indicator
    acknowledge_lowering_critical: str | None = Field(default=None, min_length=10)


class Site(_Strict):
    name: str | None = None
    families: dict[FamilyKey, bool] = Field(default_factory=dict)
    targets: list[SiteTarget] = Field(default_factory=list)
    indicators: dict[str, Indicator | IndicatorChange] = Field(default_factory=dict)
    repeat_hold_days: int = Field(default=7, ge=0, le=365)
    level_stale_after_days: int | None = Field(default=None, ge=1, le=3650)

    def indicator(self, topic: str) -> IndicatorChange | None:
        change = self.indicators.get(topic)
        if change is None or isinstance(change, IndicatorChange):
            return change
        return IndicatorChange(indicator=change)

    def enabled(self, family: str) -> bool:
        return all(on for key, on in self.families.items() if key == family)

    def describe(self) -> dict[str, Any]:
        """The settings in force, for the preview page and `services`."""
        return {
            "name": self.name or "(none)",
            "families off": [key for key in FAMILIES if not self.enabled(key)] or "none",
            "site trough targets": [
                f"{t.organ} {t.population}: months {t.from_month:g} to "
                f"{'onwards' if t.to_month is None else f'{t.to_month:g}'}: {t.low:g} to {t.high:g} ng/mL"
                for t in self.targets
            ]
            or "none (the label's and the monograph's)",
            "indicator changes": {
                topic: (change.indicator if isinstance(change, IndicatorChange) else change)
                for topic, change in self.indicators.items()
            }
            or "none",
            "repeat hold": f"{self.repeat_hold_days} days" if self.repeat_hold_days else "off",
            "level due after": f"{self.level_stale_after_days} days (site)"
            if self.level_stale_after_days
            else "the project's default",
        }


def read_site(path: Path | None, knowledge: Knowledge) -> Site:
    """The site file, checked; no file: the defaults. Raises ConfigError naming the file and the entry."""
    if path is None:
        return Site()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"CDS_SITE_FILE {path}: cannot be read ({error.strerror or error})") from None
    try:
        data = orjson.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"CDS_SITE_FILE {path}: not valid {_kind(path)}: {error}") from None
    if data is None:
        data = {}  # an empty file: the defaults
    if not isinstance(data, dict):
        raise ConfigError(f"CDS_SITE_FILE {path}: must hold a mapping of settings, not {type(data).__name__}")
    try:
        site = Site.model_validate(data)
    except ValidationError as error:
        # every error has a place: the file is a mapping (checked above) and Site has no whole-file check
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5])
        raise ConfigError(f"CDS_SITE_FILE {path}: {problems}") from None
    _check(site, knowledge, path)
    return site


def _kind(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"


def _check(site: Site, knowledge: Knowledge, path: Path) -> None:
    organs = {key for key in knowledge.dosing.indications if key != "ulcerative-colitis"}  # transplants
    for n, row in enumerate(site.targets):
        if row.organ not in organs:
            raise ConfigError(
                f"CDS_SITE_FILE {path}: targets[{n}].organ: {row.organ!r} is not one of {sorted(organs)}"
            )
    can_be_critical = critical_topics(knowledge)
    for topic in site.indicators:
        change = site.indicator(topic)
        if topic not in knowledge.topics:
            raise ConfigError(
                f"CDS_SITE_FILE {path}: indicators.{topic}: no such card topic (see the README's card table)"
            )
        if (
            change is not None
            and topic in can_be_critical
            and INDICATOR_RANK[change.indicator] > INDICATOR_RANK["critical"]
            and not change.acknowledge_lowering_critical
        ):
            raise ConfigError(
                f"CDS_SITE_FILE {path}: indicators.{topic}: its cards can be critical (the source says"
                f" avoid); lowering them to {change.indicator!r} needs acknowledge_lowering_critical:"
                " the reason"
            )


def critical_topics(knowledge: Knowledge) -> frozenset[str]:
    """The topics of which some card can be critical, from the knowledge."""
    found = {
        TOPICS[e.effect] for e in knowledge.interactions.interactions.values() if e.indicator == "critical"
    }
    cautions = knowledge.cautions
    if knowledge.vaccines.cards["live"].indicator == "critical":
        found.add("live-vaccine")
    if "critical" in (cautions.macrolide_allergy.card.indicator, cautions.injection.allergy_card.indicator):
        found.add("hypersensitivity")
    if cautions.topical.child.card.indicator == "critical":
        found.add("topical-use")
    return frozenset(found)


def with_site(knowledge: Knowledge, site: Site) -> Knowledge:
    """The knowledge with the site's targets (first, as the site protocol) and its level interval."""
    if not site.targets and site.level_stale_after_days is None:
        return knowledge
    dosing = knowledge.dosing
    monitoring = dosing.monitoring
    if site.level_stale_after_days is not None:
        monitoring = monitoring.model_copy(update={"stale_after_days": site.level_stale_after_days})
    rows = [
        TargetRow(
            formulation="site",
            organ=t.organ,
            population=t.population,
            regimen="any",
            from_month=t.from_month,
            to_month=t.to_month,
            low=t.low,
            high=t.high,
            note=t.note,
        )
        for t in site.targets
    ]
    updated = dosing.model_copy(update={"site_targets": rows, "monitoring": monitoring})
    return _replace_dosing(knowledge, updated)


def _replace_dosing(knowledge: Knowledge, dosing: Dosing) -> Knowledge:
    return replace(knowledge, dosing=dosing)
