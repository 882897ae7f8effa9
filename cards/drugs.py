"""Knowing what a medication is: its ingredients (by RxNorm code, ATC code or name) and whether it acts
systemically (topical, ophthalmic, otic and vaginal forms do not)."""

import re
from collections import defaultdict
from dataclasses import dataclass

from cards.knowledge import Knowledge
from cards.text import word_pattern
from cds.fhirjson import Code, Concept
from cds.record import MedicationUse

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
TACROLIMUS = "tacrolimus"
CACHE_SIZE = 8192  # distinct medications remembered
MedicationKey = tuple[tuple[Code, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]

# Words in a medication's name, form or route that say where it acts. A systemic word wins over a local
# one ("Miconazole Oral Gel"), but only route words count as systemic: "Vaginal Tablet" stays local.
LOCAL_WORDS = (
    "topical", "cutaneous", "dermal", "ophthalmic", "eye", "otic", "ear", "vaginal", "vaginally",
    "cream", "ointment", "lotion", "shampoo", "gel", "foam", "pessary", "ovule", "nasal",
)  # fmt: skip
SYSTEMIC_WORDS = (
    "oral", "orally", "mouth", "troche", "lozenge", "injection", "injectable", "intravenous", "infusion",
    "intramuscular", "subcutaneous", "sublingual", "buccal", "iv", "po",
)  # fmt: skip


_LOCAL = word_pattern(LOCAL_WORDS)
_SYSTEMIC = word_pattern(SYSTEMIC_WORDS)


@dataclass(frozen=True, slots=True)
class Identified:
    """What a medication contains (ingredient ids of drugs.json, 'tacrolimus' included), the classes it
    was placed in when its own ingredient is unknown, and whether it acts systemically."""

    ingredients: frozenset[str]
    classes: frozenset[str]
    systemic: bool

    @property
    def tacrolimus(self) -> bool:
        return TACROLIMUS in self.ingredients


class DrugIdentifier:
    def __init__(self, knowledge: Knowledge) -> None:
        drugs = knowledge.drugs
        self._rxnorm: dict[str, set[str]] = defaultdict(set)
        self._atc: dict[str, set[str]] = defaultdict(set)
        self._atc_local: set[str] = set()
        self._class_prefixes = {p: name for name, c in drugs.classes.items() for p in c.atc_prefixes}
        self._includes = {key: frozenset(e.includes) for key, e in drugs.ingredients.items() if e.includes}
        self._systemic_only: dict[str, re.Pattern[str]] = {}
        terms: dict[str, set[str]] = defaultdict(set)
        subset_words: dict[str, str] = {}

        for key, entry in drugs.ingredients.items():
            for code in (*entry.rxnorm, *entry.rxnorm_partial):
                self._rxnorm[code].add(key)
            for code in (*entry.atc, *entry.atc_partial, *entry.atc_local):
                self._atc[code].add(key)
            self._atc_local.update(entry.atc_local)
            for term in (*entry.names, *entry.brands):
                terms[term.lower()].add(key)
            for word in entry.subset_words or entry.names:
                subset_words[word.lower()] = key
            if entry.systemic_only_in:
                self._systemic_only[key] = word_pattern(entry.systemic_only_in)

        tacrolimus = knowledge.tacrolimus
        for code in tacrolimus.rxnorm:
            self._rxnorm[code].add(TACROLIMUS)
        for code in (*tacrolimus.atc, *tacrolimus.atc_local):
            self._atc[code].add(TACROLIMUS)
        self._atc_local.update(tacrolimus.atc_local)
        for term in tacrolimus.names:
            terms[term.lower()].add(TACROLIMUS)
        subset_words[TACROLIMUS] = TACROLIMUS

        for code, product in knowledge.products.concepts.items():
            for word in product.ingredients:
                if word.lower() in subset_words:
                    self._rxnorm[code].add(subset_words[word.lower()])

        self._terms = dict(terms)
        self._names = word_pattern(terms)
        self._cache: dict[MedicationKey, Identified] = {}

    def markers(self, ingredient: str = TACROLIMUS) -> frozenset[str]:
        """In lower case, every code (RxNorm ingredient and product, ATC) and every word of every name and
        brand by which a medication is identified as containing the ingredient. A medication in whose
        JSON, lower-cased, none of them appears cannot be identified as containing it: `_identify` finds
        an ingredient only by one of these codes or by one of these names as whole words."""
        codes = [code for code, keys in (*self._rxnorm.items(), *self._atc.items()) if ingredient in keys]
        words = [word for term, keys in self._terms.items() if ingredient in keys for word in term.split()]
        return frozenset(marker.lower() for marker in (*codes, *words))

    def identify(self, medication: MedicationUse) -> Identified:
        """What the medication is. It depends only on the codings, names, form and route, so it is cached:
        records repeat the same products many times."""
        key = (medication.codings, medication.names, medication.form.names, medication.route.names)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            found = self._cache[key] = self._identify(*key)
        return found

    def identify_concept(self, concept: Concept) -> Identified:
        """What a coded substance is (an allergy's substance, say), by codes and names alone."""
        return self._identify(concept.codings, concept.names, (), ())

    def _identify(
        self,
        codings: tuple[Code, ...],
        medication_names: tuple[str, ...],
        form: tuple[str, ...],
        route: tuple[str, ...],
    ) -> Identified:
        ingredients: set[str] = set()
        classes: set[str] = set()
        local_code = False
        for coding in codings:
            if coding.system == RXNORM:
                ingredients |= self._rxnorm.get(coding.code, set())
            elif coding.system == ATC:
                code = coding.code.upper()
                local_code |= code in self._atc_local
                if code in self._atc:
                    ingredients |= self._atc[code]
                elif code[:5] in self._class_prefixes:
                    classes.add(self._class_prefixes[code[:5]])
        names = " ".join(medication_names).lower()
        for match in self._names.finditer(names):
            ingredients |= self._terms[match.group(1)]
        if ingredients:
            classes.clear()  # a known ingredient says more than its class
        for combination, parts in self._includes.items():
            if combination in ingredients:
                ingredients -= parts  # co-trimoxazole names its trimethoprim already
        where = " ".join((names, *form, *route)).lower()
        systemic = self._systemic(where, local_code)
        if systemic and any(
            key in ingredients
            and not pattern.search(where)
            and (_LOCAL.search(where) or _SYSTEMIC.search(where))
            for key, pattern in self._systemic_only.items()
        ):
            systemic = False  # e.g. oral vancomycin: given by mouth, it is not absorbed
        return Identified(frozenset(ingredients), frozenset(classes), systemic)

    @staticmethod
    def _systemic(where: str, local_code: bool) -> bool:
        if _SYSTEMIC.search(where):
            return True
        return not (local_code or _LOCAL.search(where))
