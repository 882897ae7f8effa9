"""Every entry of the knowledge files is reachable through each identification path it claims, so a new
entry cannot be silently unreachable; and codings from any system reach the ingredient by their display.

(Which drugs interact, and how loudly, is tested with expectations written from the sources in
test_interactions.py; this file checks the recognition machinery against the knowledge as shipped.)"""

from typing import Any

import pytest

from cards.drugs import ATC, RXNORM, TACROLIMUS, DrugIdentifier
from cards.indication import recognised
from cards.knowledge import load
from cards.vaccines import VaccineFamily
from cds.fhirjson import Code, Concept
from cds.record import RecordBuilder
from tests.conftest import NOW

KNOWLEDGE = load()
DRUGS = DrugIdentifier(KNOWLEDGE)


def paths() -> list[tuple[str, str, Concept]]:
    found: list[tuple[str, str, Concept]] = []
    for key, entry in KNOWLEDGE.drugs.ingredients.items():
        for code in (*entry.rxnorm, *entry.rxnorm_partial):
            found.append((key, f"rxnorm {code}", Concept.of((Code(RXNORM, code, ""),), "")))
        for code in (*entry.atc, *entry.atc_partial, *entry.atc_local):
            found.append((key, f"atc {code}", Concept.of((Code(ATC, code, ""),), "")))
        for name in (*entry.names, *entry.brands):
            found.append((key, f"name {name}", Concept.of((), f"{name} 10 mg oral tablet")))
    tacrolimus = KNOWLEDGE.tacrolimus
    for code in tacrolimus.rxnorm:
        found.append((TACROLIMUS, f"rxnorm {code}", Concept.of((Code(RXNORM, code, ""),), "")))
    for code in (*tacrolimus.atc, *tacrolimus.atc_local):
        found.append((TACROLIMUS, f"atc {code}", Concept.of((Code(ATC, code, ""),), "")))
    for name in tacrolimus.names:
        found.append((TACROLIMUS, f"name {name}", Concept.of((), name)))
    return found


def plain(text: str) -> str:
    """A test id in ASCII (the curly apostrophe of St John's wort as &#8217;): tests/conftest.py says why."""
    return text.encode("ascii", "xmlcharrefreplace").decode()


@pytest.mark.parametrize(("key", "path", "concept"), paths(), ids=[plain(f"{k}: {p}") for k, p, _ in paths()])
def test_every_ingredient_is_reachable_by_each_path(key: str, path: str, concept: Concept) -> None:
    assert key in DRUGS.identify_concept(concept).ingredients


def test_every_interaction_names_drugs_that_can_be_recognised() -> None:
    reachable = {key for key, _, _ in paths()}
    for entry_id, entry in KNOWLEDGE.interactions.interactions.items():
        for drug in entry.drugs:
            assert drug in reachable, (entry_id, drug)


@pytest.mark.parametrize(
    "coding",
    [
        {
            "system": "http://hl7.org/fhir/sid/ndc",
            "code": "00074-3368-60",
            "display": "Clarithromycin 500 MG Oral Tablet",
        },
        {"system": "https://dmd.nhs.uk", "code": "", "display": "Clarithromycin 500mg tablets"},
        {"system": "http://snomed.info/sct", "code": "", "display": "Clarithromycin 500mg tablets"},
        {"system": "urn:oid:1.2.3.4.5", "code": "LOCAL-99", "display": "KLARICID 500 mg tablets"},
    ],
    ids=["ndc", "dmd", "snomed", "local"],
)
def test_any_code_system_reaches_the_ingredient_by_its_display(coding: dict[str, Any]) -> None:
    concept = Concept.of((Code(coding["system"], coding["code"], coding["display"]),), "")
    assert "clarithromycin" in DRUGS.identify_concept(concept).ingredients


VACCINES = VaccineFamily(KNOWLEDGE, DRUGS)


