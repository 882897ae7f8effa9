"""The drug identifier, made in each test (a fixture per test, not at import): a fault in its construction
reaches these tests (docs/mutants.md). Codes are the reference's (shared/reference/tacrolimus-knowledge.md
sections 1+2 and 1b, rxnorm-products-subset.json).

(test_recognition.py checks every entry of the knowledge files is reachable; this file checks what the
identifier answers, with expectations written from the reference.)"""

import pytest

from cards.drugs import ATC, RXNORM, TACROLIMUS, DrugIdentifier, Identified
from cards.knowledge import load
from cds.fhirjson import Code, Concept


@pytest.fixture
def drugs() -> DrugIdentifier:
    return DrugIdentifier(load())


def concept(*codings: tuple[str, str]) -> Concept:
    return Concept.of(tuple(Code(system, code, "") for system, code in codings), "")


def coded(drugs: DrugIdentifier, system: str, code: str) -> Identified:
    return drugs.identify_concept(concept((system, code)))


def named(drugs: DrugIdentifier, text: str) -> Identified:
    return drugs.identify_concept(Concept.of((), text))


def test_tacrolimus_by_its_ingredient_code_and_its_atc_codes(drugs: DrugIdentifier) -> None:
    # reference 1+2: RxCUI 42316; ATC L04AD02 systemic, D11AH01 topical
    assert coded(drugs, RXNORM, "42316") == Identified(frozenset({TACROLIMUS}), frozenset(), systemic=True)
    assert coded(drugs, ATC, "L04AD02") == Identified(frozenset({TACROLIMUS}), frozenset(), systemic=True)
    assert coded(drugs, ATC, "D11AH01") == Identified(frozenset({TACROLIMUS}), frozenset(), systemic=False)


def test_another_ingredient_by_its_rxnorm_and_its_atc_code(drugs: DrugIdentifier) -> None:
    # reference 1+2: clarithromycin, RxCUI 21212, ATC J01FA09
    assert coded(drugs, RXNORM, "21212").ingredients == frozenset({"clarithromycin"})
    assert coded(drugs, ATC, "J01FA09").ingredients == frozenset({"clarithromycin"})


def test_an_unlisted_code_of_a_known_class_is_placed_in_its_class(drugs: DrugIdentifier) -> None:
    # ATC J01FA is the macrolides (reference 1+2: erythromycin J01FA01 ... azithromycin J01FA10);
    # J01FA15 (telithromycin) is no ingredient of ours: it is known as a macrolide, its ingredient unknown
    assert coded(drugs, ATC, "J01FA15") == Identified(frozenset(), frozenset({"macrolide"}), systemic=True)


@pytest.mark.parametrize(
    ("code", "ingredient"),
    [
        ("197517", "clarithromycin"),  # "Clarithromycin 500 MG Oral Tablet"
        ("197553", "ciclosporin"),  # "Cyclosporine 25 MG Oral Capsule"
        ("1235243", TACROLIMUS),  # "Tacrolimus 1 MG Oral Capsule [Hecoria]"
    ],
)
def test_a_product_code_alone_is_known_by_the_ingredient_its_name_gives(
    drugs: DrugIdentifier, code: str, ingredient: str
) -> None:
    # rxnorm-products-subset.json: product RxCUIs, each reached through the ingredient word of its name
    assert coded(drugs, RXNORM, code).ingredients == frozenset({ingredient})


def test_vancomycin_by_mouth_is_not_systemic_and_by_injection_it_is(drugs: DrugIdentifier) -> None:
    # oral vancomycin stays in the gut (not absorbed): only the injected drug is systemic exposure
    oral = named(drugs, "Vancomycin 125 MG Oral Capsule")
    injected = named(drugs, "Vancomycin 1 GM Injection")
    assert oral == Identified(frozenset({"vancomycin"}), frozenset(), systemic=False)
    assert injected == Identified(frozenset({"vancomycin"}), frozenset(), systemic=True)


def test_tacrolimus_markers_are_its_codes_and_names_and_no_other_drugs(drugs: DrugIdentifier) -> None:
    # what the fast path scans a chart for (cards/relevance.py): tacrolimus's codes (reference 1+2, 1b) and
    # its names, lower-cased; clarithromycin's codes (21212, J01FA09) are not among them
    markers = drugs.markers()
    assert {"42316", "198377", "l04ad02", "d11ah01", "tacrolimus", "prograf", "protopic"} <= markers
    assert not {"21212", "j01fa09", "clarithromycin"} & markers


def test_every_coding_of_a_medication_counts(drugs: DrugIdentifier) -> None:
    # a product code we do not hold (RxCUI 999999999) next to the ingredient's does not hide it
    assert drugs.identify_concept(concept((RXNORM, "42316"), (RXNORM, "999999999"))).ingredients == frozenset(
        {TACROLIMUS}
    )
    # one coding per ingredient, in either system and either order: each ingredient counts
    both = frozenset({"clarithromycin", TACROLIMUS})
    assert drugs.identify_concept(concept((RXNORM, "21212"), (ATC, "L04AD02"))).ingredients == both
    assert drugs.identify_concept(concept((ATC, "J01FA09"), (RXNORM, "42316"))).ingredients == both


def test_a_topical_atc_code_stays_topical_next_to_its_group(drugs: DrugIdentifier) -> None:
    # ATC D11AH01 (tacrolimus, dermatological) sent with its group D11AH, as some systems send the hierarchy
    found = drugs.identify_concept(concept((ATC, "D11AH01"), (ATC, "D11AH")))
    assert found == Identified(frozenset({TACROLIMUS}), frozenset(), systemic=False)


def test_each_name_of_a_medication_is_read_as_its_own_words(drugs: DrugIdentifier) -> None:
    # a brand as the text and the ingredient as a coding's display (a local code system)
    both = Concept.of((Code("urn:example:formulary", "F-123", "Tacrolimus 1 mg capsule"),), "Advagraf")
    assert drugs.identify_concept(both).ingredients == frozenset({TACROLIMUS})
