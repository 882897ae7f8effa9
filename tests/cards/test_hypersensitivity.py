"""Scenario tests: macrolide allergy and the injection's polyoxyl castor oil, when tacrolimus is ordered."""

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cards.drugs import DrugIdentifier
from cards.hypersensitivity import HypersensitivityFamily
from cards.knowledge import load
from cds.models import Card
from cds.record import RecordBuilder
from tests.builders import (
    PATIENT_ID,
    RXNORM,
    bundle,
    full_prefetch,
    hook_request,
    medication_request,
    tacrolimus,
)
from tests.clock import now

OSEL, PV = "/cds-services/tacrolimus-order-select", "/cds-services/tacrolimus-patient-view"


def allergy(substance: dict[str, Any], rid: str = "a1", verification: str = "confirmed") -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "id": rid,
        "code": substance,
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "verificationStatus": {"coding": [{"code": verification}]},
    }


def cards_for(
    client: TestClient,
    draft: dict[str, Any],
    allergies: list[dict[str, Any]],
    current: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> list[dict[str, Any]]:
    prefetch = full_prefetch(list(current))
    prefetch["allergies"] = bundle(allergies)
    response = client.post(OSEL, content=orjson.dumps(hook_request("order-select", prefetch, drafts=[draft])))
    assert response.status_code == 200
    return [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "hypersensitivity"]


@pytest.mark.parametrize(
    "substance",
    [
        {
            "coding": [{"system": RXNORM, "code": "21212", "display": "Clarithromycin"}]
        },  # by RxNorm ingredient
        {
            "coding": [{"system": "http://www.whocc.no/atc", "code": "J01FA"}],
            "text": "Macrolides",
        },  # by ATC class
        {"coding": [{"system": "http://www.whocc.no/atc", "code": "J01FA01"}]},
        {"text": "ERYTHROMYCIN"},  # by text
        {"text": "Macrolide antibiotics"},
        {"text": "Tacrolimus"},
    ],
)
def test_macrolide_allergy_when_tacrolimus_is_ordered(client: TestClient, substance: dict[str, Any]) -> None:
    [card] = cards_for(client, tacrolimus("d1", status="draft"), [allergy(substance)])
    assert card["indicator"] == "critical"
    assert "tacrolimus is a macrolide and should be avoided" in card["summary"]
    assert "hypersensitive to macrolides" in card["detail"]
    assert card["suggestions"][0]["actions"][0] == {
        "type": "delete",
        "description": "Remove the draft tacrolimus order",
        "resourceId": "MedicationRequest/d1",
    }


@pytest.mark.parametrize(
    ("substance", "named"),
    [
        # the coding's display and the text agree: the substance is named once
        (
            {
                "coding": [{"system": RXNORM, "code": "4053", "display": "erythromycin"}],
                "text": "erythromycin",
            },
            "erythromycin",
        ),
        (
            {
                "coding": [{"system": RXNORM, "code": "4053", "display": "Erythromycin"}],
                "text": "ERYTHROMYCIN",
            },
            "ERYTHROMYCIN",  # the text first, as the record has it
        ),
        # different words are the record's own and both are kept
        (
            {
                "coding": [{"system": RXNORM, "code": "21212", "display": "Clarithromycin"}],
                "text": "Klaricid",
            },
            "Klaricid, Clarithromycin",
        ),
    ],
    ids=["same", "same-but-case", "different"],
)
def test_the_allergy_names_each_substance_once(
    client: TestClient, substance: dict[str, Any], named: str
) -> None:
    [card] = cards_for(client, tacrolimus("d1", status="draft"), [allergy(substance)])
    assert f"- Recorded allergy: {named} (type not recorded; confirmed)." in card["detail"]


@pytest.mark.parametrize(
    "case",
    ["penicillin", "refuted", "not ordered"],
)
def test_no_macrolide_card(client: TestClient, case: str) -> None:
    if case == "penicillin":
        assert cards_for(client, tacrolimus("d1", status="draft"), [allergy({"text": "Penicillin"})]) == []
    elif case == "refuted":
        refuted = allergy({"text": "Erythromycin"}, verification="refuted")
        assert cards_for(client, tacrolimus("d1", status="draft"), [refuted]) == []
    else:
        amox = medication_request("d1", "Amoxicillin 500 MG", status="draft")
        assert cards_for(client, amox, [allergy({"text": "Erythromycin"})]) == []


def test_no_card_on_patient_view(client: TestClient) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["allergies"] = bundle([allergy({"text": "Erythromycin"})])
    cards = client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch))).json()["cards"]
    assert [c for c in cards if c["source"]["topic"]["code"] == "hypersensitivity"] == []


