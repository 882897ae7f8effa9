"""Loading and checking the knowledge files in ``cards/knowledge/``, once, at start-up.

Each file is JSON validated by a pydantic model; any problem raises KnowledgeError naming the file and the
entry, so a broken file stops the service before it answers anything.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cds.errors import KnowledgeError
from cds.models import Coding, Source

KNOWLEDGE_DIR = Path(__file__).parent / "knowledge"
M = TypeVar("M", bound=BaseModel)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_min_length=1)


class SourceEntry(_Entry):
    label: str = Field(max_length=120)
    url: str
    citation: str
    provenance: str

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https URL")
        return value


class TopicEntry(_Entry):
    display: str
    description: str


class _Code(_Entry):
    """A terminology code, verified or partially verified; an unverified code is never used."""

    status: Literal["verified", "partial"]
    note: str | None = None

    @model_validator(mode="after")
    def _partial_needs_note(self) -> Self:
        if self.status == "partial" and not self.note:
            raise ValueError("a partially verified code needs a note saying what verified it")
        return self


class ObservationCode(_Code):
    group: str
    display: str  # the LOINC long name
    short: str = ""  # the name a card shows (Creatinine, eGFR): clinicians read these, not LOINC names


class CodeEntry(_Code):
    name: str


class TacrolimusCodes(_Entry):
    about: str
    provenance: str
    rxnorm: dict[str, CodeEntry] = Field(min_length=1)
    atc: list[str] = Field(min_length=1)
    atc_local: list[str] = Field(default_factory=list)
    names: list[str] = Field(min_length=1)


class Ingredient(_Entry):
    display: str
    names: list[str] = Field(min_length=1)
    brands: list[str] = Field(default_factory=list)
    rxnorm: list[str] = Field(default_factory=list)
    rxnorm_partial: dict[str, str] = Field(default_factory=dict)  # code -> what verified it
    atc: list[str] = Field(default_factory=list)
    atc_partial: dict[str, str] = Field(default_factory=dict)  # code -> what verified it
    atc_local: list[str] = Field(default_factory=list)
    systemic_only_in: list[str] = Field(default_factory=list)
    subset_words: list[str] = Field(default_factory=list)
    includes: list[str] = Field(default_factory=list)  # ingredients its own name stands for too


class DrugClass(_Entry):
    display: str
    atc_prefixes: list[str] = Field(min_length=1)


class Drugs(_Entry):
    about: str
    provenance: str
    ingredients: dict[str, Ingredient] = Field(min_length=1)
    classes: dict[str, DrugClass]


class Product(_Entry):
    ingredients: list[str]
    name: str


class Products(_Entry):
    about: str
    provenance: str
    concepts: dict[str, Product] = Field(min_length=1)


class Citation(_Entry):
    source: str
    section: str
    references: list[str] = Field(default_factory=list)


Effect = Literal["raises", "lowers", "toxicity"]


class Interaction(_Entry):
    effect: Effect
    indicator: Literal["info", "warning", "critical"]
    drugs: list[str] = Field(min_length=1)
    classes: list[str] = Field(default_factory=list)
    summary: str
    mechanism: str
    evidence: str
    action: str
    specifics: dict[str, str] = Field(default_factory=dict)
    citations: list[Citation] = Field(min_length=1)
    suggest_level: bool
    suggest_removal: bool  # offer removing the draft: only where the source's verb is avoid or stop
    source: str
    indications: list[str] = Field(default_factory=list)  # only for these; then it replaces the others
    override: dict[str, str] = Field(default_factory=dict)  # its own override reasons, code -> display

    @field_validator("summary")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{drug}" not in value:
            raise ValueError("must name the drug with {drug}")
        return value


class OverrideReasons(_Entry):
    system: str
    reasons: dict[str, str] = Field(min_length=1)  # code -> display, offered on every interaction card
    by_effect: dict[Effect, dict[str, str]] = Field(default_factory=dict)  # offered by the effect's cards


class Interactions(_Entry):
    about: str
    provenance: str
    policy: dict[str, str]
    override_reasons: OverrideReasons
    interactions: dict[str, Interaction] = Field(min_length=1)


class CardText(_Entry):
    summary: str
    indicator: Literal["info", "warning", "critical"]
    detail: list[str] = Field(min_length=1)


class VaccineInterval(_Entry):
    before_days: int
    avoid_within_days: int
    text: str


class Vaccines(_Entry):
    about: str
    provenance: str
    system: str
    live: dict[str, str] = Field(min_length=1)
    unspecified: dict[str, str]
    live_names: list[str] = Field(min_length=1)
    unspecified_names: list[str]
    not_live_words: list[str]
    interval: VaccineInterval

    @field_validator("live", "unspecified")
    @classmethod
    def _short_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for code, label in value.items():
            if len(label) > 60:
                raise ValueError(f"CVX {code}: label longer than 60 characters")
        return value

    cards: dict[Literal["live", "unspecified", "recent", "recent_within"], CardText]
    citations: list[Citation] = Field(min_length=1)
    override_reasons: dict[str, str] = Field(min_length=1)


class CodeRef(_Entry):
    system: str
    code: str
    note: str | None = None


class CodePrefix(_Entry):
    system: str
    prefix: str
    note: str


class StatusRule(_Entry):
    """How one status (pregnant, breastfeeding) is read from observations and conditions."""

    observation: CodeRef
    yes: list[CodeRef] = Field(min_length=1)
    no: list[CodeRef]
    findings: list[CodeRef]
    conditions: list[CodeRef]
    condition_prefixes: list[CodePrefix] = Field(default_factory=list)
    card: CardText
    citations: list[Citation] = Field(min_length=1)


class Reproduction(_Entry):
    about: str
    provenance: str
    breastfeeding: StatusRule
    pregnancy: StatusRule


class Intolerance(_Entry):
    about: str
    hypersensitivity_words: list[str] = Field(min_length=1)


class MacrolideAllergy(_Entry):
    intolerance: Intolerance
    ingredients: list[str]
    classes: list[str]
    words: list[str]
    card: CardText
    citations: list[Citation] = Field(min_length=1)


class Injection(_Entry):
    words: list[str] = Field(min_length=1)
    card: CardText
    allergy_card: CardText
    citations: list[Citation] = Field(min_length=1)


class Caution(_Entry):
    """One caution: when it applies (some of these), its card and citations."""

    card: CardText
    citations: list[Citation] = Field(min_length=1)
    words: list[str] = Field(default_factory=list)  # in a current condition's text or displays
    not_words: list[str] = Field(default_factory=list)  # ...unless these say it is not the patient's own now
    ingredients: list[str] = Field(default_factory=list)
    medication_words: list[str] = Field(default_factory=list)  # in a current systemic medication's names
    conditions: list[CodePrefix] = Field(default_factory=list)
    under_years: int | None = None


class Topical(_Entry):
    child: Caution
    immunocompromised: Caution
    malignancy: Caution  # malignant or pre-malignant skin: must not be applied (Precautions)
    neoplasia: Caution  # any other malignancy: some advise avoiding (expert opinion, Carcinogenicity)
    infection: Caution
    absorption: Caution
    counselling: Caution


class OrganFunction(_Entry):
    hepatic_conditions: list[CodePrefix] = Field(min_length=1)
    labs: list[str] = Field(min_length=1)
    hepatic_card: CardText
    citations: list[Citation] = Field(min_length=1)


class BeforeStarting(_Entry):
    about: str
    card: CardText
    intravenous_summary: str = Field(max_length=139)
    oral: list[str] = Field(min_length=1)  # counselling that holds for tablets and capsules, not an infusion
    baseline: str
    no_baseline: str
    labs: list[str] = Field(min_length=1)
    citations: list[Citation] = Field(min_length=1)


class ResultGroup(_Entry):
    name: str
    directions: list[Literal["high", "low"]] = Field(min_length=1)
    why: str


class AbnormalResults(_Entry):
    about: str
    groups: dict[str, ResultGroup] = Field(min_length=1)  # observations.json groups
    flags: dict[Literal["high", "low", "abnormal", "normal"], list[str]]
    flag_words: dict[Literal["high", "low", "abnormal", "normal"], list[str]]
    card: CardText
    citations: list[Citation] = Field(min_length=1)


class Cautions(_Entry):
    about: str
    provenance: str
    override_reasons: dict[str, str] = Field(min_length=1)
    macrolide_allergy: MacrolideAllergy
    injection: Injection
    topical: Topical
    organ_function: OrganFunction
    abnormal_results: AbnormalResults
    before_starting: BeforeStarting


Population = Literal["adult", "child", "any"]
Status = Literal["verified", "partial"]


class TargetRow(_Entry):
    formulation: str = "any"  # a formulations key; "any": the Prograf table, used for every product; "site"
    organ: str
    population: Population
    regimen: str
    from_month: float
    to_month: float | None  # None: no end given
    low: float
    high: float
    status: Status = "verified"
    note: str | None = None


class DoseRow(_Entry):
    """A starting dose in mg/kg/day for one formulation, indication, population and regimen."""

    formulation: str
    organ: str  # an indications key
    population: Population
    regimen: str
    low: float
    high: float
    source: str
    basis: str  # the source in a few words, for the summary: "US label", "UC summary"
    status: Status
    note: str | None = None


class Conversion(_Entry):
    """A source's conversion from immediate-release to this product."""

    factor: float
    text: str
    basis: str  # whose figure it is, as the card names it
    status: Status
    note: str


