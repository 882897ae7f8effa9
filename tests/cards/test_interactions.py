"""Scenario tests for the interaction cards: realistic requests in, expected cards out, and silence where
nothing must be said."""

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cards.drugs import DrugIdentifier
from cards.interactions import InteractionFamily
from cards.knowledge import load
from cds.evaluate import Evaluator
from cds.models import Card
from cds.record import RecordBuilder
from cds.resources import checked
from cds.service import Service
from cds.settings import Settings
from tests.builders import (
    PATIENT_ID,
    RXNORM,
    bundle,
    full_prefetch,
    hook_request,
    medication_request,
    observation,
    tacrolimus,
)
from tests.clock import ago_at, ago_date, now

ATC = "http://www.whocc.no/atc"
PV, OSEL, OSIGN = (f"/cds-services/tacrolimus-{h}" for h in ("patient-view", "order-select", "order-sign"))


def by_code(system: str, code: str, rid: str = "m1", **extra: Any) -> dict[str, Any]:
    resource = medication_request(rid, "", **extra)
    resource["medicationCodeableConcept"] = {"coding": [{"system": system, "code": code}]}
    return resource


def by_text(text: str, rid: str = "m1", **extra: Any) -> dict[str, Any]:
    return medication_request(rid, text, **extra)


def statement(text: str, rid: str = "s1") -> dict[str, Any]:
    return medication_request(rid, text, resource_type="MedicationStatement")