IV = medication_request("d1", "Tacrolimus 5 MG/ML Injectable Solution", status="draft")


def test_intravenous_order_mentions_the_castor_oil_vehicle(client: TestClient) -> None:
    # for a patient on oral tacrolimus moved to an infusion; at a start the before-starting card says it
    [card] = cards_for(client, IV, [], current=[tacrolimus()])
    assert card["indicator"] == "warning"
    assert (
        card["summary"]
        == "Intravenous tacrolimus contains polyoxyl castor oil: anaphylactoid reactions have occurred"
    )


def test_an_infusion_renewed_for_a_patient_already_on_one_is_not_news(client: TestClient) -> None:
    running = medication_request("m1", "Tacrolimus 5 MG/ML Injectable Solution")
    assert cards_for(client, IV, [], current=[running]) == []
    # an allergy to the vehicle is always said
    [card] = cards_for(client, IV, [allergy({"text": "castor oil"})], current=[running])
    assert card["indicator"] == "critical"


def test_intravenous_order_by_route(client: TestClient) -> None:
    by_route = tacrolimus("d1", status="draft", dosageInstruction=[{"route": {"text": "Intravenous"}}])
    [card] = cards_for(client, by_route, [], current=[tacrolimus()])
    assert "polyoxyl castor oil" in card["summary"]


def test_intravenous_order_with_an_allergy_to_the_vehicle_is_critical(client: TestClient) -> None:
    [card] = cards_for(client, IV, [allergy({"text": "Cremophor EL (polyoxyl 35 castor oil)"})])
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("Allergy to Cremophor EL")


def test_oral_order_says_nothing_about_the_vehicle(client: TestClient) -> None:
    assert cards_for(client, tacrolimus("d1", status="draft"), [allergy({"text": "castor oil"})]) == []


def typed(
    kind: str | None, manifestation: str | None = None, criticality: str | None = None
) -> dict[str, Any]:
    found = allergy({"coding": [{"system": RXNORM, "code": "4053", "display": "Erythromycin"}]})
    if kind:
        found["type"] = kind
    if manifestation:
        found["reaction"] = [{"manifestation": [{"text": manifestation}]}]
    if criticality:
        found["criticality"] = criticality
    return found


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (typed("allergy", "Urticaria"), "critical"),
        (typed(None), "critical"),  # type unknown: treated as an allergy, as before
        (typed("intolerance", "Nausea"), None),  # not the hypersensitivity the label contraindicates
        (typed("intolerance"), None),
        (
            typed("intolerance", "Anaphylaxis"),
            "critical",
        ),  # an intolerance whose reaction is hypersensitivity
        (typed("intolerance", "Nausea", criticality="high"), "critical"),
    ],
    ids=[
        "allergy",
        "type-unknown",
        "intolerance",
        "intolerance-no-reaction",
        "intolerance-anaphylaxis",
        "high",
    ],
)
def test_allergy_is_not_intolerance(client: TestClient, record: dict[str, Any], expected: str | None) -> None:
    found = cards_for(client, tacrolimus("d1", status="draft"), [record])
    assert [c["indicator"] for c in found] == ([expected] if expected else [])
    if expected:
        assert "Erythromycin" in found[0]["detail"]


def test_the_card_shows_the_records_own_words(client: TestClient) -> None:
    [card] = cards_for(client, tacrolimus("d1", status="draft"), [typed("allergy", "Urticaria", "high")])
    assert (
        "Recorded allergy: Erythromycin (reaction: Urticaria; type: allergy; criticality high; confirmed)."
        in card["detail"]
    )


@pytest.mark.parametrize("status", ["inactive", "resolved"])
def test_an_allergy_no_longer_active_is_ignored(client: TestClient, status: str) -> None:
    record = typed("allergy")
    record["clinicalStatus"] = {"coding": [{"code": status}]}
    assert cards_for(client, tacrolimus("d1", status="draft"), [record]) == []


