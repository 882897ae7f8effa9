"""Whether a hook call can give a card at all, found cheaply: every card family answers only for a patient
with a current or drafted tacrolimus (systemic or topical), so a call in whose medications no code, name or
brand of tacrolimus appears has nothing to say. Most charts opened are of patients not on tacrolimus.

The test is a scan, not an identification: it looks for every marker (`DrugIdentifier.markers`) as a
substring of the medications' JSON in lower case, so it can only err toward a full evaluation (a code
inside a longer number, a brand word anywhere in a text). The protocol side calls it as the service's
relevance test (`cds.service.Relevance`) before it builds the record."""

from collections.abc import Sequence

import orjson

from cards.drugs import TACROLIMUS, DrugIdentifier

CACHE_SIZE = 8192  # distinct medications remembered


class TacrolimusScan:
    """True when tacrolimus may be among the medications (each part: what `cds.record.identifying_parts`
    gives for one medication, or a Medication resource); False only when it cannot be. Each part's
    answer is remembered by its JSON: charts repeat the same few products."""

    def __init__(self, drugs: DrugIdentifier) -> None:
        self._markers = tuple(sorted(drugs.markers(TACROLIMUS), key=len, reverse=True))
        self._cache: dict[bytes, bool] = {}

    def __call__(self, parts: Sequence[object]) -> bool:
        cache = self._cache
        for part in parts:
            try:
                written = orjson.dumps(part)
            except orjson.JSONEncodeError:  # not JSON (an integer past 64 bits, say): the full path reads it
                return True
            found = cache.get(written)
            if found is None:
                if len(cache) >= CACHE_SIZE:
                    cache.clear()
                found = cache[written] = self._may_name(written.decode())
            if found:
                return True
        return False

    def _may_name(self, written: str) -> bool:
        lowered = written.lower()
        if any(marker in lowered for marker in self._markers):
            return True
        if written.isascii():
            return False
        # An ATC code is compared upper-cased: a character whose upper case is a letter of one (none is
        # known outside ASCII, but the scan must not depend on it) is found this way.
        upper = written.upper().lower()
        return any(marker in upper for marker in self._markers)