@pytest.mark.parametrize("name", KNOWLEDGE.vaccines.live_names)
def test_every_live_vaccine_name_is_recognised(name: str) -> None:
    found = VACCINES.classify(Concept.of((), name))
    assert found is not None
    assert found[0] == "live"


@pytest.mark.parametrize("name", KNOWLEDGE.vaccines.unspecified_names)
def test_every_unspecified_vaccine_name_asks_for_a_check(name: str) -> None:
    found = VACCINES.classify(Concept.of((), name))
    assert found is not None
    assert found[0] == "unspecified"


@pytest.mark.parametrize("word", KNOWLEDGE.vaccines.not_live_words)
def test_every_not_live_word_silences_a_live_name(word: str) -> None:
    assert VACCINES.classify(Concept.of((), f"MMR vaccine {word}")) is None


@pytest.mark.parametrize(
    "text",
    [
        "Adoport 1mg capsules",
        "Capexion 0.5mg capsules",
        "Tacni 5mg capsules",
        "Modigraf 0.2mg granules for oral suspension sachets",
        "Dailiport 3mg prolonged-release capsules",
    ],
)
def test_uk_tacrolimus_brands_are_tacrolimus(text: str) -> None:
    # BNF, tacrolimus medicinal forms: the UK's branded generics
    assert TACROLIMUS in DRUGS.identify_concept(Concept.of((), text)).ingredients


def test_a_condition_is_recognised_by_the_dosing_knowledge_it_is_asked_of() -> None:
    """recognised() reads each code once per record; another record (another service's knowledge, a
    site's) gets its own answers, never the first one's."""
    liver = Concept.of((Code("http://hl7.org/fhir/sid/icd-10-cm", "Z94.4", "Liver transplant status"),), "")
    first, second = (RecordBuilder(hook="patient-view", now=NOW, patient_id="p1").build() for _ in range(2))
    assert recognised(first, liver, KNOWLEDGE.dosing) == ("liver",)
    assert recognised(first, liver, KNOWLEDGE.dosing) == ("liver",)  # as kept
    without_liver = KNOWLEDGE.dosing.model_copy(
        update={"indications": {k: v for k, v in KNOWLEDGE.dosing.indications.items() if k != "liver"}}
    )
    assert recognised(second, liver, without_liver) == ()
    assert recognised(first, liver, KNOWLEDGE.dosing) == ("liver",)


@pytest.mark.parametrize(
    "code", ["316758", "564557"], ids=["tacrolimus-1-mg-component", "prograf-1-mg-component"]
)
def test_a_tacrolimus_product_component_code_alone_is_tacrolimus(code: str) -> None:
    # RxNorm 316758 "Tacrolimus 1 MG", 564557 "Tacrolimus 1 MG [Prograf]" (reference/rxnorm-products-subset)
    identified = DRUGS.identify_concept(Concept.of((Code(RXNORM, code, ""),), ""))
    assert identified.ingredients == frozenset({TACROLIMUS})


@pytest.mark.parametrize(
    "code", ["108514", "1235241"], ids=["prograf-5-mg-capsule", "hecoria-0.5-mg-capsule"]
)
def test_a_tacrolimus_product_known_only_by_its_ingredients_is_tacrolimus(code: str) -> None:
    # RxNorm 108514 "Tacrolimus 5 MG Oral Capsule [Prograf]" and 1235241 "Tacrolimus 0.5 MG Oral Capsule
    # [Hecoria]" (reference/rxnorm-products-subset.json): not in tacrolimus.json's own codes, reached through
    # the products subset's ingredients. The identifier is built here, not at import, so that a fault in its
    # construction reaches this test (docs/mutants.md).
    assert code not in KNOWLEDGE.tacrolimus.rxnorm
    identified = DrugIdentifier(KNOWLEDGE).identify_concept(Concept.of((Code(RXNORM, code, ""),), ""))
    assert identified.ingredients == frozenset({TACROLIMUS})