def test_a_tacrolimus_draft_without_an_id_is_announced_but_offers_no_removal(client: TestClient) -> None:
    draft = tacrolimus("d1", status="draft")
    del draft["id"]  # a delete action could not name it (order-sign: every draft is being signed)
    prefetch = full_prefetch()
    prefetch["allergies"] = bundle([allergy({"text": "Erythromycin"})])
    body = hook_request("order-sign", prefetch, drafts=[draft])
    response = client.post("/cds-services/tacrolimus-order-sign", content=orjson.dumps(body))
    [card] = [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "hypersensitivity"]
    assert card["indicator"] == "critical"
    assert "suggestions" not in card


LOCAL = "urn:oid:2.16.840.1.113883.3.9999.1"  # an EHR's local allergen list (no standard code)
ATC = "http://www.whocc.no/atc"
OVERRIDES = [
    {"system": "urn:tacrolimus-cds:override-reason", "code": "specialist-approved",
     "display": "Approved by the treating specialist"},
    {"system": "urn:tacrolimus-cds:override-reason", "code": "assessed",
     "display": "Assessed: does not apply to this patient"},
]  # fmt: skip


def test_a_substance_coded_only_by_class_is_named_as_a_macrolide(client: TestClient) -> None:
    [card] = cards_for(
        client, tacrolimus("d1", status="draft"), [allergy({"coding": [{"system": ATC, "code": "j01fa"}]})]
    )
    assert (
        card["summary"] == "Allergy to a macrolide recorded: tacrolimus is a macrolide and should be avoided"
    )
    # no name anywhere in the record: the allergy is named by its id
    assert "Recorded allergy: AllergyIntolerance/a1 (type not recorded; confirmed)." in card["detail"]
    assert card["overrideReasons"] == OVERRIDES
    [suggestion] = card["suggestions"]
    assert suggestion["label"] == "Remove the tacrolimus order"


def test_the_summary_names_the_substance_clipped_to_forty_characters(client: TestClient) -> None:
    forty = "Erythromycin ethylsuccinate oral granule"  # 40 characters
    assert len(forty) == 40
    [card] = cards_for(client, tacrolimus("d1", status="draft"), [allergy({"text": forty})])
    assert card["summary"].startswith(f"Allergy to {forty} recorded: ")
    longer = f"{forty}s"
    [card] = cards_for(client, tacrolimus("d1", status="draft"), [allergy({"text": longer})])
    assert card["summary"].startswith("Allergy to Erythromycin ethylsuccinate oral… recorded: ")


def test_a_substance_named_only_in_the_reaction(client: TestClient) -> None:
    record = allergy({"coding": [{"system": ATC, "code": "J01FA"}]})
    record["reaction"] = [{"substance": {"text": "Clarithromycin"}, "manifestation": [{"text": "Hives"}]}]
    [card] = cards_for(client, tacrolimus("d1", status="draft"), [record])
    assert card["summary"].startswith("Allergy to Clarithromycin recorded: ")


@pytest.mark.parametrize(
    "substance",
    [
        # each name the record gives is read as a whole: the class word is in the second
        {
            "coding": [{"system": LOCAL, "code": "ALG-12", "display": "Macrolides"}],
            "text": "Antibiotic allergy",
        },
        {
            "coding": [{"system": LOCAL, "code": "ALG-12", "display": "Antibiotic allergy"}],
            "text": "Macrolides",
        },
    ],
)
def test_a_macrolide_named_in_any_of_the_records_names(client: TestClient, substance: dict[str, Any]) -> None:
    [card] = cards_for(client, tacrolimus("d1", status="draft"), [allergy(substance)])
    assert card["indicator"] == "critical"


def test_the_vehicle_named_in_any_of_the_records_names(client: TestClient) -> None:
    substance = {
        "coding": [{"system": LOCAL, "code": "EXC-3", "display": "Polyoxyl castor oil"}],
        "text": "Excipient",
    }
    [card] = cards_for(client, IV, [allergy(substance)])
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("Allergy to Excipient")
    assert card["overrideReasons"] == OVERRIDES


def test_the_vehicle_named_alone_beside_another_name_is_found(client: TestClient) -> None:
    # one word of the record's names, next to another name: each name is read as its own words
    substance = {"coding": [{"system": LOCAL, "code": "EXC-4", "display": "Cremophor"}], "text": "Excipient"}
    [card] = cards_for(client, IV, [allergy(substance)])
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("Allergy to Excipient")


def test_the_vehicle_card_offers_the_same_override_reasons(client: TestClient) -> None:
    [card] = cards_for(client, IV, [], current=[tacrolimus()])
    assert card["overrideReasons"] == OVERRIDES