class Formulation(_Entry):
    """A tacrolimus product kind: how it is recognised, given and measured out."""

    display: str
    short: str
    release: Literal["immediate", "prolonged", "infusion"]
    doses_per_day: int | None  # None: continuous infusion
    strengths_mg: list[float]  # what a dose is made of: the rounding a prescriber can order ([]: none)
    strengths_note: str
    units: str  # what the strengths come as: capsules, tablets
    words: list[str] = Field(min_length=1)
    form_words: list[str] = Field(default_factory=list)  # the form that names this product among its kind
    conversion: Conversion | None = None
    route_codes: list[CodeRef] = Field(default_factory=list)


class IndicationCodes(_Entry):
    display: str
    conditions: list[CodePrefix] = Field(min_length=1)
    words: list[str] = Field(default_factory=list)  # in the condition's text or displays, any code system


class GeneralTargets(_Entry):
    early: dict[str, list[float]]
    maintenance: dict[str, list[float]]
    ceiling: float
    text: str


class UlcerativeColitis(_Entry):
    initial: list[float] = Field(min_length=2, max_length=2)
    maintenance: list[float] = Field(min_length=2, max_length=2)
    text: str
    acute_phase_days: int
    phase_policy: str
    usual_duration_months: list[float] = Field(min_length=2, max_length=2)
    duration_text: str
    monitoring_text: str  # what the summary says to monitor (the level card for colitis shows it)


