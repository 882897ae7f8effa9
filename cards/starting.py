"""The before-starting card: one card when systemic tacrolimus is started, merging what a prescriber checks
and tells the patient before the first dose (cautions.json `before_starting`):

- the latest baseline results (creatinine, eGFR, potassium, glucose, liver tests) with their dates, or that
  there are none;
- counselling: grapefruit, herbal products, food, other medicines;
- the `info`-level interactions of what the patient already takes (mycophenolate, omeprazole ...), which
  are not cards of their own at a start;
- recorded hepatic impairment;
- for an infusion, the injection's polyoxyl castor oil (then the card is a `warning`; a recorded allergy to
  the vehicle is the hypersensitivity family's critical card).

Policy: `info`; `warning` when an infusion is ordered. Only at order-select and order-sign.
"""

from collections.abc import Iterable

from cards.drugs import DrugIdentifier
from cards.formulation import INTRAVENOUS, Formulations
from cards.interactions import InteractionFamily
from cards.knowledge import Knowledge
from cards.organ_function import hepatic_conditions, latest_results
from cards.therapy import ORDER_HOOKS, Family, Therapy
from cds.models import Card
from cds.record import PatientRecord

TOPIC = "before-starting"


class StartingFamily(Family):
    key = "starting"  # the site file's name for it
    title = "before starting tacrolimus"
    hooks = ORDER_HOOKS
    needs = frozenset({"medicationRequests"})

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        super().__init__(knowledge, drugs)
        self._interactions = InteractionFamily(knowledge, drugs)
        self._products = Formulations(knowledge)

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        if not therapy.starting_systemic:
            return []
        data = self._knowledge.cautions.before_starting
        infusion = any(self._products.kind(m) == INTRAVENOUS for m in therapy.ordered(therapy.systemic))
        results = latest_results(record, self._knowledge, data.labs)
        citations = list(data.citations)
        lines = []
        if infusion:  # the reason the card is a warning comes first
            injection = self._knowledge.cautions.injection
            lines += ["**Intravenous**", "", *(f"- {line}" for line in injection.card.detail), ""]
            citations += injection.citations
        lines += [
            "**Baseline**",
            "",
            f"- {data.baseline}",
            *(f"- {r}" for r in results or [data.no_baseline]),
        ]
        told = [*data.card.detail, *([] if infusion else data.oral)]  # food and timing: by mouth only
        lines += ["", "**Tell the patient**", "", *(f"- {line}" for line in told)]
        taken = [
            f"- {f.display} ({'; '.join(m.names[0] if m.names else m.ref for m in f.medications)}):"
            f" {f.entry.evidence} {f.entry.action}"
            for f in self._interactions.findings(record)
            if f.indicator == "info"
        ]
        if taken:
            lines += ["", "**Medicines already taken**", "", *taken]
        hepatic = hepatic_conditions(record, self._knowledge)
        if hepatic:
            lines += [
                "",
                f"**Hepatic impairment recorded** ({', '.join(hepatic)}): dosage reduction may be necessary.",
            ]
        lines += ["", *self._maker.sources(citations)]
        return [
            Card(
                summary=data.intravenous_summary if infusion else data.card.summary,
                detail="\n".join(lines),
                indicator="warning" if infusion else data.card.indicator,
                source=self._knowledge.source("monograph", TOPIC),
            )
        ]