def test_an_intolerance_whose_reaction_is_hypersensitivity_in_any_of_its_names(client: TestClient) -> None:
    record = typed("intolerance")
    record["reaction"] = [
        {
            "manifestation": [
                {"coding": [{"system": LOCAL, "code": "R-9", "display": "Urticaria"}], "text": "Skin"}
            ]
        }
    ]
    [card] = cards_for(client, tacrolimus("d1", status="draft"), [record])
    assert card["indicator"] == "critical"


def test_each_reaction_is_listed_once(client: TestClient) -> None:
    record = typed("allergy")
    record["reaction"] = [
        {"manifestation": [{"text": "Urticaria"}, {"text": "Angioedema"}]},
        {"manifestation": [{"text": "Urticaria"}]},
    ]
    [card] = cards_for(client, tacrolimus("d1", status="draft"), [record])
    assert "(reaction: Urticaria, Angioedema; type: allergy; confirmed)" in card["detail"]


def test_one_suggestion_removes_both_tacrolimus_orders_signed_together(client: TestClient) -> None:
    """Accepting it must leave no tacrolimus draft: removing one of two would still sign a macrolide."""
    prefetch = full_prefetch()
    prefetch["allergies"] = bundle([allergy({"text": "Erythromycin"})])
    drafts = [tacrolimus("d1", status="draft"), tacrolimus("d2", status="draft")]
    body = hook_request("order-sign", prefetch, drafts=drafts)
    response = client.post("/cds-services/tacrolimus-order-sign", content=orjson.dumps(body))
    [card] = [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "hypersensitivity"]
    [suggestion] = card["suggestions"]
    assert suggestion["label"] == "Remove the 2 tacrolimus orders"
    assert [(a["type"], a["resourceId"]) for a in suggestion["actions"]] == [
        ("delete", "MedicationRequest/d1"),
        ("delete", "MedicationRequest/d2"),
    ]


# -- the family made in the test: the services' own copy is built once per session, so a fault in the
# family's constructor would not show in the scenarios above
KNOWLEDGE = load()


def family_cards(
    draft: dict[str, Any],
    allergies: list[dict[str, Any]],
    current: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> list[Card]:
    builder = RecordBuilder(
        hook="order-select", now=now(), patient_id=PATIENT_ID, selections=["MedicationRequest/d1"]
    )
    builder.add([draft], where="draftOrders", draft=True)
    builder.add([*current, *allergies], where="prefetch")
    family = HypersensitivityFamily(KNOWLEDGE, DrugIdentifier(KNOWLEDGE))
    return list(family.cards(builder.build()))


@pytest.mark.parametrize(
    ("substance", "summary"),
    [
        (  # by RxNorm ingredient
            {"coding": [{"system": RXNORM, "code": "21212", "display": "Clarithromycin"}]},
            "Allergy to Clarithromycin recorded: tacrolimus is a macrolide and should be avoided",
        ),
        (  # by ATC class alone
            {"coding": [{"system": ATC, "code": "J01FA"}]},
            "Allergy to a macrolide recorded: tacrolimus is a macrolide and should be avoided",
        ),
        (  # by its words alone
            {"text": "Macrolide antibiotics"},
            "Allergy to Macrolide antibiotics recorded: tacrolimus is a macrolide and should be avoided",
        ),
        ({"text": "Penicillin"}, None),
    ],
    ids=["ingredient", "class", "words", "penicillin"],
)
def test_the_family_made_here_knows_a_macrolide_by_ingredient_class_or_words(
    substance: dict[str, Any], summary: str | None
) -> None:
    found = family_cards(tacrolimus("d1", status="draft"), [allergy(substance)])
    assert [(c.indicator, c.summary) for c in found] == ([("critical", summary)] if summary else [])


def test_the_family_made_here_knows_an_allergy_to_the_vehicle() -> None:
    [card] = family_cards(IV, [allergy({"text": "castor oil"})])
    assert card.indicator == "critical"
    assert card.summary.startswith("Allergy to castor oil")


@pytest.mark.parametrize(("reaction", "expected"), [("Anaphylaxis", "critical"), ("Nausea", None)])
def test_the_family_made_here_reads_an_intolerance_s_reaction(reaction: str, expected: str | None) -> None:
    found = family_cards(tacrolimus("d1", status="draft"), [typed("intolerance", reaction)])
    assert [c.indicator for c in found] == ([expected] if expected else [])
