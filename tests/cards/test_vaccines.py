"""Scenario tests for the live-vaccine cards."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cards.drugs import DrugIdentifier
from cards.knowledge import load
from cards.vaccines import VaccineFamily
from cds.record import RecordBuilder
from tests.builders import PATIENT_ID, full_prefetch, hook_request, medication_request, tacrolimus
from tests.cards.test_site import only
from tests.clock import ago_date, ago_iso, now

CVX = "http://hl7.org/fhir/sid/cvx"
OSEL, OSIGN = "/cds-services/tacrolimus-order-select", "/cds-services/tacrolimus-order-sign"
VACCINES = load().vaccines
OVERRIDE = "urn:tacrolimus-cds:override-reason"  # the service's own code system for override reasons
# Non-live vaccines of the reference's section 3b, and CVX 206 (non-replicating smallpox/monkeypox)
NOT_LIVE_CVX = [
    "187",
    "140",
    "141",
    "150",
    "158",
    "161",
    "135",
    "197",
    "168",
    "205",
    "153",
    "171",
    "186",
    "320",
    "155",
    "185",
    "200",
    "201",
    "202",
    "231",
    "331",
    "10",
    "101",
    "172",
    "173",
    "134",
    "329",
    "303",
    "305",
    "326",
    "206",
]

# The live and replicating vaccines of the reference's section 3a (tacrolimus-knowledge.md, from the CDC
# CVX export), each written out here with the disease its CDC short description names (OPV: oral polio),
# so that a code deleted from (or added to) cards/knowledge/vaccines.json fails a test.
LIVE_CVX_OF_THE_REFERENCE = {
    "03": "MMR",
    "94": "MMRV",
    "04": "measles",
    "05": "measles",
    "06": "rubella",
    "07": "mumps",
    "38": "rubella",
    "21": "varicella",
    "121": "zoster",
    "37": "yellow fever",
    "183": "yellow fever",
    "19": "BCG",
    "25": "typhoid",
    "116": "rotavirus",
    "119": "rotavirus",
    "74": "rotavirus",
    "111": "influenza",
    "149": "influenza",
    "333": "influenza",
    "125": "H1N1",
    "75": "vaccinia",
    "105": "vaccinia",
    "174": "cholera",
    "02": "polio",
    "178": "polio",
    "179": "polio",
    "182": "polio",
    "56": "dengue",
    "317": "chikungunya",
    "204": "Ebola",
    "143": "adenovirus",
    "54": "adenovirus",
    "55": "adenovirus",
    "80": "VEE",
    "169": "hepatitis A",
}
# Its "unspecified formulation" codes: a softer card asking to check the product.
UNSPECIFIED_CVX_OF_THE_REFERENCE = {
    "151": "influenza",
    "122": "rotavirus",
    "184": "yellow fever",
    "188": "zoster",
    "88": "influenza",
    "89": "polio",
    "91": "typhoid",
    "26": "cholera",
    "82": "adenovirus",
    "214": "Ebola",
    "325": "vaccinia",
    "330": "dengue",
    "129": "Japanese encephalitis",
}


def vaccine_order(
    rid: str = "v1", code: str | None = None, text: str | None = None, kind: str = "MedicationRequest"
) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if code:
        concept["coding"] = [{"system": CVX, "code": code}]
    if text:
        concept["text"] = text
    if kind == "MedicationRequest":
        return {
            "resourceType": kind,
            "id": rid,
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": concept,
        }
    if kind == "ServiceRequest":
        return {
            "resourceType": kind,
            "id": rid,
            "status": "draft",
            "intent": "order",
            "code": concept,
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
        }
    return {
        "resourceType": "Immunization",
        "id": rid,
        "status": "not-done",
        "vaccineCode": concept,
        "patient": {"reference": f"Patient/{PATIENT_ID}"},
    }


def vaccine_cards(client: TestClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(path, content=orjson.dumps(body))
    assert response.status_code == 200, response.text
    return [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]


def order(
    client: TestClient, vaccine: dict[str, Any], medications: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    prefetch = full_prefetch([tacrolimus()] if medications is None else medications)
    return vaccine_cards(client, OSEL, hook_request("order-select", prefetch, drafts=[vaccine]))


def test_the_knowledge_holds_the_references_live_and_unspecified_codes_and_no_others() -> None:
    assert set(VACCINES.live) == set(LIVE_CVX_OF_THE_REFERENCE)
    assert set(VACCINES.unspecified) == set(UNSPECIFIED_CVX_OF_THE_REFERENCE)


@pytest.mark.parametrize(("code", "described"), list(LIVE_CVX_OF_THE_REFERENCE.items()))
def test_each_live_vaccine_of_the_reference_is_named_and_critical(
    client: TestClient, code: str, described: str
) -> None:
    [card] = order(client, vaccine_order(code=code))  # coded only: no text to recognise it by
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("Live vaccine (")
    assert described.lower() in card["summary"].lower()


@pytest.mark.parametrize("code", list(LIVE_CVX_OF_THE_REFERENCE))
def test_every_live_cvx_code_is_critical(client: TestClient, code: str) -> None:
    [card] = order(client, vaccine_order(code=code))
    assert card["indicator"] == "critical"
    assert card["summary"].startswith(f"Live vaccine ({VACCINES.live[code]}")
    assert card["summary"].endswith("for a patient on tacrolimus: avoid it")
    assert len(card["summary"]) < 140
    [remove] = card["suggestions"]
    assert remove["actions"] == [
        {
            "type": "delete",
            "description": f"Remove the draft order for {VACCINES.live[code]}",
            "resourceId": "MedicationRequest/v1",
        }
    ]
    assert remove["isRecommended"] is True


@pytest.mark.parametrize("code", NOT_LIVE_CVX)
def test_inactivated_and_recombinant_vaccines_never_fire(client: TestClient, code: str) -> None:
    assert order(client, vaccine_order(code=code, text="Zoster vaccine live")) == []  # the code decides


def test_cvx_codes_without_leading_zero(client: TestClient) -> None:
    [card] = order(client, vaccine_order(code="3"))
    assert "MMR" in card["summary"]


@pytest.mark.parametrize("code", list(UNSPECIFIED_CVX_OF_THE_REFERENCE))
def test_unspecified_formulations_ask_to_check_the_product(client: TestClient, code: str) -> None:
    [card] = order(client, vaccine_order(code=code))
    assert card["indicator"] == "warning"
    assert card["summary"].endswith("check it is not live")
    assert len(card["summary"]) < 140


def test_the_family_made_here_knows_an_unspecified_code_ending_in_zero() -> None:
    """CVX 330, dengue of unspecified formulation (the reference's section 3a): only leading zeros are
    stripped from a code. The family is made here: the services' own copy is built once per session."""
    knowledge = load()
    builder = RecordBuilder(
        hook="order-select", now=now(), patient_id=PATIENT_ID, selections=["MedicationRequest/v1"]
    )
    builder.add([vaccine_order(code="330")], where="draftOrders", draft=True)
    builder.add([tacrolimus()], where="prefetch")
    [card] = VaccineFamily(knowledge, DrugIdentifier(knowledge)).cards(builder.build())
    assert card.indicator == "warning"
    assert "dengue" in card.summary
    assert card.summary.endswith("check it is not live")


@pytest.mark.parametrize(
    ("text", "indicator"),
    [
        ("MMR vaccine live, 0.5 mL SC", "critical"),
        ("Varivax (varicella virus vaccine live)", "critical"),
        ("Yellow fever vaccine", "critical"),
        ("FluMist Quadrivalent nasal spray", "critical"),
        ("Vivotif oral typhoid capsules", "critical"),
        ("BCG vaccine", "critical"),
        ("Rotarix oral suspension", "critical"),
        ("Typhoid vaccine", "warning"),
        ("Dengue vaccine", "warning"),
        ("Smallpox vaccine", "warning"),
    ],
)
def test_vaccines_known_by_name_only(client: TestClient, text: str, indicator: str) -> None:
    [card] = order(client, vaccine_order(text=text))
    assert card["indicator"] == indicator
    kind = "Live vaccine" if indicator == "critical" else "Unspecified vaccine"
    assert card["summary"].startswith(f"{kind} ({text.split()[0]}")  # named as the order names it


@pytest.mark.parametrize("first", [True, False])
def test_a_live_name_is_found_whichever_name_carries_it(client: TestClient, first: bool) -> None:
    """The text and each coding's display are names of one order: the live name may be any of them."""
    local = {"system": "urn:oid:1.2.3.4", "code": "V-17", "display": "Dose 1 of 2"}
    live = {"system": "urn:oid:1.2.3.4", "code": "V-18", "display": "Varivax"}
    draft = vaccine_order()
    draft["medicationCodeableConcept"] = {"coding": [live, local] if first else [local, live]}
    [card] = order(client, draft)
    assert card["indicator"] == "critical"


@pytest.mark.parametrize(
    "text",
    [
        "Shingrix (zoster vaccine recombinant, adjuvanted)",
        "Influenza vaccine, inactivated, quadrivalent",
        "Varicella zoster immune globulin",
        "Typhoid Vi polysaccharide vaccine",
        "JYNNEOS smallpox and monkeypox vaccine",
        "IPV polio vaccine",
        "Pneumococcal conjugate vaccine",
        "Amoxicillin 500 MG Oral Capsule",
    ],
)
def test_not_live_by_name_never_fires(client: TestClient, text: str) -> None:
    assert order(client, vaccine_order(text=text)) == []


@pytest.mark.parametrize("kind", ["ServiceRequest", "Immunization"])
def test_vaccines_ordered_as_service_requests_or_immunizations(client: TestClient, kind: str) -> None:
    [card] = order(client, vaccine_order(code="21", kind=kind))
    assert card["suggestions"][0]["actions"][0]["resourceId"] == f"{kind}/v1"


def test_nothing_for_a_patient_not_on_tacrolimus(client: TestClient) -> None:
    assert (
        order(client, vaccine_order(code="03"), medications=[medication_request("m1", "Amlodipine 5 MG")])
        == []
    )


def test_nothing_for_topical_tacrolimus(client: TestClient) -> None:
    protopic = medication_request("t1", "Protopic 0.1% Topical Ointment")
    assert order(client, vaccine_order(code="03"), medications=[protopic]) == []


def test_a_patient_being_started_on_tacrolimus(client: TestClient) -> None:
    drafts = [tacrolimus("d1", status="draft"), vaccine_order(code="03")]
    body = hook_request("order-select", full_prefetch(), drafts=drafts, selections=["MedicationRequest/d1"])
    [card] = vaccine_cards(client, OSEL, body)
    assert "for a patient starting tacrolimus" in card["summary"]


def test_an_unselected_vaccine_draft_is_context(client: TestClient) -> None:
    drafts = [vaccine_order(code="03"), medication_request("d2", "Amoxicillin 500 MG", status="draft")]
    body = hook_request(
        "order-select", full_prefetch([tacrolimus()]), drafts=drafts, selections=["MedicationRequest/d2"]
    )
    assert vaccine_cards(client, OSEL, body) == []


def test_order_sign_checks_every_draft(client: TestClient) -> None:
    drafts = [vaccine_order("v1", code="03"), vaccine_order("v2", code="187")]
    [card] = vaccine_cards(
        client, OSIGN, hook_request("order-sign", full_prefetch([tacrolimus()]), drafts=drafts)
    )
    assert card["suggestions"][0]["actions"][0]["resourceId"] == "MedicationRequest/v1"


def given(code: str, date: str, rid: str = "i1") -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "id": rid,
        "status": "completed",
        "vaccineCode": {"coding": [{"system": CVX, "code": code}]},
        "occurrenceDateTime": date,
    }