class Monitoring(_Entry):
    early_months: float
    early_interval_days: int
    diarrhoea_words: list[str]
    text: str  # the cadence from transplant on
    later_text: str  # the cadence once past the first months (early_months)
    out_of_range: str  # what to do when a trough is outside its target (the level card's last word)
    not_trough_words: list[str] = Field(min_length=1)
    trough_policy: str
    stale_after_days: int
    stale_policy: str


class Phenotype(_Entry):
    text: str
    factor: list[float] = Field(min_length=2, max_length=2)
    cap: float | None


class MolarMass(_Entry):
    value: float
    text: str


class Dosing(_Entry):
    about: str
    provenance: str
    child_under_years: int
    molar_mass: MolarMass
    indications: dict[str, IndicationCodes]
    indication_not_words: list[str] = Field(default_factory=list)
    regimens: dict[str, list[str]]
    regimen_labels: dict[str, str]  # how a target's regimen is written on a card (the label's words)
    formulations: dict[str, Formulation]
    targets: list[TargetRow]
    site_targets: list[TargetRow] = Field(default_factory=list)  # the site file's, never in dosing.json
    general: GeneralTargets
    uc: UlcerativeColitis
    monitoring: Monitoring
    starting_doses: list[DoseRow]
    cpic: dict[Literal["normal", "intermediate", "poor"], Phenotype]
    cards: dict[
        Literal["level", "due", "start", "switch", "concurrent", "concurrent_ordered", "duration"], CardText
    ]
    citations: dict[
        Literal["targets", "envarsus-targets", "uc", "cpic", "switch", "envarsus", "intravenous"],
        list[Citation],
    ]