def interaction_cards(client: TestClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(path, content=orjson.dumps(body))
    assert response.status_code == 200, response.text
    return [c for c in response.json()["cards"] if c["source"]["topic"]["code"].startswith("interaction-")]


def patient_view(
    client: TestClient, *medications: dict[str, Any], observations: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    prefetch = full_prefetch([m for m in medications if m["resourceType"] != "MedicationStatement"])
    prefetch["medicationStatements"] = bundle(
        [m for m in medications if m["resourceType"] == "MedicationStatement"]
    )
    prefetch["observations"] = bundle(list(observations))
    return interaction_cards(client, PV, hook_request(prefetch=prefetch))


# (how the medication is recorded, the drug the card names, topic, indicator)
EVERY_DRUG = [
    (by_text("Clotrimazole 10 MG Oral Troche"), "Clotrimazole", "raises", "warning"),
    (by_code(RXNORM, "197698"), "Fluconazole", "raises", "warning"),  # product code
    (by_text("VFEND 200 mg film-coated tablets"), "Voriconazole", "raises", "warning"),  # brand
    (by_code(RXNORM, "6135"), "Ketoconazole", "raises", "warning"),  # ingredient code
    (by_code(ATC, "J02AC02"), "Itraconazole", "raises", "warning"),  # ATC
    (by_text("Noxafil 100 MG Delayed Release Oral Tablet"), "Posaconazole", "raises", "warning"),
    (by_code(ATC, "J02AB01"), "Azole antifungal", "raises", "warning"),  # ATC class only (miconazole)
    (by_code(ATC, "J02AC05"), "Isavuconazole", "raises", "warning"),
    (by_text("Cresemba 100 mg hard capsules"), "Isavuconazole", "raises", "warning"),
    (by_text("Isavuconazonium sulfate 186 MG Oral Capsule"), "Isavuconazole", "raises", "warning"),
    (by_text("Miconazole 20mg/g oromucosal gel (Daktarin oral gel)"), "Miconazole", "raises", "warning"),
    (
        by_text("Erythromycin ethylsuccinate 400 MG/5ML Oral Suspension"),
        "Erythromycin",
        "raises",
        "warning",
    ),  # salt
    (by_code(RXNORM, "205866"), "Clarithromycin", "raises", "warning"),
    (by_text("Josamycin 500 mg tablet"), "Josamycin", "raises", "warning"),
    (by_code(RXNORM, "10864"), "Troleandomycin", "raises", "warning"),
    (by_code(ATC, "J01FA15"), "Macrolide antibacterial", "raises", "warning"),
    (by_text("Adalat CC 30 MG Extended Release Oral Tablet"), "Nifedipine", "raises", "warning"),
    (
        by_text("dilTIAZem 120 MG 24HR Extended Release Oral Capsule"),
        "Diltiazem",
        "raises",
        "warning",
    ),  # tall-man
    (by_code(ATC, "C08DA01"), "Verapamil", "raises", "warning"),
    (by_code(RXNORM, "7396"), "Nicardipine", "raises", "warning"),
    (by_text("Cimetidine 400 MG Oral Tablet"), "Cimetidine", "raises", "warning"),
    (by_code(ATC, "G03XA01"), "Danazol", "raises", "warning"),
    (by_text("Parlodel 2.5 MG Oral Tablet"), "Bromocriptine", "raises", "warning"),
    (by_code(RXNORM, "6915"), "Metoclopramide", "raises", "warning"),
    (by_text("Viracept 625 MG Oral Tablet"), "Nelfinavir", "raises", "critical"),  # avoid unless benefit
    (by_code(ATC, "J05AE02"), "Indinavir", "raises", "warning"),
    (by_code(RXNORM, "343047"), "Atazanavir", "raises", "warning"),
    (by_text("Darunavir 800 MG Oral Tablet"), "Darunavir", "raises", "warning"),
    (by_text("Saquinavir 500 MG Oral Tablet [Invirase]"), "Saquinavir", "raises", "warning"),
    (by_code(ATC, "J05AE07"), "HIV protease inhibitor", "raises", "warning"),
    (by_text("Tybost 150 mg tablets"), "Cobicistat", "raises", "warning"),
    (by_code(ATC, "V03AX03"), "Cobicistat", "raises", "warning"),
    (by_text("Genvoya 150mg/150mg/200mg/10mg tablets"), "Cobicistat", "raises", "warning"),
    (by_text("Stribild tablets"), "Cobicistat", "raises", "warning"),
    (by_text("Symtuza 800mg/150mg/200mg/10mg tablets"), "Cobicistat/Darunavir", "raises", "warning"),
    (by_text("Rezolsta 800mg/150mg tablets"), "Cobicistat/Darunavir", "raises", "warning"),
    (by_text("PREZCOBIX 800 MG / 150 MG Oral Tablet"), "Cobicistat/Darunavir", "raises", "warning"),
    (by_text("Evotaz 300mg/150mg tablets"), "Atazanavir/Cobicistat", "raises", "warning"),
    (by_text("Prevymis 480mg tablets"), "Letermovir", "raises", "warning"),
    (by_code(ATC, "J05AX18"), "Letermovir", "raises", "warning"),
    (by_text("Kaletra 200 MG / 50 MG Oral Tablet"), "Lopinavir/Ritonavir", "raises", "warning"),
    (by_text("Norvir 100 MG Oral Tablet"), "Ritonavir", "raises", "warning"),
    (by_text("Paxlovid 300 mg/100 mg dose pack"), "Nirmatrelvir", "raises", "critical"),  # avoid unless
    (by_code(RXNORM, "83816"), "Delavirdine", "raises", "warning"),
    (by_text("Flagyl 500 MG Oral Tablet"), "Metronidazole", "raises", "warning"),
    (by_code(ATC, "J01BA01"), "Chloramphenicol", "raises", "warning"),
    (by_text("levoFLOXacin 500 MG Oral Tablet"), "Levofloxacin", "raises", "warning"),
    (by_text("Synercid 500 MG Injection"), "Quinupristin/dalfopristin", "raises", "warning"),
    (by_code(RXNORM, "17128"), "Lansoprazole", "raises", "warning"),
    (by_text("Prilosec 20 MG Delayed Release Oral Capsule"), "Omeprazole", "raises", "info"),
    (statement("Grapefruit juice, daily"), "Grapefruit juice", "raises", "critical"),
    (statement("Schisandra sphenanthera extract capsules"), "Schisandra extract", "raises", "warning"),
    (by_text("rifAMPin 300 MG Oral Capsule"), "Rifampicin", "lowers", "warning"),
    (statement("St. John's Wort 300 MG Oral Capsule"), "St John's wort", "lowers", "warning"),
    (by_code(RXNORM, "55672"), "Rifabutin", "lowers", "warning"),  # ingredient code
    (by_code(RXNORM, "198200"), "Rifabutin", "lowers", "warning"),  # product code
    (by_text("Mycobutin 150 MG Oral Capsule"), "Rifabutin", "lowers", "warning"),
    (by_text("Tegretol 200 MG Oral Tablet"), "Carbamazepine", "lowers", "warning"),
    (by_text("Dilantin 100 MG Extended Release Oral Capsule"), "Phenytoin", "lowers", "warning"),
    (by_code(RXNORM, "8134"), "Phenobarbital", "lowers", "warning"),
    (by_code(ATC, "J05AG01"), "Nevirapine", "lowers", "warning"),
    (by_text("Rapamune 1 MG Oral Tablet"), "Sirolimus", "lowers", "warning"),
    (by_text("Neoral 100 MG Oral Capsule"), "Ciclosporin", "toxicity", "critical"),
    (by_text("CellCept 500 MG Oral Tablet"), "Mycophenolate", "toxicity", "info"),
    (by_text("Aldactone 25 MG Oral Tablet"), "Spironolactone", "toxicity", "critical"),
    (by_code(RXNORM, "644"), "Amiloride", "toxicity", "critical"),
    (by_text("Triamterene 50 MG Oral Capsule"), "Triamterene", "toxicity", "critical"),
    (by_code(ATC, "C03DA04"), "Eplerenone", "toxicity", "critical"),
    (by_text("Inspra 25mg tablets"), "Eplerenone", "toxicity", "critical"),
    (by_text("Co-amilofruse 5mg/40mg tablets"), "Amiloride", "toxicity", "critical"),
    (by_text("Frumil 5mg/40mg tablets"), "Amiloride", "toxicity", "critical"),
    (by_text("Co-amilozide 5mg/50mg tablets"), "Amiloride", "toxicity", "critical"),
    (by_text("Moduretic tablets"), "Amiloride", "toxicity", "critical"),
    (by_text("Co-triamterzide 50mg/25mg tablets"), "Triamterene", "toxicity", "critical"),
    (by_text("Dyazide tablets"), "Triamterene", "toxicity", "critical"),
    (by_text("Co-flumactone 25mg/25mg tablets"), "Spironolactone", "toxicity", "critical"),
    (by_text("Aldactide 50 tablets"), "Spironolactone", "toxicity", "critical"),
    (
        by_text("Potassium Chloride 20 MEQ Extended Release Oral Tablet"),
        "Potassium supplement",
        "toxicity",
        "critical",
    ),
    (by_text("Gentamicin 80 MG/2ML Injection"), "Aminoglycoside", "toxicity", "warning"),
    (by_text("Vancomycin 1 GM Injection"), "Vancomycin", "toxicity", "warning"),
    (by_text("Amphotericin B liposomal 50 MG Injection"), "Amphotericin B", "toxicity", "warning"),
    (by_text("Bactrim DS 800 MG / 160 MG Oral Tablet"), "Co-trimoxazole", "toxicity", "warning"),
    (
        by_text("Sulfamethoxazole 800 MG / Trimethoprim 160 MG Oral Tablet"),
        "Co-trimoxazole",
        "toxicity",
        "warning",
    ),
    (
        by_text("Trimethoprim 200mg tablets"),
        "Trimethoprim",
        "toxicity",
        "warning",
    ),  # alone: not co-trimoxazole
    (by_code(RXNORM, "5640"), "NSAID", "toxicity", "warning"),
    (by_text("Valganciclovir 450 MG Oral Tablet"), "Valganciclovir", "toxicity", "warning"),
    (by_text("Valcyte 450 MG Oral Tablet"), "Valganciclovir", "toxicity", "warning"),
    (by_code(RXNORM, "275891"), "Valganciclovir", "toxicity", "warning"),
    (by_code(RXNORM, "4678"), "Ganciclovir", "toxicity", "warning"),
    (by_text("Acyclovir 400 MG Oral Tablet"), "Aciclovir", "toxicity", "warning"),
    (by_text("valACYclovir 500 MG Oral Tablet"), "Valaciclovir", "toxicity", "warning"),
    (by_text("Valtrex 1 GM Oral Tablet"), "Valaciclovir", "toxicity", "warning"),
    (by_code(RXNORM, "33562"), "Foscarnet", "toxicity", "warning"),
    (
        by_text("Ciprofloxacin 500 MG Oral Tablet"),
        "Fluoroquinolone (gyrase inhibitor)",
        "toxicity",
        "warning",
    ),
]


@pytest.mark.parametrize(
    ("medication", "drug", "effect", "indicator"), EVERY_DRUG, ids=[d for _, d, _, _ in EVERY_DRUG]
)
def test_every_interacting_drug_ordered_for_a_patient_on_tacrolimus(
    client: TestClient, medication: dict[str, Any], drug: str, effect: str, indicator: str
) -> None:
    # a new drug ordered: the combination is news, so the entry's own indicator (no quieting)
    draft = {
        **medication,
        "resourceType": "MedicationRequest",
        "id": "d1",
        "status": "draft",
        "intent": "order",
    }
    body = hook_request("order-select", full_prefetch([tacrolimus()]), drafts=[draft])
    [card] = interaction_cards(client, OSEL, body)
    topic = {
        "raises": "interaction-raises-level",
        "lowers": "interaction-lowers-level",
        "toxicity": "interaction-toxicity",
    }[effect]
    assert card["source"]["topic"]["code"] == topic
    assert card["indicator"] == indicator
    assert card["summary"].startswith(drug)
    assert len(card["summary"]) < 140
    assert card["source"]["label"]
    assert card["source"]["url"].startswith("https://")
    assert "**Sources**" in card["detail"]
    assert {r["display"] for r in card["overrideReasons"]} >= {"Patient is not taking this medication"}


def test_patient_not_on_tacrolimus_gets_nothing(client: TestClient) -> None:
    assert (
        patient_view(
            client, by_text("Clarithromycin 500 MG Oral Tablet"), by_text("Rifampin 300 MG Oral Capsule")
        )
        == []
    )


@pytest.mark.parametrize(
    "local",
    [
        "Clotrimazole 1% Topical Cream",
        "Clotrimazole 100 MG Vaginal Tablet",
        "Ketoconazole 2% Shampoo",
        "Erythromycin 5 MG/GM Ophthalmic Ointment",
        "Metronidazole 0.75% Topical Gel",
        "Vancomycin 125 MG Oral Capsule",
        "Diclofenac 1% Topical Gel",
    ],
)
def test_local_forms_are_not_systemic_exposure(client: TestClient, local: str) -> None:
    assert patient_view(client, tacrolimus(), by_text(local)) == []


def test_local_form_known_by_route_alone(client: TestClient) -> None:
    cream = by_text(
        "Clotrimazole 10 MG/G", dosageInstruction=[{"route": {"coding": [{"display": "Topical route"}]}}]
    )
    assert patient_view(client, tacrolimus(), cream) == []


def test_local_form_known_by_atc_alone(client: TestClient) -> None:
    assert patient_view(client, tacrolimus(), by_code(ATC, "D01AC01")) == []


def test_topical_tacrolimus_is_not_systemic_tacrolimus(client: TestClient) -> None:
    protopic = by_text("Protopic 0.1% Topical Ointment", rid="t1")
    assert patient_view(client, protopic, by_text("Clarithromycin 500 MG Oral Tablet")) == []
    assert (
        patient_view(client, by_code(ATC, "D11AH01", rid="t1"), by_text("Clarithromycin 500 MG Oral Tablet"))
        == []
    )


@pytest.mark.parametrize("status", ["stopped", "completed", "cancelled", "entered-in-error"])
def test_medications_no_longer_taken_do_not_count(client: TestClient, status: str) -> None:
    assert (
        patient_view(client, tacrolimus(), by_text("Clarithromycin 500 MG Oral Tablet", status=status)) == []
    )
    assert patient_view(client, tacrolimus(status=status), by_text("Clarithromycin 500 MG Oral Tablet")) == []


@pytest.mark.parametrize(
    "unrelated", ["Amoxicillin 500 MG Oral Capsule", "Azithromycin 250 MG Oral Tablet", "Rabeprazole 20 MG"]
)
def test_unrelated_drugs_raise_nothing(client: TestClient, unrelated: str) -> None:
    assert patient_view(client, tacrolimus(), by_text(unrelated)) == []


def test_azithromycin_by_atc_is_not_announced_as_a_macrolide(client: TestClient) -> None:
    assert patient_view(client, tacrolimus(), by_code(ATC, "J01FA10")) == []


def test_one_card_when_a_drug_is_both_a_statement_and_an_order(client: TestClient) -> None:
    [card] = patient_view(
        client,
        tacrolimus(),
        by_text("St John's wort 300 mg", rid="r1"),
        statement("Hypericum perforatum extract", rid="s1"),
    )
    assert "St John's wort 300 mg" in card["detail"]
    assert "Hypericum perforatum extract (reported by the patient)" in card["detail"]


def test_a_product_with_several_drugs_of_one_entry_keeps_its_summary_short(client: TestClient) -> None:
    [card] = patient_view(
        client, tacrolimus(), by_text("Ciprofloxacin / trimethoprim / gentamicin 1 g injection")
    )
    assert len(card["summary"]) < 140
    assert "Aminoglycoside" in card["summary"]
    assert "Trimethoprim" in card["detail"]


def test_a_summary_of_exactly_140_characters_names_the_first_drug_only(client: TestClient) -> None:
    """A summary must be under 140 characters (CDS Hooks): the five azoles joined make it exactly 140."""
    text = "Clotrimazole / fluconazole / itraconazole / ketoconazole / posaconazole compounded suspension"
    [card] = patient_view(client, tacrolimus(), by_text(text))
    assert card["summary"] == (
        "Clotrimazole raises tacrolimus levels: a tacrolimus dose reduction is likely to be needed"
    )


def test_the_specifics_of_each_drug_of_a_product_follow_the_evidence_as_sentences(client: TestClient) -> None:
    draft = by_text("Ketoconazole 200 MG / Itraconazole 100 MG Oral Tablet", rid="d1", status="draft")
    prefetch = full_prefetch([tacrolimus()])
    [card] = interaction_cards(client, OSEL, hook_request("order-select", prefetch, drafts=[draft]))
    [evidence] = [line for line in card["detail"].splitlines() if line.startswith("- Elevated tacrolimus")]
    assert "likely to be necessary with an azole antifungal. With itraconazole a 50% reduction" in evidence
    assert "depending on the starting and target concentrations. With ketoconazole the oral" in evidence


def test_the_card_names_every_tacrolimus_product_and_a_dated_start_before_a_same_day_assertion(
    client: TestClient,
) -> None:
    tac = tacrolimus(authoredOn=ago_date(183))
    tac2 = by_text("Tacrolimus 0.5 MG Oral Capsule", rid="tac-2", authoredOn=ago_date(183))
    clari = by_text("Clarithromycin 500 MG Oral Tablet", authoredOn=ago_date(30))
    reported = statement("Clarithromycin 500 MG Oral Tablet") | {"dateAsserted": ago_date(30)}
    [card] = patient_view(client, tac, tac2, clari, reported, observations=[LEVEL_AFTER_BOTH])
    lines = card["detail"].splitlines()
    assert lines[:2] == [
        "**Clarithromycin** (Clarithromycin 500 MG Oral Tablet (active order); Clarithromycin 500 MG Oral"
        " Tablet (reported by the patient)) with tacrolimus (Tacrolimus 1 MG Oral Capsule [Prograf] (active"
        " order); Tacrolimus 0.5 MG Oral Capsule (active order)): raises tacrolimus levels.",
        "",
    ]
    # the order's date and the statement's assertion date are the same day: the order's start is said
    assert why_now(card) == (
        f"Clarithromycin started {ago_date(30)}; the last tacrolimus level was {ago_date(47)}, before it."
    )


def test_the_repeat_hold_knows_an_interaction_card_by_its_topic_entry_and_drugs(
    services: list[Service], settings: Settings
) -> None:
    """Two cards are the same card for the repeat hold (cds/hold.py) when their key is: the topic, the
    entry and the product's drugs, never the summary (which names only the first drug when too long)."""
    draft = by_text("Ketoconazole 200 MG / Itraconazole 100 MG Oral Tablet", rid="d1", status="draft")
    body = hook_request("order-select", full_prefetch([tacrolimus()]), drafts=[draft])
    evaluator = Evaluator(services, settings, clock=lambda: now())
    response = asyncio.run(evaluator.evaluate("tacrolimus-order-select", body))
    assert [card.hold_key for card in response.cards] == [
        "interaction-raises-level|azole-antifungals|itraconazole+ketoconazole"
    ]


def test_paxlovid_gives_one_card_with_its_own_guidance(client: TestClient) -> None:
    [card] = patient_view(client, tacrolimus(), by_text("Paxlovid"))
    assert card["source"]["label"] == "AIFA: Paxlovid and tacrolimus (2024)"
    assert "5-day course" in card["detail"]


def test_most_severe_first_and_no_info_on_patient_view(client: TestClient) -> None:
    cards = patient_view(
        client,
        tacrolimus(),
        by_text("Omeprazole 20 MG", rid="m1"),
        by_text("Neoral 25 MG", rid="m2"),
        by_text("Clarithromycin 250 MG", rid="m3"),
    )
    assert [c["indicator"] for c in cards] == ["critical", "warning"]  # omeprazole's info card is not shown


# -- established combinations (issue 14): new when a drug is only being ordered; established when the
#    earliest evidence of both is before the latest level; a renewal is not a start; undated by indicator
LEVEL_AFTER_BOTH = observation("lvl", "11253-2", 8.2, "ng/mL", ago_at(47, "07:30"))
RECENT_LEVEL = observation("lvl", "11253-2", 8.2, "ng/mL", ago_at(11, "07:30"))  # within 90 days of now
OLD_LEVEL = observation("lvl", "11253-2", 8.2, "ng/mL", ago_at(529, "07:30"))


def renewal_sign(
    client: TestClient, *current: dict[str, Any], observations: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """Order-sign of a routine tacrolimus renewal (it names the current order) with these medications."""
    prefetch = full_prefetch(list(current))
    prefetch["observations"] = bundle(list(observations))
    draft = tacrolimus("d1", status="draft", priorPrescription={"reference": "MedicationRequest/tac-1"})
    return interaction_cards(client, OSIGN, hook_request("order-sign", prefetch, drafts=[draft]))


def test_an_established_combination_is_one_step_quieter(client: TestClient) -> None:
    tac = tacrolimus(authoredOn=ago_date(183))
    clari = by_text("Clarithromycin 500 MG Oral Tablet", authoredOn=ago_date(61))
    # patient-view: warning -> info, and info is not shown there
    assert patient_view(client, tac, clari, observations=[LEVEL_AFTER_BOTH]) == []
    # a renewal of tacrolimus at order-sign: the same combination as info
    [card] = renewal_sign(client, tac, clari, observations=[LEVEL_AFTER_BOTH])
    assert card["indicator"] == "info"
    assert "- Both were started before the latest tacrolimus level: shown one step quieter." in (
        card["detail"].splitlines()
    )


def test_an_established_critical_combination_still_shows_as_a_warning(client: TestClient) -> None:
    tac = tacrolimus(authoredOn=ago_date(183))
    neoral = by_text("Neoral 100 MG Oral Capsule", authoredOn=ago_date(153))
    [card] = patient_view(client, tac, neoral, observations=[LEVEL_AFTER_BOTH])
    assert card["indicator"] == "warning"


def test_a_combination_started_after_the_latest_level_is_new(client: TestClient) -> None:
    tac = tacrolimus(authoredOn=ago_date(183))
    clari = by_text("Clarithromycin 500 MG Oral Tablet", authoredOn=ago_date(30))
    [card] = patient_view(client, tac, clari, observations=[LEVEL_AFTER_BOTH])
    assert card["indicator"] == "warning"


def test_a_renewal_is_not_a_start(client: TestClient) -> None:
    # diltiazem renewed after the latest level, naming its earlier order: not a new combination
    tac = tacrolimus(authoredOn=ago_date(183))
    renewed = by_text(
        "Diltiazem 120 MG 24HR Extended Release Oral Capsule",
        authoredOn=ago_date(6),
        priorPrescription={"reference": "MedicationRequest/dil-0"},
    )
    assert patient_view(client, tac, renewed, observations=[RECENT_LEVEL]) == []
    # without the link to the earlier order, the same date reads as a start after the level
    started = by_text("Diltiazem 120 MG 24HR Extended Release Oral Capsule", authoredOn=ago_date(6))
    found = patient_view(client, tac, started, observations=[RECENT_LEVEL])
    assert [c["indicator"] for c in found] == ["warning"]


def test_the_earliest_order_of_the_same_drug_is_its_start(client: TestClient) -> None:
    tac = tacrolimus(authoredOn=ago_date(183))
    old = by_text("Clarithromycin 500 MG Oral Tablet", rid="c1", authoredOn=ago_date(91))
    new = by_text("Clarithromycin 250 MG Oral Tablet", rid="c2", authoredOn=ago_date(6))
    assert patient_view(client, tac, old, new, observations=[LEVEL_AFTER_BOTH]) == []


def test_a_dispense_validity_period_is_evidence_of_use(client: TestClient) -> None:
    tac = tacrolimus(authoredOn=ago_date(183))
    clari = by_text(
        "Clarithromycin 500 MG Oral Tablet",
        authoredOn=ago_date(6),
        dispenseRequest={"validityPeriod": {"start": ago_date(91)}},
    )
    assert patient_view(client, tac, clari, observations=[LEVEL_AFTER_BOTH]) == []


@pytest.mark.parametrize(
    ("medication", "observations", "expected"),
    [
        # undated info: established (omeprazole on an imported list: no card at a renewal)
        (by_text("Omeprazole 20 MG Oral Capsule"), [], []),
        # undated warning with a recent level: the levels are being followed -> established (info)
        (by_text("Lansoprazole 30 MG Oral Capsule"), [RECENT_LEVEL], ["info"]),
        # undated warning with no recent level: new
        (by_text("Lansoprazole 30 MG Oral Capsule"), [OLD_LEVEL], ["warning"]),
        # the recent interval (dosing.json monitoring.stale_after_days, 90 days) at its edge
        (
            by_text("Lansoprazole 30 MG Oral Capsule"),
            [observation("lvl", "11253-2", 8.2, "ng/mL", ago_at(90, "07:30"))],
            ["info"],
        ),
        (
            by_text("Lansoprazole 30 MG Oral Capsule"),
            [observation("lvl", "11253-2", 8.2, "ng/mL", ago_at(91, "07:30"))],
            ["warning"],
        ),
        (by_text("Lansoprazole 30 MG Oral Capsule"), [], ["warning"]),
        # undated critical: always new
        (by_text("Neoral 100 MG Oral Capsule"), [RECENT_LEVEL], ["critical"]),
    ],
    ids=[
        "info",
        "warning-recent-level",
        "warning-old-level",
        "warning-level-90-days-old",
        "warning-level-91-days-old",
        "warning-no-level",
        "critical",
    ],
)
def test_undated_combinations_by_indicator(
    client: TestClient, medication: dict[str, Any], observations: list[dict[str, Any]], expected: list[str]
) -> None:
    found = renewal_sign(client, tacrolimus(), medication, observations=observations)
    assert [c["indicator"] for c in found] == expected


# an undated statement's assertion date (dateAsserted) is an upper bound of its start: asserted before the
# latest level, it was taken when the level was drawn; asserted after it, while the record held tacrolimus
# before the level, nothing shows the level was drawn on the combination


def asserted_statement(text: str, asserted: str, rid: str = "s1") -> dict[str, Any]:
    return statement(text, rid=rid) | {"dateAsserted": asserted}


LEVEL_19_DAYS_AGO = observation("lvl", "11253-2", 8.2, "ng/mL", ago_at(19, "07:30"))


@pytest.mark.parametrize(
    ("asserted", "expected"),
    [
        (ago_date(3), ["warning"]),  # asserted after the level: new
        (ago_at(19, "09:00"), ["warning"]),  # the same day, after the level was drawn: new
        (ago_at(19, "06:00"), []),  # the same day, before the level was drawn: established
        (ago_date(30), []),  # asserted before the level: established (info, not on patient-view)
    ],
    ids=["after", "just-after", "just-before", "before"],
)
def test_an_undated_statement_asserted_after_the_level_is_new(
    client: TestClient, asserted: str, expected: list[str]
) -> None:
    tac = tacrolimus(authoredOn=ago_date(147))
    clari = asserted_statement("Clarithromycin 500 MG Oral Tablet", asserted)
    found = patient_view(client, tac, clari, observations=[LEVEL_19_DAYS_AGO])
    assert [c["indicator"] for c in found] == expected


def test_an_undated_statement_asserted_before_an_old_level_is_established(client: TestClient) -> None:
    # the assertion shows it was taken when the level was drawn, recent or not: info at a renewal
    tac = tacrolimus(authoredOn=ago_date(690))
    lanso = asserted_statement("Lansoprazole 30 MG Oral Capsule", ago_date(579))
    assert [c["indicator"] for c in renewal_sign(client, tac, lanso, observations=[OLD_LEVEL])] == ["info"]
    # the same statement asserted after that old level: new
    later = asserted_statement("Lansoprazole 30 MG Oral Capsule", ago_date(518))
    assert [c["indicator"] for c in renewal_sign(client, tac, later, observations=[OLD_LEVEL])] == ["warning"]


def test_a_critical_statement_asserted_before_the_level_is_one_step_quieter(client: TestClient) -> None:
    tac = tacrolimus(authoredOn=ago_date(147))
    before = asserted_statement("Neoral 100 MG Oral Capsule", ago_date(30))
    after = asserted_statement("Neoral 100 MG Oral Capsule", ago_date(3))
    assert [c["indicator"] for c in patient_view(client, tac, before, observations=[LEVEL_19_DAYS_AGO])] == [
        "warning"
    ]
    assert [c["indicator"] for c in patient_view(client, tac, after, observations=[LEVEL_19_DAYS_AGO])] == [
        "critical"
    ]


def test_an_imported_list_asserted_after_the_level_keeps_the_undated_rule(client: TestClient) -> None:
    # every medicine came over in one import after the level (tacrolimus too): the record cannot tell
    # which was taken when the level was drawn, so the undated rule applies (a recent level: established)
    tac = asserted_statement("Tacrolimus 1 MG Oral Capsule [Prograf]", ago_date(11), rid="s-tac")
    lanso = asserted_statement("Lansoprazole 30 MG Oral Capsule", ago_date(11))
    level = observation("lvl", "11253-2", 7.4, "ng/mL", ago_at(26, "08:05"))
    assert patient_view(client, tac, lanso, observations=[level]) == []


def test_a_dated_record_of_the_drug_before_the_level_wins_over_a_later_assertion(client: TestClient) -> None:
    tac = tacrolimus(authoredOn=ago_date(147))
    order = by_text("Clarithromycin 500 MG Oral Tablet", rid="c1", authoredOn=ago_date(61))
    reported = asserted_statement("Clarithromycin 500 MG Oral Tablet", ago_date(3))
    assert patient_view(client, tac, order, reported, observations=[LEVEL_19_DAYS_AGO]) == []


def test_an_assertion_before_the_level_is_earlier_evidence_than_a_later_order(client: TestClient) -> None:
    # the earliest evidence of the drug: reported (undated) before the level, ordered after it
    tac = tacrolimus(authoredOn=ago_date(147))
    reported = asserted_statement("Clarithromycin 500 MG Oral Tablet", ago_date(30))
    order = by_text("Clarithromycin 500 MG Oral Tablet", rid="c1", authoredOn=ago_date(3))
    assert patient_view(client, tac, reported, order, observations=[LEVEL_19_DAYS_AGO]) == []
    assert [c["indicator"] for c in patient_view(client, tac, order, observations=[LEVEL_19_DAYS_AGO])] == [
        "warning"
    ]


def test_a_routine_renewal_of_an_established_regimen_gives_at_most_one_card(client: TestClient) -> None:
    tac = tacrolimus(authoredOn=ago_date(2466))
    regimen = [
        by_text("Mycophenolate mofetil 500 MG Oral Tablet", rid="m1", authoredOn=ago_date(2466)),
        by_text("Omeprazole 20 MG Oral Capsule", rid="m2", authoredOn=ago_date(2040)),
        by_text("Lansoprazole 30 MG Oral Capsule", rid="m3", authoredOn=ago_date(1675)),
    ]
    found = renewal_sign(client, tac, *regimen, observations=[RECENT_LEVEL])
    assert [c["indicator"] for c in found] == ["info"]  # lansoprazole, quieter; the infos are dropped


# patient-view says why the card is shown today: the drug's earliest evidence and the latest level's date


def why_now(card: dict[str, Any]) -> str:
    detail: str = card["detail"]
    [line] = [line for line in detail.splitlines() if line.startswith("- **Why now:** ")]
    return line.removeprefix("- **Why now:** ")


@pytest.mark.parametrize(
    ("tac_start", "medication", "observations", "expected"),
    [
        (
            ago_date(183),
            by_text("Clarithromycin 500 MG Oral Tablet", authoredOn=ago_date(30)),
            [LEVEL_AFTER_BOTH],
            f"Clarithromycin started {ago_date(30)}; the last tacrolimus level was {ago_date(47)}, "
            "before it.",
        ),
        (
            ago_date(183),
            by_text("Neoral 100 MG Oral Capsule", authoredOn=ago_date(153)),
            [LEVEL_AFTER_BOTH],
            f"Ciclosporin started {ago_date(153)}; the last tacrolimus level was {ago_date(47)}, after it.",
        ),
        (
            ago_date(183),
            by_text("Neoral 100 MG Oral Capsule", authoredOn=ago_date(11)),
            [RECENT_LEVEL],
            f"Ciclosporin started {ago_date(11)}; the last tacrolimus level was {ago_date(11)}, "
            "the same day.",
        ),
        (
            ago_date(183),
            by_text(
                "Neoral 100 MG Oral Capsule",
                authoredOn=ago_date(6),
                priorPrescription={"reference": "MedicationRequest/neo-0"},
            ),
            [RECENT_LEVEL],
            f"Ciclosporin renewed {ago_date(6)} (started before then); the last tacrolimus level was "
            f"{ago_date(11)}, before it.",
        ),
        (
            ago_date(183),
            statement("Clarithromycin 500 MG Oral Tablet") | {"dateAsserted": ago_date(3)},
            [RECENT_LEVEL],
            f"Clarithromycin: start date not recorded (reported by {ago_date(3)}); the last tacrolimus level "
            f"was {ago_date(11)}, before it.",
        ),
        (
            None,
            by_text("Clarithromycin 500 MG Oral Tablet"),
            [],
            "Clarithromycin: start date not recorded; no tacrolimus level on record.",
        ),
        (
            None,
            by_text("Neoral 100 MG Oral Capsule"),
            [RECENT_LEVEL],
            f"Ciclosporin: start date not recorded; the last tacrolimus level was {ago_date(11)}.",
        ),
        (
            ago_date(6),
            by_text("Neoral 100 MG Oral Capsule", authoredOn=ago_date(153)),
            [RECENT_LEVEL],
            f"Ciclosporin started {ago_date(153)}; the last tacrolimus level was {ago_date(11)}, after it; "
            f"tacrolimus itself started {ago_date(6)}, after the level.",
        ),
    ],
    ids=[
        "started-after-level",
        "started-before-level",
        "same-day",
        "renewal",
        "asserted",
        "undated-no-level",
        "undated",
        "tacrolimus-started-after-level",
    ],
)
def test_patient_view_says_why_now(
    client: TestClient,
    tac_start: str | None,
    medication: dict[str, Any],
    observations: list[dict[str, Any]],
    expected: str,
) -> None:
    tac = tacrolimus(authoredOn=tac_start) if tac_start else tacrolimus()
    [card] = patient_view(client, tac, medication, observations=observations)
    assert why_now(card) == expected


def test_a_locally_coded_level_known_by_its_name_is_the_last_level(client: TestClient) -> None:
    local = observation("lvl", "TACRO", 8.2, "ng/mL", ago_at(11, "07:30"))
    local["code"] = {"coding": [{"system": "urn:oid:1.2.3.4", "code": "TACRO"}], "text": "Tacrolimus level"}
    [card] = patient_view(client, tacrolimus(), by_text("Neoral 100 MG Oral Capsule"), observations=[local])
    assert (
        why_now(card)
        == f"Ciclosporin: start date not recorded; the last tacrolimus level was {ago_date(11)}."
    )


def test_a_level_without_a_value_is_not_the_last_level(client: TestClient) -> None:
    no_value = observation("lvl2", "11253-2", 0, "ng/mL", ago_at(3, "07:30"))
    del no_value["valueQuantity"]
    no_value["dataAbsentReason"] = {"text": "sample haemolysed"}
    observations = [no_value, RECENT_LEVEL]
    [card] = patient_view(
        client, tacrolimus(), by_text("Neoral 100 MG Oral Capsule"), observations=observations
    )
    assert (
        why_now(card)
        == f"Ciclosporin: start date not recorded; the last tacrolimus level was {ago_date(11)}."
    )


def test_order_hooks_need_no_why_now(client: TestClient) -> None:
    card = selected_card(client, "Clarithromycin 500 MG Oral Tablet")
    assert "Why now" not in card["detail"]


# order-select: both directions, and unselected drafts are context only


def test_order_select_interacting_drug_selected_for_a_patient_on_tacrolimus(client: TestClient) -> None:
    draft = by_text("Clarithromycin 500 MG Oral Tablet [Biaxin]", rid="d1", status="draft")
    [card] = interaction_cards(
        client, OSEL, hook_request("order-select", full_prefetch([tacrolimus()]), drafts=[draft])
    )
    assert card["summary"].startswith("Clarithromycin raises tacrolimus levels")
    remove, level = card["suggestions"]
    assert remove["label"] == "Remove the Clarithromycin 500 MG Oral Tablet [Biaxin] order"
    assert remove["actions"] == [
        {
            "type": "delete",
            "description": "Remove the draft order for Clarithromycin 500 MG Oral Tablet [Biaxin]",
            "resourceId": "MedicationRequest/d1",
        }
    ]
    order = level["actions"][0]["resource"]
    assert checked(order) == order
    assert order["code"]["coding"][0]["code"] == "11253-2"
    assert order["subject"] == {"reference": "Patient/pat-1"}
    assert card["selectionBehavior"] == "at-most-one"


def test_order_select_tacrolimus_selected_for_a_patient_on_clarithromycin(client: TestClient) -> None:
    prefetch = full_prefetch([by_text("Clarithromycin 500 MG Oral Tablet")])
    body = hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    response = client.post(OSEL, content=orjson.dumps(body)).json()["cards"]
    topics = [c["source"]["topic"]["code"] for c in response]
    assert [t for t in topics if t.startswith("interaction-")] == ["interaction-raises-level"]
    # the clarithromycin is an active order, not a draft: nothing to remove, only a level to order
    assert [s["label"] for s in response[0]["suggestions"]] == ["Order a tacrolimus level"]


def test_order_select_unselected_draft_is_not_announced(client: TestClient) -> None:
    drafts = [
        by_text("Clarithromycin 500 MG", rid="d1", status="draft"),
        by_text("Amoxicillin 500 MG", rid="d2", status="draft"),
    ]
    body = hook_request(
        "order-select", full_prefetch([tacrolimus()]), drafts=drafts, selections=["MedicationRequest/d2"]
    )
    assert interaction_cards(client, OSEL, body) == []


def test_order_select_selected_drug_against_another_draft(client: TestClient) -> None:
    drafts = [
        tacrolimus("d1", status="draft"),
        by_text("Rifampin 300 MG Oral Capsule", rid="d2", status="draft"),
    ]
    body = hook_request("order-select", full_prefetch(), drafts=drafts, selections=["MedicationRequest/d2"])
    [card] = interaction_cards(client, OSEL, body)
    assert card["source"]["topic"]["code"] == "interaction-lowers-level"


def test_order_select_no_counselling_for_a_patient_already_on_tacrolimus(client: TestClient) -> None:
    body = hook_request(
        "order-select", full_prefetch([tacrolimus()]), drafts=[tacrolimus("d1", status="draft")]
    )
    assert interaction_cards(client, OSEL, body) == []


def test_order_select_nothing_for_a_patient_not_on_tacrolimus(client: TestClient) -> None:
    body = hook_request(
        "order-select", full_prefetch(), drafts=[by_text("Clarithromycin 500 MG", rid="d1", status="draft")]
    )
    assert interaction_cards(client, OSEL, body) == []


# order-sign: every draft against current medications and other drafts


def test_order_sign_announces_every_interacting_draft(client: TestClient) -> None:
    drafts = [
        by_text("Fluconazole 200 MG Oral Tablet", rid="d1", status="draft"),
        by_text("Neoral 100 MG", rid="d2", status="draft"),
    ]
    cards = interaction_cards(
        client, OSIGN, hook_request("order-sign", full_prefetch([tacrolimus()]), drafts=drafts)
    )
    assert [c["summary"].split()[0] for c in cards] == ["Ciclosporin", "Fluconazole"]


def test_order_sign_tacrolimus_draft_against_current_medication(client: TestClient) -> None:
    prefetch = full_prefetch([by_text("Tegretol 200 MG Oral Tablet")])
    cards = interaction_cards(
        client, OSIGN, hook_request("order-sign", prefetch, drafts=[tacrolimus("d1", status="draft")])
    )
    assert [c["source"]["topic"]["code"] for c in cards] == ["interaction-lowers-level"]


def test_order_sign_old_combinations_are_not_news(client: TestClient) -> None:
    prefetch = full_prefetch([tacrolimus(), by_text("Clarithromycin 500 MG")])
    body = hook_request(
        "order-sign", prefetch, drafts=[by_text("Amoxicillin 500 MG", rid="d1", status="draft")]
    )
    assert interaction_cards(client, OSIGN, body) == []


# suggestions follow the source's verb: removing the draft where the source says avoid or do not combine;
# for nephrotoxic co-medication it says monitor renal function (monograph, Prograf SmPC 4.5), and for
# mycophenolate watch for infection: no removal there


def selected_card(client: TestClient, text: str) -> dict[str, Any]:
    """The one interaction card when this drug is selected for a patient on tacrolimus."""
    draft = by_text(text, rid="d1", status="draft")
    [card] = interaction_cards(
        client, OSEL, hook_request("order-select", full_prefetch([tacrolimus()]), drafts=[draft])
    )
    return card


@pytest.mark.parametrize(
    "text",
    [
        "Gentamicin 80 MG/2ML Injection",
        "Ibuprofen 400 MG Oral Tablet",
        "Vancomycin 1 GM Injection",
        "Bactrim DS 800 MG / 160 MG Oral Tablet",
        "Amphotericin B liposomal 50 MG Injection",
        "Ganciclovir 500 MG Injection",
        "Acyclovir 400 MG Oral Tablet",
        "Ciprofloxacin 500 MG Oral Tablet",
    ],
)
def test_nephrotoxic_cards_offer_no_removal(client: TestClient, text: str) -> None:
    card = selected_card(client, text)
    assert card["source"]["topic"]["code"] == "interaction-toxicity"
    assert card["indicator"] == "warning"
    assert "monitor renal function" in card["summary"]
    assert "suggestions" not in card
    assert "selectionBehavior" not in card


def test_mycophenolate_card_offers_no_removal(client: TestClient) -> None:
    card = selected_card(client, "CellCept 500 MG Oral Tablet")
    assert card["indicator"] == "info"
    assert "suggestions" not in card


@pytest.mark.parametrize(
    "text", ["Neoral 100 MG Oral Capsule", "Aldactone 25 MG Oral Tablet", "Paxlovid 300 mg/100 mg dose pack"]
)
def test_avoid_cards_keep_the_removal(client: TestClient, text: str) -> None:
    card = selected_card(client, text)
    assert card["indicator"] == "critical"
    assert card["suggestions"][0]["actions"][0]["type"] == "delete"


# the removal names the product ordered, not the drug or class the card is about


@pytest.mark.parametrize(
    ("draft", "drug", "label"),
    [
        # a combination product: removing it removes all four drugs, so the label names Genvoya
        (
            by_text("Genvoya tablets", rid="d1", status="draft"),
            "Cobicistat",
            "Remove the Genvoya tablets order",
        ),
        # known by its ATC class only: the card says "Macrolide antibacterial", the label the product
        (
            by_text("Ketek 400 MG Oral Tablet", rid="d1", status="draft")
            | {
                "medicationCodeableConcept": {
                    "coding": [{"system": ATC, "code": "J01FA15"}],
                    "text": "Ketek 400 MG Oral Tablet",
                }
            },
            "Macrolide antibacterial",
            "Remove the Ketek 400 MG Oral Tablet order",
        ),
        # no name at all: the drug the card names
        (
            by_code(ATC, "J01FA09", rid="d1", status="draft"),
            "Clarithromycin",
            "Remove the Clarithromycin order",
        ),
    ],
    ids=["combination", "class-only", "code-only"],
)
def test_the_removal_names_the_ordered_product(
    client: TestClient, draft: dict[str, Any], drug: str, label: str
) -> None:
    [card] = interaction_cards(
        client, OSEL, hook_request("order-select", full_prefetch([tacrolimus()]), drafts=[draft])
    )
    assert card["summary"].startswith(drug)
    assert card["suggestions"][0]["label"] == label


def test_two_drafts_of_one_drug_get_two_distinct_removals(client: TestClient) -> None:
    drafts = [
        by_text("Clarithromycin 500 MG Oral Tablet", rid="d1", status="draft"),
        by_text("Clarithromycin 250 MG/5ML Oral Suspension", rid="d2", status="draft"),
    ]
    [card] = interaction_cards(
        client, OSIGN, hook_request("order-sign", full_prefetch([tacrolimus()]), drafts=drafts)
    )
    assert [s["label"] for s in card["suggestions"]] == [
        "Remove the Clarithromycin 500 MG Oral Tablet order",
        "Remove the Clarithromycin 250 MG/5ML Oral Suspension order",
        "Order a tacrolimus level",
    ]


# override reasons fit the card: levels monitored and dose adjusted answer a level interaction, not added
# toxicity, whose sources ask for renal function, potassium, the transplant team or infection to be watched


def reasons(card: dict[str, Any]) -> list[str]:
    return [r["display"] for r in card["overrideReasons"]]


@pytest.mark.parametrize(
    ("text", "own"),
    [
        ("Gentamicin 80 MG/2ML Injection", "Renal function and neurological status are being monitored"),
        ("Ibuprofen 400 MG Oral Tablet", "Renal function and neurological status are being monitored"),
        ("Aldactone 25 MG Oral Tablet", "Serum potassium is being monitored closely"),
        (
            "Potassium Chloride 20 MEQ Extended Release Oral Tablet",
            "Serum potassium is being monitored closely",
        ),
        ("CellCept 500 MG Oral Tablet", "The patient is being watched for signs of infection"),
        ("Neoral 100 MG Oral Capsule", None),  # do not combine: no monitoring reason
    ],
)
def test_toxicity_cards_offer_toxicity_reasons(client: TestClient, text: str, own: str | None) -> None:
    card = selected_card(client, text)
    assert card["source"]["topic"]["code"] == "interaction-toxicity"
    assert reasons(card) == [
        *([own] if own else []),
        "Benefit outweighs the risk for this patient",
        "Patient is not taking this medication",
    ]


def test_sirolimus_in_a_liver_recipient_offers_the_transplant_teams_agreement(client: TestClient) -> None:
    [card] = with_transplant(client, "Z94.4", tacrolimus(), by_text("Rapamune 1 MG Oral Tablet"))
    assert reasons(card)[0] == "The regimen is agreed with the transplant team"
    assert not any("level" in r or "dose" in r for r in reasons(card))


@pytest.mark.parametrize("text", ["Clarithromycin 500 MG Oral Tablet", "rifAMPin 300 MG Oral Capsule"])
def test_level_cards_offer_level_reasons(client: TestClient, text: str) -> None:
    assert reasons(selected_card(client, text)) == [
        "Tacrolimus levels will be monitored and the dose adjusted",
        "Tacrolimus dose already adjusted for this combination",
        "Benefit outweighs the risk for this patient",
        "Patient is not taking this medication",
    ]


def test_a_cobicistat_product_reads_as_a_booster(client: TestClient) -> None:
    # Genvoya has no protease inhibitor: its cobicistat is a booster, treated as the boosted regimens
    # (reference section 10), so the advice must name boosters too, not protease inhibitors alone
    card = selected_card(client, "Genvoya tablets (elvitegravir, cobicistat, emtricitabine, tenofovir)")
    assert card["summary"].startswith("Cobicistat (HIV protease inhibitor or booster)")
    action = next(line for line in card["detail"].splitlines() if "**What to do:**" in line)
    assert "protease inhibitor or booster (cobicistat) is introduced or withdrawn" in action


# a prodrug is named as itself: the card names the drug the patient takes, and says what it becomes


@pytest.mark.parametrize(
    ("text", "drug", "becomes"),
    [
        ("Valganciclovir 450 mg tablets", "Valganciclovir", "prodrug of ganciclovir"),
        ("Valaciclovir 500 mg tablets", "Valaciclovir", "prodrug of aciclovir"),
    ],
)
def test_a_prodrug_card_names_the_drug_found(client: TestClient, text: str, drug: str, becomes: str) -> None:
    [card] = patient_view(client, tacrolimus(), by_text(text))
    assert card["summary"].startswith(f"{drug} with tacrolimus")
    assert card["detail"].startswith(f"**{drug}** ({text} (active order))")
    assert becomes in card["detail"]


def test_ganciclovir_and_valganciclovir_each_get_their_own_card(client: TestClient) -> None:
    cards = patient_view(
        client,
        tacrolimus(),
        by_text("Ganciclovir 500 MG Injection", rid="g1"),
        by_text("Valganciclovir 450 MG Oral Tablet", rid="v1"),
    )
    assert sorted(c["summary"].split()[0] for c in cards) == ["Ganciclovir", "Valganciclovir"]
    [ganciclovir] = [c for c in cards if c["summary"].startswith("Ganciclovir")]
    assert "prodrug" not in ganciclovir["detail"]


def test_rifabutin_is_an_inducer_as_the_smpc_says(client: TestClient) -> None:
    # EU SmPC 4.4/4.5: rifampicin and rifabutin are the CYP3A4 inducers named; monitor the level, graft
    # function, QT, renal function and neurotoxicity and adjust the dose
    card = selected_card(client, "Rifabutin 150 mg capsules")
    assert card["source"]["topic"]["code"] == "interaction-lowers-level"
    assert card["indicator"] == "warning"
    assert card["summary"] == "Rifabutin induces CYP3A4 and may lower tacrolimus levels: monitor levels"
    assert "names rifabutin, with rifampicin, among the CYP3A4 inducers" in card["detail"]
    assert "Prograf SmPC: 4.4 and 4.5" in card["detail"]
    assert [s["label"] for s in card["suggestions"]][-1] == "Order a tacrolimus level"


def test_miconazole_is_an_azole_without_in_vitro_evidence(client: TestClient) -> None:
    # the monograph's class statement (a dose reduction is likely with an azole antifungal) covers it;
    # the azole card cites no in-vitro miconazole evidence (pharmacist review)
    card = selected_card(client, "Miconazole 2% oral gel")
    assert card["summary"].startswith("Miconazole raises tacrolimus levels")
    assert "oral gel is swallowed and acts systemically" in card["detail"]
    assert "vitro" not in card["detail"]
    assert card["detail"].endswith(
        "**Sources**\n\n- Tacrolimus monograph (Martindale-style text): Interactions: Antifungals"
    )


def test_schisandra_says_the_study_was_in_healthy_subjects(client: TestClient) -> None:
    # monograph (Deoxyschizandrin): mean tacrolimus concentrations in 12 healthy subjects rose from 22.2 to
    # 66.4 nanograms/mL: not patients, and the card must not read as if they were
    [card] = patient_view(client, tacrolimus(), statement("Schisandra sphenanthera extract capsules"))
    assert card["summary"] == (
        "Schisandra extract raised tacrolimus levels from 22.2 to 66.4 ng/mL in 12 healthy subjects: "
        "monitor levels closely"
    )


def test_dstu2_medication_order_draft_is_checked(client: TestClient) -> None:
    draft = by_text("Clarithromycin 500 MG", rid="o1", status="draft", resource_type="MedicationOrder")
    [card] = interaction_cards(
        client, OSEL, hook_request("order-select", full_prefetch([tacrolimus()]), drafts=[draft])
    )
    assert card["suggestions"][0]["actions"][0]["resourceId"] == "MedicationOrder/o1"


# the knowledge behind the cards


def test_every_interaction_cites_the_literature() -> None:
    knowledge = load()
    for key, entry in knowledge.interactions.interactions.items():
        assert entry.citations, key
        assert all(c.source in knowledge.sources for c in entry.citations), key


def test_the_established_policy_states_the_rules_the_code_applies() -> None:
    # the policy pharmacists review must name each rule tested above, and not the old "unknown start dates
    # are never established" (undated info entries are established; warning ones with a recent level)
    text = load().interactions.policy["established"]
    for rule in (
        "only being ordered now",
        "earliest evidence",
        "a renewal",
        "dateAsserted",
        "upper bound",
        "asserted after it",
        "established for an info entry, new for a critical one",
        "for a warning one established only when the latest level is recent",
        "one step quieter at every hook",
    ):
        assert rule in text, rule
    assert "not established" not in text


NUMBER = re.compile(r"\d+(?:\.\d+)?")


@pytest.mark.parametrize("key", list(load().interactions.interactions))
def test_every_number_in_a_card_is_in_its_entry(client: TestClient, key: str) -> None:
    knowledge = load()
    entry = knowledge.interactions.interactions[key]
    drug = entry.drugs[0]
    name = knowledge.drugs.ingredients[drug].names[0]
    draft = by_text(f"{name} oral tablet", rid="d1", status="draft")
    [card] = interaction_cards(
        client, OSEL, hook_request("order-select", full_prefetch([tacrolimus()]), drafts=[draft])
    )
    detail = card["detail"].split("**Sources**")[0].split("\n", 1)[1]  # not the line naming the medications
    said = card["summary"] + "\n" + detail
    source_text = orjson.dumps(entry.model_dump()).decode()
    for number in NUMBER.findall(said):
        assert number in source_text, f"{key}: {number} is not in the knowledge entry"


def with_transplant(client: TestClient, code: str, *medications: dict[str, Any]) -> list[dict[str, Any]]:
    prefetch = full_prefetch(list(medications))
    prefetch["conditions"] = bundle(
        [
            {
                "resourceType": "Condition",
                "id": "c1",
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
            }
        ]
    )
    return interaction_cards(client, PV, hook_request(prefetch=prefetch))


@pytest.mark.parametrize("organ", ["Z94.4", "Z94.1"], ids=["liver", "heart"])
def test_sirolimus_in_a_liver_or_heart_recipient_is_not_recommended(client: TestClient, organ: str) -> None:
    # US label: not recommended in liver and heart transplant (excess mortality, graft loss, hepatic
    # artery thrombosis in de novo liver recipients): one critical card, which also gives the level effect
    [card] = with_transplant(client, organ, tacrolimus(), by_text("Rapamune 1 MG Oral Tablet"))
    assert card["indicator"] == "critical"
    assert card["source"]["topic"]["code"] == "interaction-toxicity"
    assert "not recommended" in card["summary"]
    assert "hepatic artery thrombosis" in card["detail"]
    assert "about 30%" in card["detail"]
    assert card["source"]["label"] == "Prograf US prescribing information"


def test_sirolimus_in_a_kidney_recipient_is_the_level_card_only(client: TestClient) -> None:
    [card] = with_transplant(client, "Z94.0", tacrolimus(), by_text("Rapamune 1 MG Oral Tablet"))
    assert card["indicator"] == "warning"
    assert card["source"]["topic"]["code"] == "interaction-lowers-level"


def test_nirmatrelvir_is_critical_with_a_monitoring_override(client: TestClient) -> None:
    [card] = patient_view(client, tacrolimus(), by_text("Paxlovid 150 mg/100 mg film-coated tablets"))
    assert card["indicator"] == "critical"  # AIFA and US label: avoid when close monitoring is not possible
    assert "avoid" in card["summary"]
    assert (
        card["overrideReasons"][0]["display"]
        == "Close tacrolimus monitoring is arranged with the transplant team"
    )


def test_voriconazoles_one_third_rule_says_its_status(client: TestClient) -> None:
    [card] = patient_view(client, tacrolimus(), by_text("Voriconazole 200 MG Oral Tablet"))
    assert "one-third" in card["detail"]
    assert "not checked against the VFEND label" in card["detail"]  # a letter's citation, said plainly


@pytest.mark.parametrize(
    "unrelated",
    [
        "Losartan potassium 50 mg tablets",
        "Phenoxymethylpenicillin potassium 250mg tablets",
        "Furosemide 40mg tablets",
    ],
)
def test_potassium_salts_of_other_drugs_stay_quiet(client: TestClient, unrelated: str) -> None:
    assert patient_view(client, tacrolimus(), by_text(unrelated)) == []


def test_a_combination_matched_by_two_ingredients_gives_one_card(client: TestClient) -> None:
    [card] = patient_view(client, tacrolimus(), by_text("Prezcobix 800 mg/150 mg tablets"))
    assert card["summary"].startswith("Cobicistat/Darunavir")


def test_a_product_in_two_entries_of_one_effect_gets_the_first_entry_in_file_order(
    client: TestClient,
) -> None:
    # an H. pylori pack (Prevpac): clarithromycin and lansoprazole both raise tacrolimus levels; one card for
    # the effect, the macrolide entry (listed before lansoprazole's), not the one first in alphabetical order
    pack = by_text(
        "{2 (amoxicillin 500 MG Oral Capsule) / 1 (clarithromycin 500 MG Oral Tablet) /"
        " 1 (lansoprazole 30 MG Delayed Release Oral Capsule) } Pack [Prevpac]"
    )
    [card] = patient_view(client, tacrolimus(), pack)
    assert card["source"]["topic"]["code"] == "interaction-raises-level"
    assert card["summary"].startswith("Clarithromycin ")


def test_starting_tacrolimus_folds_an_info_interaction_and_still_shows_a_later_warning(
    client: TestClient,
) -> None:
    # omeprazole's info finding comes first (it is first on record) and goes to the before-starting card;
    # clarithromycin's warning after it keeps its own card
    prefetch = full_prefetch(
        [
            by_text("Omeprazole 20 MG Oral Capsule", rid="m1"),
            by_text("Clarithromycin 500 MG Oral Tablet", rid="m2"),
        ]
    )
    body = hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    [card] = interaction_cards(client, OSEL, body)
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Clarithromycin ")


def level_orders(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        action["resource"]
        for suggestion in card.get("suggestions", ())
        if suggestion["label"] == "Order a tacrolimus level"
        for action in suggestion["actions"]
    ]


def test_a_dstu2_caller_is_offered_a_dstu2_level_order(client: TestClient) -> None:
    """DSTU2 has no ServiceRequest: a laboratory test is ordered with a DiagnosticOrder, whose subject and
    item.code are required and whose status codes include draft (FHIR DSTU2 1.0.2)."""
    draft = by_text("Clarithromycin 500 MG", rid="o1", status="draft", resource_type="MedicationOrder")
    prefetch = full_prefetch([tacrolimus(resource_type="MedicationOrder")])
    [card] = interaction_cards(client, OSEL, hook_request("order-select", prefetch, drafts=[draft]))
    [order] = level_orders(card)
    assert order == {
        "resourceType": "DiagnosticOrder",
        "status": "draft",
        "subject": {"reference": "Patient/pat-1"},
        "item": [
            {
                "code": {
                    "coding": [
                        {"system": "http://loinc.org", "code": "11253-2", "display": order_display(order)}
                    ],
                    "text": "Tacrolimus level (trough, drawn just before the next dose)",
                }
            }
        ],
    }


def test_an_r4_caller_is_offered_an_r4_service_request(client: TestClient) -> None:
    draft = by_text("Clarithromycin 500 MG", rid="d1", status="draft")
    [card] = interaction_cards(
        client, OSEL, hook_request("order-select", full_prefetch([tacrolimus()]), drafts=[draft])
    )
    [order] = level_orders(card)
    assert order["resourceType"] == "ServiceRequest"
    assert checked(order) == order
    assert order == {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/pat-1"},
        "code": {
            "coding": [
                {
                    "system": "http://loinc.org",
                    "code": "11253-2",
                    "display": "Tacrolimus [Mass/volume] in Blood",
                }
            ],
            "text": "Tacrolimus level (trough, drawn just before the next dose)",
        },
    }
    [suggestion] = [s for s in card["suggestions"] if s["label"] == "Order a tacrolimus level"]
    assert "isRecommended" not in suggestion  # an interaction card asks for a level, without urging it
    assert [(a["type"], a["description"]) for a in suggestion["actions"]] == [
        ("create", "Order a tacrolimus whole-blood level")
    ]


def order_display(order: dict[str, Any]) -> str:
    display: str = order["item"][0]["code"]["coding"][0]["display"]
    assert display
    return display


def with_condition_text(client: TestClient, text: str, *medications: dict[str, Any]) -> list[dict[str, Any]]:
    prefetch = full_prefetch(list(medications))
    prefetch["conditions"] = bundle([{"resourceType": "Condition", "id": "c1", "code": {"text": text}}])
    return interaction_cards(client, PV, hook_request(prefetch=prefetch))


def test_a_transplant_recorded_only_as_text_is_recognised(client: TestClient) -> None:
    # a UK record with a local code and the words "Liver transplant": still a liver recipient
    [card] = with_condition_text(
        client, "Liver transplant", tacrolimus(), by_text("Rapamune 1 MG Oral Tablet")
    )
    assert card["indicator"] == "critical"
    assert "not recommended" in card["summary"]


@pytest.mark.parametrize("text", ["Candidate for liver transplant", "Liver transplant donor"])
def test_a_candidate_or_donor_is_not_a_recipient(client: TestClient, text: str) -> None:
    [card] = with_condition_text(client, text, tacrolimus(), by_text("Rapamune 1 MG Oral Tablet"))
    assert card["source"]["topic"]["code"] == "interaction-lowers-level"


# A medication coded only by its RxNorm ingredient (no product code, no text, no display): tacrolimus 42316
# and clarithromycin 21212, both marked verified in the reference (tacrolimus-knowledge.md section 2). The
# monograph: clarithromycin raises tacrolimus levels (monitor and adjust: a warning).
TACROLIMUS_INGREDIENT_ONLY = by_code(RXNORM, "42316", rid="tac-1")
CLARITHROMYCIN_INGREDIENT_ONLY = by_code(RXNORM, "21212", rid="d1", status="draft")


def test_order_select_both_drugs_coded_only_by_their_rxnorm_ingredient(client: TestClient) -> None:
    body = hook_request(
        "order-select", full_prefetch([TACROLIMUS_INGREDIENT_ONLY]), drafts=[CLARITHROMYCIN_INGREDIENT_ONLY]
    )
    [card] = interaction_cards(client, OSEL, body)
    assert card["summary"].startswith("Clarithromycin raises tacrolimus levels")
    assert card["indicator"] == "warning"
    assert card["source"]["topic"]["code"] == "interaction-raises-level"


def test_order_sign_tacrolimus_coded_only_by_its_ingredient_against_clarithromycin(
    client: TestClient,
) -> None:
    prefetch = full_prefetch([by_code(RXNORM, "21212", rid="c1")])
    tacrolimus_draft = by_code(RXNORM, "42316", rid="d1", status="draft")
    [card] = interaction_cards(client, OSIGN, hook_request("order-sign", prefetch, drafts=[tacrolimus_draft]))
    assert card["summary"].startswith("Clarithromycin raises tacrolimus levels")


def test_an_ingredient_code_in_another_system_is_not_rxnorm(client: TestClient) -> None:
    """42316 and 21212 mean tacrolimus and clarithromycin in RxNorm only."""
    body = hook_request(
        "order-select",
        full_prefetch([by_code("http://snomed.info/sct", "42316", rid="tac-1")]),
        drafts=[by_code("http://snomed.info/sct", "21212", rid="d1", status="draft")],
    )
    assert interaction_cards(client, OSEL, body) == []


def test_the_card_says_how_each_drug_is_recorded(client: TestClient) -> None:
    clarithromycin = "Clarithromycin 500 MG Oral Tablet"
    prefetch = full_prefetch([tacrolimus()])
    body = hook_request("order-select", prefetch, drafts=[by_text(clarithromycin, rid="d1", status="draft")])
    [card] = interaction_cards(client, OSEL, body)
    prograf = "Tacrolimus 1 MG Oral Capsule [Prograf] (active order)"
    assert card["detail"].splitlines()[0] == (
        f"**Clarithromycin** ({clarithromycin} (order being written, selected)) with tacrolimus ({prograf}):"
        " raises tacrolimus levels."
    )
    # an order and the patient's own report of the same drug: both named, in one card
    [card] = patient_view(
        client,
        tacrolimus(),
        by_text(clarithromycin, rid="m2"),
        statement("Clarithromycin 250 MG Oral Tablet"),
    )
    assert card["detail"].splitlines()[0] == (
        f"**Clarithromycin** ({clarithromycin} (active order); Clarithromycin 250 MG Oral Tablet (reported by"
        f" the patient)) with tacrolimus ({prograf}): raises tacrolimus levels."
    )


def test_a_drug_known_only_by_its_code_is_named_by_its_record(client: TestClient) -> None:
    # clarithromycin by its RxNorm ingredient code alone (21212, the reference's section 2, verified)
    [card] = patient_view(client, tacrolimus(), by_code(RXNORM, "21212", rid="m2"))
    assert card["detail"].startswith(
        "**Clarithromycin** (MedicationRequest/m2 (active order)) with tacrolimus"
    )


# -- the family made in the test: the services' own copy is built once per session, so a fault in the
# family's constructor (its drug and indication indexes, its override reasons) would not show above


def family_cards(*resources: dict[str, Any]) -> list[Card]:
    knowledge = load()
    builder = RecordBuilder(hook="patient-view", now=now(), patient_id=PATIENT_ID)
    builder.add(list(resources), where="prefetch")
    return list(InteractionFamily(knowledge, DrugIdentifier(knowledge)).cards(builder.build()))


def test_the_family_made_here_finds_sirolimus_not_recommended_in_a_liver_recipient() -> None:
    liver = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z94.4"}]},
    }
    [card] = family_cards(liver, tacrolimus(), by_text("Rapamune 1 MG Oral Tablet"))
    assert card.indicator == "critical"
    assert card.source.topic is not None
    assert card.source.topic.code == "interaction-toxicity"
    assert "not recommended" in card.summary


def test_the_family_made_here_offers_a_level_card_its_level_reasons() -> None:
    [card] = family_cards(tacrolimus(), by_text("Clarithromycin 500 MG Oral Tablet", rid="m2"))
    assert [r.display for r in card.overrideReasons or ()] == [
        "Tacrolimus levels will be monitored and the dose adjusted",
        "Tacrolimus dose already adjusted for this combination",
        "Benefit outweighs the risk for this patient",
        "Patient is not taking this medication",
    ]


def test_a_records_findings_are_found_once_and_shared() -> None:
    # the interaction cards and the before-starting card both read one record's findings: the second ask
    # gets the first answer itself
    knowledge = load()
    family = InteractionFamily(knowledge, DrugIdentifier(knowledge))
    builder = RecordBuilder(hook="patient-view", now=now(), patient_id=PATIENT_ID)
    builder.add([tacrolimus(), by_text("Clarithromycin 500 MG Oral Tablet", "m2")], where="prefetch")
    record = builder.build()
    first = family.findings(record)
    assert [f.indicator for f in first] == ["warning"]  # the monograph: monitor and adjust
    assert family.findings(record) is first
