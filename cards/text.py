"""What every card family shares: matching words in names, fitting names into summaries, and building a
card from a knowledge text with its sources."""

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from cards.knowledge import CardText, Citation, CodePrefix, Knowledge
from cds.fhirjson import Concept
from cds.models import Card, Coding, Suggestion

LABEL = 60  # characters of a name put into a summary
MAX_SUMMARY = 139  # CDS Hooks: a summary is under 140 characters


def word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """A pattern matching any of the words as whole words in lower-case text (longest first); built once
    per list of words."""
    return _word_pattern(tuple(words))


@lru_cache(maxsize=256)
def _word_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(sorted((re.escape(w.lower()) for w in words), key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])({alternatives})(?![a-z0-9])")


def coded_as(concept: Concept, prefixes: Sequence[CodePrefix]) -> bool:
    """Whether any coding of the concept has a code starting with one of the prefixes of its system."""
    by_system = _by_system(prefixes)
    for c in concept.codings:
        wanted = by_system.get(c.system)
        if wanted and c.code.upper().startswith(wanted):
            return True
    return False


# Prefix lists live in the knowledge for the life of the process; each is grouped by system once. The
# entry keeps the list itself, so its id cannot be reused while the entry exists.
_GROUPED: dict[int, tuple[Sequence[CodePrefix], dict[str, tuple[str, ...]]]] = {}


def _by_system(prefixes: Sequence[CodePrefix]) -> dict[str, tuple[str, ...]]:
    found = _GROUPED.get(id(prefixes))
    if found is not None and found[0] is prefixes:
        return found[1]
    grouped: dict[str, tuple[str, ...]] = {}
    for p in prefixes:
        grouped[p.system] = (*grouped.get(p.system, ()), p.prefix.upper())
    if len(_GROUPED) < 1024:
        _GROUPED[id(prefixes)] = (prefixes, grouped)
    return grouped


def clip(text: str, limit: int = LABEL) -> str:
    """Text cut at a word boundary to at most limit characters, marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def sources(citations: Iterable[Citation], labels: Mapping[str, str]) -> list[str]:
    """A 'Sources' heading and one bullet per source: its label and the sections cited. The full
    references (articles, label sections) stay in the knowledge files and the README."""
    sections: dict[str, list[str]] = {}
    for citation in citations:
        cited = sections.setdefault(citation.source, [])
        if citation.section not in cited:
            cited.append(citation.section)
    bullets = [f"- {labels[source]}: {'; '.join(cited)}" for source, cited in sections.items()]
    return ["**Sources**", "", *bullets] if bullets else []


class CardMaker:
    """Builds cards from knowledge texts: the detail as bullets, then the sources."""

    def __init__(self, knowledge: Knowledge) -> None:
        self._knowledge = knowledge
        self._labels = {key: source.label for key, source in knowledge.sources.items()}
        system = knowledge.interactions.override_reasons.system
        self._override = [
            Coding(system=system, code=code, display=display)
            for code, display in knowledge.cautions.override_reasons.items()
        ]

    def sources(self, citations: Iterable[Citation]) -> list[str]:
        return sources(citations, self._labels)

    def card(
        self,
        text: CardText,
        topic: str,
        citations: Sequence[Citation],
        *,
        summary: str | None = None,
        extra: Sequence[str] = (),
        suggestions: Sequence[Suggestion] = (),
        override: Sequence[Coding] = (),
        source: str = "monograph",
    ) -> Card:
        lines = [f"- {line}" for line in (*extra, *text.detail)]
        lines += ["", *self.sources(citations)]
        return Card(
            summary=clip(summary or text.summary, MAX_SUMMARY),
            detail="\n".join(lines),
            indicator=text.indicator,
            source=self._knowledge.source(source, topic),
            suggestions=list(suggestions) or None,
            selectionBehavior="at-most-one" if suggestions else None,
            overrideReasons=list(override) or self._override,
        )