@dataclass(frozen=True, slots=True)
class Knowledge:
    sources: Mapping[str, SourceEntry]
    topic_system: str
    topics: Mapping[str, TopicEntry]
    observation_system: str
    observations: Mapping[str, ObservationCode]
    observation_groups: Mapping[str, tuple[str, ...]]  # group -> its codes in file order (derived at load)
    tacrolimus: TacrolimusCodes
    drugs: Drugs
    products: Products
    interactions: Interactions
    vaccines: Vaccines
    reproduction: Reproduction
    cautions: Cautions
    dosing: Dosing

    def source(self, source_id: str, topic: str) -> Source:
        """The card source for a cited source and a topic code; both must exist."""
        if source_id not in self.sources:
            raise KnowledgeError(f"no source {source_id!r} in sources.json")
        if topic not in self.topics:
            raise KnowledgeError(f"no topic {topic!r} in topics.json")
        entry = self.sources[source_id]
        return Source(
            label=entry.label,
            url=entry.url,
            topic=Coding(system=self.topic_system, code=topic, display=self.topics[topic].display),
        )

    def observation_codes(self, *groups: str) -> tuple[str, ...]:
        """The codes of the groups (every code with none), in the file's order; asked on every call by
        several families, so each group's codes are found once, at load."""
        if len(groups) == 1:
            return self.observation_groups.get(groups[0], ())
        wanted = set(groups)
        return tuple(code for code, entry in self.observations.items() if not wanted or entry.group in wanted)


def _by_group(observations: Mapping[str, ObservationCode]) -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = {}
    for code, entry in observations.items():
        groups.setdefault(entry.group, []).append(code)
    return {group: tuple(codes) for group, codes in groups.items()}