def starting(
    client: TestClient, immunizations: list[dict[str, Any]], medications: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    prefetch = full_prefetch(list(medications))
    prefetch["immunizations"] = {"resourceType": "Bundle", "entry": [{"resource": i} for i in immunizations]}
    return vaccine_cards(
        client, OSEL, hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    )


def test_starting_tacrolimus_soon_after_a_live_vaccine(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    twenty_days_ago = ago_date(20)
    [card] = starting(client, [given("03", twenty_days_ago)])
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Live vaccine (MMR) given ")
    assert "at least 4 weeks before immunosuppression" in card["detail"]
    assert "IDSA" in card["detail"]


# The 2013 IDSA guideline (vaccines.json's interval text, cited on the card): live vaccines "at least 4 weeks
# before immunosuppression" and "avoided within 2 weeks of starting it". Given 27 days before a tacrolimus
# start is too soon, 28 days (4 weeks) is not; given 13 days before is within the 2 weeks to be avoided
# (critical: the verb is avoid), 14 days is not (warning: the 4-week advice).
@pytest.mark.parametrize(
    ("days", "given_when", "indicator"),
    [
        (0, "today", "critical"),
        (1, "1 day ago", "critical"),
        (13, "13 days ago", "critical"),
        (14, "14 days ago", "warning"),
        (27, "27 days ago", "warning"),
        (28, "", None),
        (29, "", None),
    ],
)
def test_the_two_and_four_week_intervals_after_a_live_vaccine_on_both_sides_of_their_edges(
    client: TestClient, days: int, given_when: str, indicator: str | None
) -> None:
    found = starting(client, [given("21", ago_iso(days))])  # an instant: a date alone is read at UTC midnight
    if indicator is None:
        assert found == []
        return
    [card] = found
    assert card["indicator"] == indicator
    if indicator == "critical":
        # IDSA advises on the vaccine's timing, never on delaying immunosuppression: the card says the risk,
        # and to discuss the timing only where the start can safely wait
        assert card["summary"] == (
            f"Live vaccine (varicella) given {given_when}: vaccine-strain infection risk on tacrolimus"
        )
        assert "Watch for infection from the vaccine strain." in card["detail"]
        assert "If the start can safely wait (an elective start, not at transplant)" in card["detail"]
    else:
        assert card["summary"] == f"Live vaccine (varicella) given {given_when}: too soon to start tacrolimus"
        assert "Discuss the timing of tacrolimus" in card["detail"]
    assert "avoided within 2 weeks of starting it (2013 IDSA guideline)" in card["detail"]


def test_a_live_vaccine_dated_after_today_is_not_a_vaccine_given(client: TestClient) -> None:
    assert starting(client, [given("21", ago_date(-1))]) == []


def test_no_timing_card_for_old_or_inactivated_vaccines_or_patients_already_on_tacrolimus(
    client: TestClient,
) -> None:
    long_ago = ago_date(40)
    recent = ago_date(5)
    assert starting(client, [given("03", long_ago)]) == []
    assert starting(client, [given("187", recent)]) == []
    assert starting(client, [given("03", recent)], medications=[tacrolimus()]) == []


def test_every_summary_template_fits_the_longest_label() -> None:
    for text in VACCINES.cards.values():
        summary = (
            text.summary.replace("{vaccine}", "x" * 60)
            .replace("{on}", "starting")
            .replace("{days}", "27 days ago")
        )
        assert len(summary) < 140, text.summary


def test_long_names_are_cut_at_a_word() -> None:
    from cards.text import clip

    name = "Measles, mumps and rubella virus vaccine live, lyophilized powder for suspension"
    assert clip(name) == "Measles, mumps and rubella virus vaccine live, lyophilized…"
    assert len(clip(name)) <= 60


# Reference section 10: UK live vaccines by product name (and dm+d/SNOMED codings whose display names the
# product); Shingrix, Dukoral, Typhim Vi, Imvanex/Jynneos and inactivated influenza are not live.
UK_LIVE = [
    "M-M-RvaxPro powder and solvent for suspension for injection",
    "Priorix powder and solvent for solution for injection",
    "ProQuad",
    "Priorix-Tetra",
    "Varilrix",
    "Varivax",
    "Zostavax",
    "Fluenz nasal spray suspension",
    "Fluenz Tetra nasal spray suspension",
    "Vivotif gastro-resistant capsules",
    "Stamaril",
    "BCG Vaccine AJV",
    "Rotarix oral suspension",
    "Qdenga powder and solvent for solution for injection",
    "Dengvaxia",
    "Vaxchora",
    "Ixchiq",
    "ACAM2000",
]


@pytest.mark.parametrize("text", UK_LIVE)
def test_uk_live_vaccines_by_product_name(client: TestClient, text: str) -> None:
    [card] = order(client, vaccine_order(text=text))
    assert card["indicator"] == "critical"


@pytest.mark.parametrize("system", ["https://dmd.nhs.uk", "http://snomed.info/sct"])
def test_a_dmd_or_snomed_coding_whose_display_names_the_product(client: TestClient, system: str) -> None:
    draft = vaccine_order()
    draft["medicationCodeableConcept"] = {"coding": [{"system": system, "display": "M-M-RvaxPro vaccine"}]}
    [card] = order(client, draft)
    assert card["indicator"] == "critical"


@pytest.mark.parametrize(
    "text",
    [
        "Shingrix powder and suspension for suspension for injection",
        "Dukoral oral suspension and effervescent granules",
        "Typhim Vi solution for injection",
        "Imvanex suspension for injection",
        "Jynneos",
        "Quadrivalent influenza vaccine (split virion, inactivated)",
    ],
)
def test_uk_vaccines_that_are_not_live_stay_quiet(client: TestClient, text: str) -> None:
    assert order(client, vaccine_order(text=text)) == []


# What was found by make mutants (docs/mutants-report.md): each test below fails on a mutant that survived.


def test_the_live_vaccine_card_offers_its_override_reasons_and_removal(client: TestClient) -> None:
    [card] = order(client, vaccine_order(code="03"))
    assert card["overrideReasons"] == [
        {
            "system": OVERRIDE,
            "code": "specialist-approved",
            "display": "Approved by the transplant or infectious diseases specialist",
        },
        {"system": OVERRIDE, "code": "not-live", "display": "The product ordered is not a live vaccine"},
    ]
    assert [s["label"] for s in card["suggestions"]] == ["Remove the vaccine order"]


def test_a_draft_without_an_id_is_announced_but_offers_no_removal(client: TestClient) -> None:
    draft = vaccine_order(code="03")
    del draft["id"]  # nothing to name in a delete action (order-sign: every draft is being signed)
    body = hook_request("order-sign", full_prefetch([tacrolimus()]), drafts=[draft], selections=[])
    [card] = vaccine_cards(client, OSIGN, body)
    assert card["indicator"] == "critical"
    assert "suggestions" not in card


def test_a_vaccine_recorded_as_not_given_does_not_delay_tacrolimus(client: TestClient) -> None:
    not_given = {**given("03", ago_iso(5)), "status": "not-done"}
    assert starting(client, [not_given]) == []
    dstu2 = {**given("03", ago_iso(5)), "wasNotGiven": True}
    assert starting(client, [dstu2]) == []


def test_every_immunization_is_read_past_one_that_does_not_count(client: TestClient) -> None:
    not_given = {**given("03", ago_iso(5), rid="i1"), "status": "not-done"}
    undated = {
        "resourceType": "Immunization",
        "id": "i2",
        "status": "completed",
        "vaccineCode": {"text": "MMR"},
    }
    [card] = starting(client, [not_given, undated, given("21", ago_iso(16), rid="i3")])
    assert card["summary"] == "Live vaccine (varicella) given 16 days ago: too soon to start tacrolimus"


def test_the_vaccine_family_on_its_own_finds_the_therapy(tmp_path: Path) -> None:
    """With every other family off (a site file), the vaccine family reads the therapy itself."""
    with only("vaccines", tmp_path) as alone:
        [card] = order(alone, vaccine_order(code="03"))
    assert card["indicator"] == "critical"
