"""Knowing whether a medication is tacrolimus, by RxNorm code, ATC code or name."""

import re

from cards.knowledge import Knowledge
from cds.record import MedicationUse, PatientRecord

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"


class TacrolimusMatcher:
    def __init__(self, knowledge: Knowledge) -> None:
        codes = knowledge.tacrolimus
        self._rxnorm = frozenset(codes.rxnorm)
        self._atc = frozenset(codes.atc)
        names = "|".join(re.escape(name) for name in codes.names)
        self._names = re.compile(rf"(?<![a-z0-9])({names})(?![a-z0-9])", re.IGNORECASE)

    def matches(self, medication: MedicationUse) -> bool:
        for coding in medication.codings:
            if (coding.system == RXNORM and coding.code in self._rxnorm) or (
                coding.system == ATC and coding.code in self._atc
            ):
                return True
        return any(self._names.search(name) for name in medication.names)

    def in_record(self, record: PatientRecord) -> bool:
        """True when any current medication or draft order is tacrolimus (any route)."""
        return any(self.matches(m) for m in record.medications if m.current)