def read_file(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise KnowledgeError(f"knowledge file {path} is missing") from None
    except orjson.JSONDecodeError as error:
        raise KnowledgeError(f"knowledge file {path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise KnowledgeError(f"knowledge file {path} must hold a JSON object")
    return data


def entries(directory: Path, name: str, data: Mapping[str, Any], field: str, model: type[M]) -> dict[str, M]:
    """Validate every entry of data[field] (an object of id -> entry) against model."""
    raw = data.get(field)
    if not isinstance(raw, dict) or not raw:
        raise KnowledgeError(f"knowledge file {directory / name}: {field!r} must be a non-empty object")
    parsed: dict[str, M] = {}
    for key, value in raw.items():
        try:
            parsed[key] = model.model_validate(value)
        except ValidationError as error:
            problem = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in error.errors()
            )
            raise KnowledgeError(f"knowledge file {directory / name}: entry {key!r}: {problem}") from None
    return parsed


def whole(directory: Path, name: str, model: type[M]) -> M:
    """Validate a whole file against model."""
    try:
        return model.model_validate(read_file(directory, name))
    except ValidationError as error:
        first = error.errors()[0]  # every model read whole is validated field by field: a location is given
        where = ".".join(str(p) for p in first["loc"])
        raise KnowledgeError(f"knowledge file {directory / name}: entry {where!r}: {first['msg']}") from None


def text_field(directory: Path, name: str, data: Mapping[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise KnowledgeError(f"knowledge file {directory / name}: {field!r} must be a non-empty string")
    return value


def check(knowledge: Knowledge, directory: Path) -> Knowledge:
    """Cross-file checks: every name an entry uses exists, and every summary fits in a card."""
    ingredients, classes = knowledge.drugs.ingredients, knowledge.drugs.classes
    where = directory / "interactions.json"
    for key, entry in knowledge.interactions.interactions.items():
        for drug in entry.drugs + list(entry.specifics):
            if drug not in ingredients:
                raise KnowledgeError(f"knowledge file {where}: entry {key!r}: unknown drug {drug!r}")
        for name in entry.classes:
            if name not in classes:
                raise KnowledgeError(f"knowledge file {where}: entry {key!r}: unknown class {name!r}")
        for citation in entry.citations:
            if citation.source not in knowledge.sources:
                raise KnowledgeError(
                    f"knowledge file {where}: entry {key!r}: unknown source {citation.source!r}"
                )
        if entry.source not in knowledge.sources:
            raise KnowledgeError(f"knowledge file {where}: entry {key!r}: unknown source {entry.source!r}")
        for name in entry.indications:
            if name not in knowledge.dosing.indications:
                raise KnowledgeError(f"knowledge file {where}: entry {key!r}: unknown indication {name!r}")
        names = [ingredients[d].display for d in entry.drugs] + [classes[c].display for c in entry.classes]
        for name in names:
            if len(entry.summary.replace("{drug}", name)) >= 140:
                raise KnowledgeError(f"knowledge file {where}: entry {key!r}: summary too long for {name!r}")
    check_dosing(knowledge, directory / "dosing.json")
    return knowledge


def check_dosing(knowledge: Knowledge, where: Path) -> None:
    """Every row names a formulation, an indication and a source that exist."""
    dosing = knowledge.dosing
    for n, row in enumerate(dosing.starting_doses):
        if row.formulation not in dosing.formulations:
            raise KnowledgeError(
                f"knowledge file {where}: starting_doses[{n}]: unknown formulation {row.formulation!r}"
            )
        if row.organ not in dosing.indications:
            raise KnowledgeError(
                f"knowledge file {where}: starting_doses[{n}]: unknown indication {row.organ!r}"
            )
        if row.source not in knowledge.sources:
            raise KnowledgeError(
                f"knowledge file {where}: starting_doses[{n}]: unknown source {row.source!r}"
            )
    for n, target_row in enumerate(dosing.targets):
        if target_row.formulation != "any" and target_row.formulation not in dosing.formulations:
            raise KnowledgeError(
                f"knowledge file {where}: targets[{n}]: unknown formulation {target_row.formulation!r}"
            )


def load(directory: Path = KNOWLEDGE_DIR) -> Knowledge:
    sources = read_file(directory, "sources.json")
    topics = read_file(directory, "topics.json")
    observations = read_file(directory, "observations.json")
    codes = entries(directory, "observations.json", observations, "codes", ObservationCode)
    knowledge = Knowledge(
        sources=entries(directory, "sources.json", sources, "sources", SourceEntry),
        topic_system=text_field(directory, "topics.json", topics, "system"),
        topics=entries(directory, "topics.json", topics, "topics", TopicEntry),
        observation_system=text_field(directory, "observations.json", observations, "system"),
        observations=codes,
        observation_groups=_by_group(codes),
        tacrolimus=whole(directory, "tacrolimus.json", TacrolimusCodes),
        drugs=whole(directory, "drugs.json", Drugs),
        products=whole(directory, "rxnorm-products.json", Products),
        interactions=whole(directory, "interactions.json", Interactions),
        vaccines=whole(directory, "vaccines.json", Vaccines),
        reproduction=whole(directory, "pregnancy.json", Reproduction),
        cautions=whole(directory, "cautions.json", Cautions),
        dosing=whole(directory, "dosing.json", Dosing),
    )
    return check(knowledge, directory)
