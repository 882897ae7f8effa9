"""Scenario tests for the starting-dose and formulation-switch cards.

Expected figures are worked out here from the sources: US Prograf label table (reference section 8, e.g.
adult kidney with mycophenolate 0.1 mg/kg/day every 12 hours), older US label intravenous infusion
0.03-0.05 mg/kg/day (kidney, liver) and 0.01 (heart), Envarsus 0.14 mg/kg/day once daily de novo and
conversion at about 80%, Advagraf/Astagraf 1:1, the colitis summary's 0.05 mg/kg/day in two doses, CPIC
1.5-2x capped at 0.3 mg/kg/day; capsules of 0.5, 1 and 5 mg, Envarsus tablets of 0.75, 1 and 4 mg.
"""

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.builders import (
    LOINC,
    PATIENT_ID,
    RXNORM,
    bundle,
    full_prefetch,
    hook_request,
    medication_request,
    observation,
    of_topic,
)
from tests.cards.test_site import only
from tests.clock import ago

OSEL = "/cds-services/tacrolimus-order-select"
PV = "/cds-services/tacrolimus-patient-view"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
IR = "Tacrolimus 1 MG Oral Capsule"
IV = "Tacrolimus 5 MG/ML Injection"
ENVARSUS = "Envarsus XR 4 MG 24 HR Extended Release Oral Tablet"
ADVAGRAF = "Advagraf 1 mg prolonged-release hard capsules"


def order(
    mg: float | None = None,
    per_day: int = 2,
    text: str = IR,
    rid: str = "d1",
    status: str = "draft",
    unit: str = "mg",
    **extra: Any,
) -> dict[str, Any]:
    if mg is not None:
        extra["dosageInstruction"] = [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": mg, "unit": unit}}],
            }
        ]
    return medication_request(rid, text, status=status, **extra)


def post(client: TestClient, request: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(OSEL, content=orjson.dumps(request))
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def order_cards(
    client: TestClient,
    draft: dict[str, Any],
    condition: str | list[str] | None = "Z94.0",
    weight: tuple[float, str] | None = (70, "kg"),
    medications: list[dict[str, Any]] = (),  # type: ignore[assignment]
    birth: str = "1970-01-01",
    extra_observations: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> list[dict[str, Any]]:
    prefetch = full_prefetch(list(medications))
    prefetch["patient"] = {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": birth}
    if condition:
        codes = [condition] if isinstance(condition, str) else condition
        prefetch["conditions"] = bundle(
            [
                {
                    "resourceType": "Condition",
                    "id": f"c{n}",
                    "code": {"coding": [{"system": ICD, "code": code}]},
                }
                for n, code in enumerate(codes)
            ]
        )
    observations = list(extra_observations)
    if weight:
        observations.append(observation("w1", "29463-7", weight[0], weight[1], "2026-11-20"))
    prefetch["observations"] = bundle(observations)
    return post(client, hook_request("order-select", prefetch, drafts=[draft]))


def dosing_cards(
    client: TestClient, draft: dict[str, Any], *args: Any, **kwargs: Any
) -> list[dict[str, Any]]:
    return of_topic(order_cards(client, draft, *args, **kwargs), "dosing")


MMF = medication_request("m2", "Mycophenolate mofetil 500 MG Oral Tablet")
AZA = medication_request("m2", "Azathioprine 50 MG Oral Tablet")


@pytest.mark.parametrize(
    ("condition", "meds", "birth", "expected"),
    [
        ("Z94.0", [AZA], "1970-01-01", "14 mg/day"),  # adult kidney + azathioprine 0.2
        ("Z94.0", [MMF], "1970-01-01", "7 mg/day"),  # adult kidney + mycophenolate 0.1
        ("Z94.4", [], "1970-01-01", "7 to 10.5 mg/day"),  # adult liver 0.10-0.15
        ("Z94.1", [], "1970-01-01", "5.25 mg/day"),  # adult heart 0.075
        ("Z94.2", [], "1970-01-01", "5.25 mg/day"),  # adult lung 0.075
        ("Z94.0", [], "2015-01-01", "21 mg/day"),  # child kidney 0.3
        ("Z94.4", [], "2015-01-01", "10.5 to 14 mg/day"),  # child liver 0.15-0.2
        ("Z94.1", [], "2015-01-01", "21 mg/day"),  # child heart 0.3
        ("Z94.2", [], "2015-01-01", "21 mg/day"),  # child lung 0.3
    ],
)
def test_immediate_release_starting_dose_for_each_label_row(
    client: TestClient, condition: str, meds: list[dict[str, Any]], birth: str, expected: str
) -> None:
    [card] = dosing_cards(client, order(), condition, medications=meds, birth=birth)
    assert f"US label dose {expected} for 70 kg" in card["summary"]
    assert "immediate-release" in card["summary"]


def test_the_arithmetic_is_shown_and_the_order_compared(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=3.5), medications=[MMF])
    assert "70 kg x 0.1 mg/kg/day = 7 mg/day, 3.5 mg every 12 hours" in card["detail"]
    assert "Ordered: 3.5 mg every 12 hours = 7 mg/day (0.1 mg/kg/day): within the range." in card["detail"]
    assert card["indicator"] == "info"


def test_a_capsule_count_is_read_with_the_product_strength(client: TestClient) -> None:
    [card] = dosing_cards(
        client, order(mg=3, unit="capsule", text="Tacrolimus 1 MG Oral Capsule"), "Z94.0", medications=[MMF]
    )
    assert "Ordered: 3 mg every 12 hours = 6 mg/day" in card["detail"]


# -- rounding: 62 kg liver, 0.1 to 0.15 mg/kg/day = 6.2 to 9.3 mg/day = 3.1 to 4.65 mg every 12 hours; with
#    0.5 mg steps the orderable range is 3 to 5 mg every 12 hours (6 to 10 mg/day).
@pytest.mark.parametrize(
    ("each", "where", "indicator"),
    [
        (2.5, "below", "info"),
        (3, "within", "info"),
        (5, "within", "info"),  # 10 mg/day: 7.5 % over 9.3, and the next capsule step
        (5.5, "above", "warning"),
    ],
)
def test_above_and_below_are_judged_with_the_doses_capsules_make_up(
    client: TestClient, each: float, where: str, indicator: str
) -> None:
    [card] = dosing_cards(client, order(mg=each), "Z94.4", weight=(62, "kg"))
    assert f"{where} the range" in card["detail"]
    assert card["indicator"] == indicator
    assert (
        "Orderable with 0.5, 1 and 5 mg capsules: 3 to 5 mg every 12 hours, 6 to 10 mg/day" in card["detail"]
    )


def test_above_the_range_says_so_in_the_summary(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=5.5), "Z94.4", weight=(62, "kg"))
    assert card["summary"].startswith(
        "Starting immediate-release tacrolimus for liver transplant: 11 mg/day ordered"
    )


# -- intravenous: never the oral row
def iv_order(mg_per_day: float) -> dict[str, Any]:
    return order(mg=mg_per_day, per_day=1, text=IV)


def test_an_in_range_intravenous_infusion_is_judged_against_the_infusion_row(client: TestClient) -> None:
    # liver, 70 kg x 0.03 to 0.05 = 2.1 to 3.5 mg/day
    [card] = dosing_cards(client, iv_order(3), "Z94.4")
    assert card["indicator"] == "info"
    assert "intravenous" in card["summary"]
    assert "2.1 to 3.5 mg/day" in card["summary"]
    assert "within the range" in card["detail"]
    assert "below" not in card["detail"]


def test_an_oral_sized_dose_given_intravenously_is_above_the_infusion_range(client: TestClient) -> None:
    # 7 mg/day would be the oral kidney row; by infusion it is twice the 3.5 mg/day top of 0.05 mg/kg/day
    [card] = dosing_cards(client, iv_order(7), "Z94.4")
    assert card["indicator"] == "warning"
    assert "above" in card["summary"]


def test_intravenous_by_route_code_and_by_rate(client: TestClient) -> None:
    draft = medication_request(
        "d1",
        "Tacrolimus",
        status="draft",
        dosageInstruction=[
            {
                "route": {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]},
                "doseAndRate": [{"rateQuantity": {"value": 0.125, "unit": "mg/h"}}],
            }
        ],
    )
    [card] = dosing_cards(client, draft, "Z94.0")  # kidney 2.1 to 3.5; 0.125 mg/h = 3 mg/day
    assert "Ordered: 0.125 mg/h = 3 mg/day" in card["detail"]
    assert "within the range" in card["detail"]


def test_heart_intravenous_row(client: TestClient) -> None:
    [card] = dosing_cards(client, iv_order(0.7), "Z94.1")  # 70 kg x 0.01
    assert "0.7 mg/day" in card["summary"]
    assert "within the range" in card["detail"]


# -- prolonged-release, once daily
def test_de_novo_envarsus_at_its_own_dose_is_within_its_row(client: TestClient) -> None:
    # 70 kg x 0.14 = 9.8 mg/day; tablets of 0.75, 1 and 4 mg make 9.75 or 10 mg
    [card] = dosing_cards(client, order(mg=10, per_day=1, text=ENVARSUS), "Z94.0")
    assert card["indicator"] == "info"
    assert "Envarsus" in card["summary"]
    assert "9.8 mg/day" in card["summary"]
    assert "within the range" in card["detail"]
    assert "every 12 hours" not in card["detail"]
    assert "not verified" in card["detail"]  # the Envarsus figure is status P in the reference


def test_envarsus_well_above_its_row_warns(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=11, per_day=1, text=ENVARSUS), "Z94.0")
    assert card["indicator"] == "warning"


def test_advagraf_de_novo_is_shown_and_not_judged(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=7, per_day=1, text=ADVAGRAF), "Z94.0", medications=[MMF])
    assert card["indicator"] == "info"
    assert "not checked" in card["summary"]
    assert "Ordered: 7 mg once daily = 7 mg/day." in card["detail"]
    assert "within" not in card["detail"]
    assert "above" not in card["detail"]


def test_a_product_not_stated_is_not_judged(client: TestClient) -> None:
    draft = order(mg=3.5, text="Tacrolimus")
    [card] = dosing_cards(client, draft, "Z94.0", medications=[MMF])
    assert "product not stated" in card["summary"]
    assert "within" not in card["detail"]


def test_immediate_release_ordered_once_daily_warns(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=7, per_day=1), "Z94.0", medications=[MMF])
    assert card["indicator"] == "warning"
    assert (
        card["summary"]
        == "Tacrolimus ordered once daily: immediate-release tacrolimus is given every 12 hours"
    )


def test_prolonged_release_ordered_once_daily_does_not_warn_for_frequency(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=10, per_day=1, text=ENVARSUS), "Z94.0")
    assert "is given" not in card["detail"]


# -- what cannot be computed
def test_weight_in_pounds(client: TestClient) -> None:
    [card] = dosing_cards(client, order(), "Z94.4", weight=(154, "[lb_av]"))
    assert "154 lb = 69.9 kg" in card["detail"]


def test_no_weight_says_what_is_needed(client: TestClient) -> None:
    [card] = dosing_cards(client, order(), "Z94.4", weight=None)
    assert (
        card["summary"]
        == "Starting tacrolimus for liver transplant: no body weight on record, dose not checked"
    )
    assert "record a weight" in card["detail"]
    assert "0.1 to 0.15 mg/kg/day" in card["detail"]


def test_kidney_without_a_known_regimen_gives_both_rows(client: TestClient) -> None:
    [card] = dosing_cards(client, order(), "Z94.0")
    assert (
        card["summary"]
        == "Starting tacrolimus for kidney transplant: the label dose depends on the regimen, not recorded"
    )
    # the label's two kidney rows, 0.2 with azathioprine and 0.1 with mycophenolate, for 70 kg
    assert detail_lines(card) == [
        "US label, kidney transplant: 0.2 mg/kg/day with azathioprine; 0.1 mg/kg/day with mycophenolate."
        " Record the regimen to check the dose.",
        "For 70 kg (2026-11-20): 14 mg/day with azathioprine; 7 mg/day with mycophenolate.",
        "The order's daily dose could not be read (a dose in mg and a frequency are needed).",
        "Then adjust the dose to trough levels.",
    ]


def test_no_indication_and_no_genotype_gives_no_dose_card(client: TestClient) -> None:
    assert dosing_cards(client, order(), None) == []


# -- CYP3A5
def genotype(
    text: str,
    rid: str = "g1",
    gene: str | None = None,
    days_ago: float | None = None,
    code: dict[str, Any] | None = None,
    value: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A genotype result (LOINC 84413-4): the diplotype as text, or `value`; with `gene`, the gene studied
    as a component (LOINC 48018-6) coded by its HGNC id only, as the genomics reporting guide writes it."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": code or {"coding": [{"system": LOINC, "code": "84413-4"}]},
        "valueCodeableConcept": value or {"text": text},
    }
    if gene is not None:
        resource["component"] = [
            {
                "code": {"coding": [{"system": LOINC, "code": "48018-6"}]},
                "valueCodeableConcept": {"coding": [{"system": "http://www.genenames.org", "code": gene}]},
            }
        ]
    if days_ago is not None:
        resource["effectiveDateTime"] = ago(days_ago).isoformat()
    return resource


CYP3A5_HGNC, CYP2C19_HGNC = "HGNC:2638", "HGNC:2621"  # the genes' HGNC ids (reference section 6)
NORMAL_CPIC = (
    "CYP3A5 normal metabolizer (expresser): CPIC recommends a starting dose 1.5 to 2 times the usual, not"
    " above 0.3 mg/kg/day, then dosing by levels."
)
POOR_CPIC = (
    "CYP3A5 poor metabolizer (non-expresser): CPIC recommends the usual starting dose, then dosing by levels."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CYP3A5 *1/*1", "10.5 to 14 mg/day"),
        ("CYP3A5 *1/*3", "10.5 to 14 mg/day"),
        ("CYP3A5 *3/*3", "7 mg/day"),
    ],
)
def test_cyp3a5_phenotypes(client: TestClient, text: str, expected: str) -> None:
    [card] = dosing_cards(client, order(), "Z94.0", medications=[MMF], extra_observations=[genotype(text)])
    assert f"dose {expected} for 70 kg" in card["summary"]
    assert "CPIC guideline" in card["detail"]


def test_cpic_cap_of_0_3_mg_per_kg(client: TestClient) -> None:
    [card] = dosing_cards(
        client, order(), "Z94.0", medications=[AZA], extra_observations=[genotype("CYP3A5 *1/*1")]
    )
    assert "CPIC-adjusted dose 21 mg/day for 70 kg" in card["summary"]  # 0.3 mg/kg/day, not 0.4


@pytest.mark.parametrize(
    ("condition", "medications", "weight"),
    [("Z94.0", [], (70, "kg")), ("Z94.4", [], None)],
    ids=["regimen-unknown", "no-weight"],
)
def test_a_cyp3a5_expresser_is_named_even_when_no_dose_is_computed(
    client: TestClient, condition: str, medications: list[dict[str, Any]], weight: tuple[float, str] | None
) -> None:
    [card] = dosing_cards(
        client,
        order(),
        condition,
        weight=weight,
        medications=medications,
        extra_observations=[genotype("CYP3A5 *1/*3")],
    )
    assert "CYP3A5 *1/*3" in card["detail"]
    assert "1.5 to 2 times the usual" in card["detail"]


def test_cpic_is_not_applied_to_colitis_and_says_why(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=1.75), "K51.90", extra_observations=[genotype("CYP3A5 *1/*1")])
    assert "3.5 mg/day" in card["summary"]  # 0.05 mg/kg/day, not 1.5-2x
    assert "CPIC" not in card["summary"]
    assert detail_lines(card)[1] == (
        "CYP3A5 *1/*1 recorded: CPIC's guideline is for transplant recipients; its adjustment is not applied"
        " to ulcerative colitis."
    )


def test_phenotype_from_a_therapeutic_implication(client: TestClient) -> None:
    implication = {
        "resourceType": "Observation",
        "id": "t1",
        "status": "final",
        "code": {"text": "Therapeutic implication"},
        "component": [
            {"code": {"text": "gene"}, "valueCodeableConcept": {"text": "CYP3A5"}},
            {
                "code": {"text": "phenotype"},
                "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA9657-3"}]},
            },
        ],
    }
    [card] = dosing_cards(client, order(), "Z94.0", medications=[MMF], extra_observations=[implication])
    assert "CYP3A5 poor metabolizer" in card["detail"]


# -- colitis
def test_colitis_dose_is_the_summarys_not_a_label(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=1.75), "K51.90")
    assert "UC summary dose 3.5 mg/day for 70 kg" in card["summary"]
    assert "label" not in card["summary"].lower()
    assert card["source"]["label"] == "Online Q&A summary on tacrolimus in acute severe UC (cites ECCO)"
    assert "droracle.ai" in card["source"]["url"]


def test_hepatic_impairment_note(client: TestClient) -> None:
    [card] = dosing_cards(client, order(), ["Z94.4", "K72.10"])
    assert detail_lines(card)[-2:] == [
        "Hepatic impairment is recorded: dosage reduction may be necessary.",
        "Then adjust the dose to trough levels.",
    ]
    [card] = dosing_cards(client, order(), "Z94.4")
    assert "Hepatic impairment" not in card["detail"]


def test_no_line_is_repeated_in_a_dose_card(client: TestClient) -> None:
    for draft, condition in ((order(mg=3.5), "Z94.0"), (iv_order(3), "Z94.4"), (order(mg=1.75), "K51.90")):
        for card in dosing_cards(client, draft, condition, medications=[MMF]):
            lines = [line for line in card["detail"].splitlines() if line.startswith("- ")]
            assert len(lines) == len(set(lines)), card["detail"]
            assert card["detail"].count("adjust the dose to trough levels") == 1


# -- switching formulation
def switch_cards(client: TestClient, draft: dict[str, Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    return of_topic(
        order_cards(client, draft, "Z94.0", medications=[current, MMF]), "formulation-switch", "dosing"
    )


PROGRAF_3_BID = order(mg=3, text="Tacrolimus 1 MG Oral Capsule [Prograf]", rid="t0", status="active")


def test_switch_to_envarsus_gives_the_conversion_and_asks_for_a_trough(client: TestClient) -> None:
    [card] = switch_cards(client, order(mg=5, per_day=1, text=ENVARSUS), PROGRAF_3_BID)
    assert card["source"]["topic"]["code"] == "formulation-switch"
    assert card["indicator"] == "warning"
    assert "not interchangeable" in card["summary"]
    assert "about 80%" in card["detail"]
    # whose figure it is: the Envarsus label (US), read through a secondary summary
    assert "(the Envarsus XR US label, as summarised by a secondary source; not verified" in card["detail"]
    # 3 mg every 12 hours = 6 mg/day; 80% = 4.8 mg; Envarsus tablets make 4.75 or 5 mg
    assert "about 4.8 mg once daily (orderable: 4.75 mg or 5 mg)" in card["detail"]
    assert "Recheck the trough" in card["detail"]
    assert any(s["label"] == "Order a tacrolimus level" for s in card["suggestions"])


def test_switch_to_advagraf_is_one_to_one(client: TestClient) -> None:
    [card] = switch_cards(client, order(mg=6, per_day=1, text=ADVAGRAF), PROGRAF_3_BID)
    assert "1:1" in card["detail"]
    assert "about 6 mg once daily" in card["detail"]


def test_switch_back_to_immediate_release_gives_no_conversion_figure(client: TestClient) -> None:
    current = order(mg=5, per_day=1, text=ENVARSUS, rid="t0", status="active")
    [card] = switch_cards(client, order(mg=3), current)
    assert card["source"]["topic"]["code"] == "formulation-switch"
    assert "80%" not in card["detail"]


@pytest.mark.parametrize(
    "draft",
    [order(mg=4), order(mg=1, unit="capsule", text="Prograf 1 mg capsules"), order(mg=2, text="Tacrolimus")],
    ids=["dose-change", "renewal-by-brand", "product-not-stated"],
)
def test_a_renewal_or_dose_change_of_the_same_product_gives_no_dose_card(
    client: TestClient, draft: dict[str, Any]
) -> None:
    assert switch_cards(client, draft, PROGRAF_3_BID) == []


def test_oral_after_intravenous_is_judged_against_the_oral_row(client: TestClient) -> None:
    current = order(mg=3, per_day=1, text=IV, rid="t0", status="active")
    [card] = switch_cards(client, order(mg=3.5), current)
    assert card["source"]["topic"]["code"] == "dosing"
    assert "The patient is on tacrolimus intravenous now." in card["detail"]
    assert "7 mg/day" in card["summary"]


def test_intravenous_for_a_patient_on_oral_tacrolimus_is_not_judged_against_the_de_novo_row(
    client: TestClient,
) -> None:
    # the older label's 0.03 to 0.05 mg/kg/day is for starting tacrolimus; no source gives the conversion
    [card] = switch_cards(client, iv_order(7), PROGRAF_3_BID)
    assert card["indicator"] == "info"
    assert "by mouth to an infusion" in card["summary"]
    assert "not judged" in card["summary"]
    assert "above" not in card["summary"]
    assert "The patient is on tacrolimus by mouth now." in card["detail"]
    assert "Ordered: 7 mg" in card["detail"]


def test_nothing_for_topical_tacrolimus_or_other_drugs(client: TestClient) -> None:
    assert dosing_cards(client, order(text="Protopic 0.1% Topical Ointment"), "Z94.0") == []
    assert dosing_cards(client, order(text="Amoxicillin 500 MG"), "Z94.0") == []


def test_cpic_is_not_applied_to_a_liver_transplant_and_says_why(client: TestClient) -> None:
    # CPIC's dose adjustment is for the recipient's genotype in kidney, heart and lung; in a liver
    # recipient the donor liver's genotype matters, and only the recipient's is on record
    [card] = dosing_cards(client, order(), "Z94.4", extra_observations=[genotype("CYP3A5 *1/*1")])
    assert "US label dose 7 to 10.5 mg/day for 70 kg" in card["summary"]  # 0.10-0.15, not 1.5-2x
    assert "CPIC" not in card["summary"]
    assert detail_lines(card)[1] == (
        f"CYP3A5 *1/*1 (the recipient's): {NORMAL_CPIC} Not applied to a liver transplant: the donor liver's"
        " genotype matters there, and only the recipient's is on record."
    )


# -- two products ordered at once (patient-view)
def patient_view(client: TestClient, prefetch: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch)))
    assert response.status_code == 200, response.text
    return of_topic(response.json()["cards"], "formulation-switch")


def patient_view_switch_cards(client: TestClient, *medications: dict[str, Any]) -> list[dict[str, Any]]:
    return patient_view(client, full_prefetch(list(medications)))


def test_two_products_ordered_at_once_are_flagged_on_patient_view(client: TestClient) -> None:
    # SmPC 4.4: substitution between immediate- and prolonged-release has caused rejection and toxicity
    envarsus = order(mg=5, per_day=1, text=ENVARSUS, rid="t1", status="active")
    [card] = patient_view_switch_cards(client, PROGRAF_3_BID, envarsus)
    assert card["indicator"] == "warning"
    assert card["summary"].startswith(
        "Two tacrolimus products ordered: immediate-release tacrolimus and Envarsus"
    )
    assert "check which one the patient takes" in card["summary"]
    assert len(card["summary"]) < 140


@pytest.mark.parametrize(
    "second",
    [
        order(mg=0.2, text="Tacrolimus 0.2 mg granules for oral suspension", rid="t1", status="active"),
        order(mg=1, text="Tacrolimus 1 MG Oral Capsule", rid="t1", status="active"),  # the same product
        order(mg=5, per_day=1, text=ENVARSUS, rid="t1", status="stopped"),  # no longer current
    ],
    ids=["capsules-and-granules", "two-capsule-orders", "stopped"],
)
def test_no_concurrent_card_for_the_same_immediate_release_or_a_stopped_order(
    client: TestClient, second: dict[str, Any]
) -> None:
    assert patient_view_switch_cards(client, PROGRAF_3_BID, second) == []


def test_a_medication_statement_is_not_an_order(client: TestClient) -> None:
    envarsus = order(mg=5, per_day=1, text=ENVARSUS, rid="s1", status="active")
    envarsus["resourceType"] = "MedicationStatement"
    prefetch = full_prefetch([PROGRAF_3_BID])
    prefetch["medicationStatements"] = bundle([envarsus])
    assert patient_view(client, prefetch) == []


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_two_products_in_one_order_are_flagged_and_neither_dose_judged(client: TestClient, hook: str) -> None:
    # a double dose is stopped at signing: Prograf twice daily and Advagraf once daily drafted together
    prograf = order(mg=2, text="Prograf 1 mg capsules", rid="d1")
    advagraf = order(mg=5, per_day=1, text=ADVAGRAF, rid="d2")
    prefetch = full_prefetch()
    body = hook_request(hook, prefetch, drafts=[prograf, advagraf])
    if hook == "order-select":  # only one is being selected: the other is in the same order
        body["context"]["selections"] = ["MedicationRequest/d2"]
    response = client.post(f"/cds-services/tacrolimus-{hook}", content=orjson.dumps(body))
    found = of_topic(response.json()["cards"], "formulation-switch", "dosing")
    [card] = found
    assert card["indicator"] == "warning"
    assert card["summary"] == (
        "Two tacrolimus products in this order: immediate-release tacrolimus and Advagraf / Astagraf XL"
        " prolonged-release: order one"
    )
    assert (
        detail_lines(card)[0]
        == "Ordered: Prograf 1 mg capsules; Advagraf 1 mg prolonged-release hard capsules."
    )


def test_an_infusion_for_a_patient_on_oral_tacrolimus_without_a_weight_is_still_not_judged(
    client: TestClient,
) -> None:
    [card] = of_topic(
        order_cards(client, iv_order(7), "Z94.0", weight=None, medications=[PROGRAF_3_BID, MMF]), "dosing"
    )
    assert "by mouth to an infusion" in card["summary"]
    assert "record a weight" not in card["detail"]


# -- the arithmetic, to a hundredth of a mg, for a weight that does not round evenly: 72.3 kg
def detail_lines(card: dict[str, Any]) -> list[str]:
    return [line[2:] for line in card["detail"].split("**Sources**")[0].splitlines() if line.startswith("- ")]


def test_envarsus_once_daily_arithmetic_and_orderable_range(client: TestClient) -> None:
    [card] = dosing_cards(client, order(10, 1, ENVARSUS), weight=(72.3, "kg"))
    # 0.14 x 72.3 = 10.122; whole tablets of 0.75, 1 and 4 mg make 10 and 10.25 on either side, once daily
    assert card["summary"] == (
        "Starting Envarsus prolonged-release for kidney transplant: Envarsus label dose 10.12 mg/day for"
        " 72.3 kg; ordered 10 mg/day"
    )
    assert detail_lines(card)[1:4] == [
        "Weight 72.3 kg (2026-11-20): 72.3 kg x 0.14 mg/kg/day = 10.12 mg/day.",
        "Orderable with 0.75, 1 and 4 mg tablets: 10 to 10.25 mg/day, the range the order is judged against.",
        "Ordered: 10 mg once daily = 10 mg/day (0.138 mg/kg/day): within the range.",  # 10 / 72.3
    ]


@pytest.mark.parametrize(
    ("each", "where"),
    [(3, "below"), (3.5, "within"), (4, "within"), (5, "above")],  # the orderable 7 to 8 mg/day, edges in
)
def test_immediate_release_twice_daily_arithmetic(client: TestClient, each: float, where: str) -> None:
    [card] = dosing_cards(client, order(each, 2), weight=(72.3, "kg"), medications=[MMF])
    # 0.1 x 72.3 = 7.23 mg/day, 3.615 each; capsules of 0.5, 1 and 5 mg make 3.5 and 4 on either side
    daily = each * 2
    assert detail_lines(card)[1:4] == [
        "Weight 72.3 kg (2026-11-20): 72.3 kg x 0.1 mg/kg/day = 7.23 mg/day, 3.62 mg every 12 hours.",
        "Orderable with 0.5, 1 and 5 mg capsules: 3.5 to 4 mg every 12 hours, 7 to 8 mg/day, the range the"
        " order is judged against.",
        f"Ordered: {each:g} mg every 12 hours = {daily:g} mg/day ({round(daily / 72.3, 3):g} mg/kg/day):"
        f" {where} the range.",
    ]
    start = "Starting immediate-release tacrolimus for kidney transplant: "
    if where == "above":
        assert card["indicator"] == "warning"
        assert card["summary"] == f"{start}10 mg/day ordered, above the US label dose 7.23 mg/day for 72.3 kg"
    else:
        assert card["indicator"] == "info"
        assert card["summary"] == f"{start}US label dose 7.23 mg/day for 72.3 kg; ordered {daily:g} mg/day"


def test_an_infusion_is_a_daily_range_by_continuous_infusion(client: TestClient) -> None:
    [card] = dosing_cards(client, order(text=IV), weight=(72.3, "kg"))
    # 0.03 to 0.05 x 72.3 = 2.169 to 3.615 mg/day; no strengths to round to
    assert card["summary"] == (
        "Starting intravenous tacrolimus for kidney transplant: older US label dose 2.17 to 3.62 mg/day for"
        " 72.3 kg"
    )
    assert detail_lines(card)[1:3] == [
        "Weight 72.3 kg (2026-11-20): 72.3 kg x 0.03 to 0.05 mg/kg/day = 2.17 to 3.62 mg/day by continuous"
        " infusion.",
        "The order's daily dose could not be read (a dose in mg and a frequency are needed).",
    ]


# -- the body weight, in the units EHRs write it (1 lb = 0.45359237 kg, to a tenth of a kg)
@pytest.mark.parametrize(
    ("value", "unit", "shown", "dose"),
    [
        (70, "kg", "70 kg (2026-11-20)", "7 mg/day for 70 kg"),
        (70, "Kilogram", "70 kg (2026-11-20)", "7 mg/day for 70 kg"),
        (70, "kilograms", "70 kg (2026-11-20)", "7 mg/day for 70 kg"),
        (154, "lb", "154 lb = 69.9 kg (2026-11-20)", "6.99 mg/day for 69.9 kg"),
        (154, "lbs", "154 lb = 69.9 kg (2026-11-20)", "6.99 mg/day for 69.9 kg"),
        (154, "[lb_av]", "154 lb = 69.9 kg (2026-11-20)", "6.99 mg/day for 69.9 kg"),
        (154, "pound", "154 lb = 69.9 kg (2026-11-20)", "6.99 mg/day for 69.9 kg"),
        (154, "Pounds", "154 lb = 69.9 kg (2026-11-20)", "6.99 mg/day for 69.9 kg"),
    ],
)
def test_the_weight_in_each_unit_written(
    client: TestClient, value: float, unit: str, shown: str, dose: str
) -> None:
    [card] = dosing_cards(client, order(), weight=(value, unit), medications=[MMF])
    assert f"Weight {shown}: " in card["detail"]
    assert card["summary"].endswith(f"US label dose {dose}")


def test_the_latest_weight_with_a_number_is_used_and_an_undated_one_said_so(client: TestClient) -> None:
    refused = {
        "resourceType": "Observation",
        "id": "w0",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "effectiveDateTime": "2026-11-21",
        "valueString": "patient declined",
    }
    undated = observation("w2", "29463-7", 70, "kg", "2026-11-20")
    del undated["effectiveDateTime"]
    [card] = dosing_cards(
        client, order(), weight=None, medications=[MMF], extra_observations=[refused, undated]
    )
    assert "Weight 70 kg (undated): " in card["detail"]


# -- switching products: the conversion, from the reference (section 10): Envarsus at about 80% of the
# immediate-release total daily dose (P, one secondary source), Advagraf/Astagraf 1:1 (P)
ON_IR = order(3, 2, rid="m1", status="active")  # 3 mg every 12 hours = 6 mg/day


def switch_card(client: TestClient, draft: dict[str, Any], current: dict[str, Any] = ON_IR) -> dict[str, Any]:
    [card] = of_topic(order_cards(client, draft, medications=[current]), "formulation-switch")
    found: dict[str, Any] = card
    return found


def test_switching_to_envarsus_converts_the_daily_dose(client: TestClient) -> None:
    card = switch_card(client, order(5, 1, ENVARSUS))
    assert card["summary"] == (
        "Switching from immediate-release tacrolimus to Envarsus prolonged-release: not interchangeable,"
        " recheck the trough"
    )
    lines = detail_lines(card)
    assert lines[0] == f"Current: {IR}; ordered: {ENVARSUS}."
    # 6 mg/day x 0.8 = 4.8 mg; whole tablets of 0.75, 1 and 4 mg make 4.75 and 5 on either side
    assert lines[1] == (
        "Conversion from immediate-release to Envarsus prolonged-release: about 80% of the immediate-release"
        " total daily dose, once daily (the Envarsus XR US label, as summarised by a secondary source; not"
        " verified against the label). Current 3 mg every 12 hours = 6 mg/day: about 4.8 mg once daily"
        " (orderable: 4.75 mg or 5 mg). Ordered: 5 mg once daily = 5 mg/day."
    )
    sources = card["detail"].split("**Sources**")[1]
    assert "- Envarsus XR dosing (Renal & Urology News drug summary): Dosage: de novo kidney" in sources


def test_switching_to_advagraf_is_one_to_one(client: TestClient) -> None:
    card = switch_card(client, order(6, 1, ADVAGRAF))
    # 6 mg/day 1:1 is 6 mg once daily, which the capsules make exactly: no orderable pair to offer
    assert detail_lines(card)[1].endswith(
        "Current 3 mg every 12 hours = 6 mg/day: about 6 mg once daily. Ordered: 6 mg once daily = 6 mg/day."
    )
    assert "Envarsus" not in card["detail"]


def test_switching_back_to_immediate_release_gives_no_conversion(client: TestClient) -> None:
    on_envarsus = order(5, 1, ENVARSUS, rid="m1", status="active")
    card = switch_card(client, order(3, 2), on_envarsus)
    assert card["summary"].startswith(
        "Switching from Envarsus prolonged-release to immediate-release tacrolimus"
    )
    assert detail_lines(card)[0] == f"Current: {ENVARSUS}; ordered: {IR}."
    assert "Conversion" not in card["detail"]  # the sources give none from prolonged-release


def test_a_switch_with_an_unreadable_current_dose_still_gives_the_conversion(client: TestClient) -> None:
    card = switch_card(client, order(5, 1, ENVARSUS), order(rid="m1", status="active"))
    line = detail_lines(card)[1]
    assert line.startswith("Conversion from immediate-release to Envarsus prolonged-release: about 80%")
    assert "Current" not in line
    assert line.endswith("Ordered: 5 mg once daily = 5 mg/day.")


# -- each kind of dose card as a whole: every line, worked out by hand from the sources named
def sources_of(card: dict[str, Any]) -> list[str]:
    return [line[2:] for line in card["detail"].split("**Sources**")[1].splitlines() if line.startswith("- ")]


US_LABEL = (
    "Prograf US prescribing information: 2 Dosage and administration: initial oral dosage and whole-blood"
    " trough ranges"
)
MONOGRAPH_TDM = "Tacrolimus monograph (Martindale-style text): Pharmacokinetics: Therapeutic drug monitoring"


def test_a_cpic_adjusted_start_as_a_whole(client: TestClient) -> None:
    [card] = dosing_cards(
        client, order(), "Z94.0", medications=[AZA], extra_observations=[genotype("CYP3A5 *1/*1")]
    )
    # kidney with azathioprine 0.2 mg/kg/day; CPIC 1.5 to 2 times (0.3 to 0.4) capped at 0.3: 21 mg/day
    assert detail_lines(card) == [
        "US label, adult kidney transplant (immediate-release tacrolimus): 0.2 mg/kg/day.",
        "CYP3A5 *1/*1: CYP3A5 normal metabolizer (expresser): CPIC recommends a starting dose 1.5 to 2 times"
        " the usual, not above 0.3 mg/kg/day, then dosing by levels.",
        "Weight 70 kg (2026-11-20): 70 kg x 0.3 mg/kg/day = 21 mg/day, 10.5 mg every 12 hours.",
        "The order's daily dose could not be read (a dose in mg and a frequency are needed).",
        "Then adjust the dose to trough levels.",
    ]
    assert sources_of(card) == [
        US_LABEL,
        MONOGRAPH_TDM,
        "CPIC guideline: CYP3A5 and tacrolimus: CYP3A5 genotype and tacrolimus dosing",
    ]


def test_a_colitis_start_as_a_whole(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=1.75), "K51.90")
    # the summary: 0.05 mg/kg/day in two doses; 70 kg: 3.5 mg/day, 1.75 each; capsules make 1.5 and 2
    assert detail_lines(card) == [
        "UC summary, ulcerative colitis (immediate-release tacrolimus): 0.05 mg/kg/day, in two divided"
        " doses.",
        "Weight 70 kg (2026-11-20): 70 kg x 0.05 mg/kg/day = 3.5 mg/day, 1.75 mg every 12 hours.",
        "Orderable with 0.5, 1 and 5 mg capsules: 1.5 to 2 mg every 12 hours, 3 to 4 mg/day, the range the"
        " order is judged against.",
        "Ordered: 1.75 mg every 12 hours = 3.5 mg/day (0.05 mg/kg/day): within the range.",
        "Then adjust the dose to trough levels.",
    ]
    assert sources_of(card) == [
        "Online Q&A summary on tacrolimus in acute severe UC (cites ECCO): Key points: starting dose, target"
        " trough levels, treatment duration"
    ]


def test_an_envarsus_start_cites_the_envarsus_summary(client: TestClient) -> None:
    [card] = dosing_cards(client, order(10, 1, ENVARSUS))
    assert detail_lines(card)[0] == (
        "Envarsus label, adult kidney transplant (Envarsus prolonged-release): 0.14 mg/kg/day, de novo, once"
        " daily (figure from a secondary source, not verified against the label)."
    )
    assert sources_of(card) == [
        "Envarsus XR dosing (Renal & Urology News drug summary): Dosage: de novo kidney transplant and"
        " conversion from immediate-release"
    ]


def test_an_order_that_does_not_say_which_product(client: TestClient) -> None:
    [card] = dosing_cards(client, order(4, 2, text="Tacrolimus"), "Z94.0", medications=[MMF])
    assert (
        card["summary"] == "Starting tacrolimus for kidney transplant: product not stated, dose not checked"
    )
    assert detail_lines(card) == [
        "The order does not say which product (immediate-release every 12 hours, a once-daily"
        " prolonged-release product, or an infusion): their doses differ, so none is applied.",
        "Ordered: 4 mg every 12 hours = 8 mg/day.",
        "Then adjust the dose to trough levels.",
    ]


def test_an_infusion_for_a_patient_on_oral_tacrolimus_is_not_judged(client: TestClient) -> None:
    [card] = dosing_cards(
        client, order(text=IV), "Z94.0", medications=[order(3, 2, rid="m1", status="active")]
    )
    assert card["summary"] == (
        "Tacrolimus by mouth to an infusion for kidney transplant: no conversion in the sources, not judged"
    )
    assert detail_lines(card) == [
        "The patient is on tacrolimus by mouth now.",
        "Older US label, adult kidney transplant (intravenous tacrolimus): 0.03 to 0.05 mg/kg/day, continuous"
        " infusion, only if oral dosing is not tolerated; switch to oral as soon as tolerated (figure from a"
        " secondary source, not verified against the label).",
        "The sources' infusion dose is for starting tacrolimus, not for a patient converted from oral"
        " tacrolimus: shown for reference, the order is not judged against it.",
        "The order's daily dose could not be read (a dose in mg and a frequency are needed).",
        "Then adjust the dose to trough levels.",
    ]
    assert sources_of(card) == [
        "Prograf US prescribing information: 2 Dosage and administration (older edition): intravenous"
        " infusion"
    ]


# -- CYP3A5 results as a genomics report writes them, and what CPIC's adjustment is not applied to
def test_a_cyp3a5_result_with_no_indication_as_a_whole(client: TestClient) -> None:
    [card] = dosing_cards(client, order(), None, extra_observations=[genotype("CYP3A5 *1/*1")])
    assert card["summary"] == "Starting tacrolimus with a CYP3A5 result on record: CYP3A5 *1/*1"
    assert card["indicator"] == "info"
    assert detail_lines(card) == [
        f"CYP3A5 *1/*1: {NORMAL_CPIC} CPIC's guideline is for transplant recipients, and no transplant is"
        " recorded.",
        "The order's daily dose could not be read (a dose in mg and a frequency are needed).",
        "Then adjust the dose to trough levels.",
    ]


def test_cpic_is_not_applied_to_an_infusion_and_says_why(client: TestClient) -> None:
    # kidney infusion 0.03 to 0.05 mg/kg/day for 70 kg: 2.1 to 3.5 mg/day, not 1.5 to 2 times it
    [card] = dosing_cards(client, iv_order(3), "Z94.0", extra_observations=[genotype("CYP3A5 *1/*1")])
    assert card["summary"] == (
        "Starting intravenous tacrolimus for kidney transplant: older US label dose 2.1 to 3.5 mg/day for"
        " 70 kg; ordered 3 mg/day"
    )
    assert detail_lines(card)[1] == (
        f"CYP3A5 *1/*1: {NORMAL_CPIC} Not applied to an intravenous infusion: the sources give no intravenous"
        " adjustment."
    )


def test_a_diplotype_whose_gene_is_given_by_its_hgnc_id_only(client: TestClient) -> None:
    # the gene studied as HGNC:2638 and the diplotype *1/*3, the name CYP3A5 written nowhere
    result = genotype("*1/*3", gene=CYP3A5_HGNC)
    [card] = dosing_cards(client, order(), "Z94.0", medications=[MMF], extra_observations=[result])
    assert "CPIC-adjusted dose 10.5 to 14 mg/day for 70 kg" in card["summary"]  # 0.1 x 1.5 to 2
    assert detail_lines(card)[1] == (
        "CYP3A5 *1/*3: CYP3A5 intermediate metabolizer (expresser): CPIC recommends a starting dose 1.5 to 2"
        " times the usual, not above 0.3 mg/kg/day, then dosing by levels."
    )


def test_a_phenotype_with_the_gene_studied_as_a_component(client: TestClient) -> None:
    # the phenotype coded on the result (LOINC answer LA9657-3, poor metabolizer), the gene in a component
    result = genotype(
        "",
        rid="p1",
        gene=CYP3A5_HGNC,
        code={"text": "Therapeutic implication"},
        value={"coding": [{"system": LOINC, "code": "LA9657-3", "display": "Poor metabolizer"}]},
    )
    [card] = dosing_cards(client, order(), "Z94.0", medications=[MMF], extra_observations=[result])
    assert "US label dose 7 mg/day for 70 kg" in card["summary"]  # CPIC: the usual dose, not adjusted
    assert detail_lines(card)[1] == f"CYP3A5 phenotype recorded (Observation/p1): {POOR_CPIC}"


def test_another_genes_genotype_is_not_read_as_cyp3a5(client: TestClient) -> None:
    # a newer CYP2C19 *1/*1 result and an older CYP3A5 *3/*3: only the CYP3A5 one counts (the usual dose)
    results = [
        genotype("*1/*1", rid="g2", gene=CYP2C19_HGNC, days_ago=30),
        genotype("CYP3A5 *3/*3", rid="g1", days_ago=400),
    ]
    [card] = dosing_cards(client, order(), "Z94.0", medications=[MMF], extra_observations=results)
    assert "US label dose 7 mg/day for 70 kg" in card["summary"]  # the usual dose, not 10.5 to 14
    assert detail_lines(card)[1] == f"CYP3A5 *3/*3: {POOR_CPIC}"


# -- what a start card says when it cannot judge, and the words that carry it
def test_a_row_for_any_regimen_is_used_whatever_the_regimen(client: TestClient) -> None:
    # liver: one row, 0.1 to 0.15 mg/kg/day, whatever else is given (here mycophenolate); no dose to judge
    [card] = dosing_cards(client, order(), "Z94.4", medications=[MMF])
    assert card["summary"] == (
        "Starting immediate-release tacrolimus for liver transplant: US label dose 7 to 10.5 mg/day for 70 kg"
    )
    assert card["indicator"] == "info"


def test_a_product_without_a_row_as_a_whole(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=7, per_day=1, text=ADVAGRAF), "Z94.0", medications=[MMF])
    assert card["summary"] == (
        "Starting Advagraf / Astagraf XL prolonged-release for kidney transplant: no starting dose for it in"
        " the sources, not checked"
    )
    assert detail_lines(card) == [
        "The project's sources give no starting dose for Advagraf / Astagraf XL prolonged-release capsules,"
        " once daily in kidney transplant: the dose ordered is shown, not judged.",
        "Ordered: 7 mg once daily = 7 mg/day.",
        "Then adjust the dose to trough levels.",
    ]


def test_no_weight_still_shows_the_dose_ordered(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=3), "Z94.4", weight=None)
    assert detail_lines(card) == [
        "US label, adult liver transplant (immediate-release tacrolimus): 0.1 to 0.15 mg/kg/day, with"
        " corticosteroids only.",
        "The dose is per kilogram (0.1 to 0.15 mg/kg/day): record a weight to check it.",
        "Ordered: 3 mg every 12 hours = 6 mg/day.",
        "Then adjust the dose to trough levels.",
    ]


def test_immediate_release_every_10_hours_is_not_its_frequency(client: TestClient) -> None:
    # 24 / 10 = 2.4 doses a day: not the twice daily of immediate-release, although it rounds to 2
    draft = order(mg=3)
    draft["dosageInstruction"][0]["timing"]["repeat"] = {"frequency": 1, "period": 10, "periodUnit": "h"}
    [card] = dosing_cards(client, draft, "Z94.4")
    assert card["indicator"] == "warning"
    assert card["summary"] == (
        "Tacrolimus ordered 2.4 times a day: immediate-release tacrolimus is given every 12 hours"
    )
    assert detail_lines(card)[-2] == (
        "Immediate-release tacrolimus is given every 12 hours; this order is 2.4 times a day."
    )


# -- the orderable range is shown only when the strengths cannot make the computed dose
@pytest.mark.parametrize(
    ("kg", "dose"),
    [(62.5, "8.75 mg/day"), (64.3, "9 mg/day")],  # 0.14 x 62.5 = 8.75 (4 + 4 + 0.75); 0.14 x 64.3 = 9.002
)
def test_an_envarsus_dose_the_tablets_make_up_has_no_orderable_line(
    client: TestClient, kg: float, dose: str
) -> None:
    [card] = dosing_cards(client, order(10, 1, ENVARSUS), weight=(kg, "kg"))
    assert detail_lines(card)[1:3] == [
        f"Weight {kg:g} kg (2026-11-20): {kg:g} kg x 0.14 mg/kg/day = {dose}.",
        f"Ordered: 10 mg once daily = 10 mg/day ({round(10 / kg, 3):g} mg/kg/day): above the range.",
    ]


# -- an infusion is judged to a hundredth of a mg, at the ends the card shows
@pytest.mark.parametrize(
    ("kg", "daily", "where"),
    [
        (72.3, 3.62, "within"),  # 0.05 x 72.3 = 3.615, shown 3.62: the top shown is in the range
        (72.3, 3.63, "above"),
        (72.1, 2.16, "within"),  # 0.03 x 72.1 = 2.163, shown 2.16: the bottom shown is in the range
        (72.1, 2.15, "below"),
    ],
)
def test_an_infusion_at_the_ends_of_its_range(
    client: TestClient, kg: float, daily: float, where: str
) -> None:
    [card] = dosing_cards(client, iv_order(daily), weight=(kg, "kg"))
    assert detail_lines(card)[2].startswith(f"Ordered: {daily:g} mg/day by infusion (")
    assert detail_lines(card)[2].endswith(f"): {where} the range.")
    assert card["indicator"] == ("warning" if where == "above" else "info")


def test_an_infusion_rate_is_judged_to_a_hundredth_of_a_mg(client: TestClient) -> None:
    # 0.146 mg/h x 24 = 3.504 mg/day: 3.5 to the hundredth, the top of liver's 2.1 to 3.5 for 70 kg
    draft = medication_request(
        "d1",
        IV,
        status="draft",
        dosageInstruction=[{"doseAndRate": [{"rateQuantity": {"value": 0.146, "unit": "mg/h"}}]}],
    )
    [card] = dosing_cards(client, draft, "Z94.4")
    assert "Ordered: 0.146 mg/h = 3.5 mg/day (0.05 mg/kg/day): within the range." in detail_lines(card)
    assert card["indicator"] == "info"


# -- each family finds what it needs by itself
def test_the_dosing_family_alone_reads_the_therapy_itself(tmp_path: Path) -> None:
    with only("dosing", tmp_path) as alone:
        [card] = dosing_cards(alone, order(mg=3.5), medications=[MMF])
    assert card["summary"] == (
        "Starting immediate-release tacrolimus for kidney transplant: US label dose 7 mg/day for 70 kg;"
        " ordered 7 mg/day"
    )


# -- two products at once: the lines, the suggestion and the source
SMPC_SWITCH = (
    "Prograf SmPC: 4.4 Special warnings and precautions for use (medication errors); 4.2 Posology"
    " (therapeutic drug monitoring)"
)
UNNAMED_PR = "Tacrolimus 5 MG 24 HR Extended Release"  # prolonged-release, product not named


def current(text: str, rid: str, mg: float = 5, per_day: int = 1) -> dict[str, Any]:
    return order(mg=mg, per_day=per_day, text=text, rid=rid, status="active")


def coded_only(draft: dict[str, Any], code: str) -> dict[str, Any]:
    """The order with its medication as an RxNorm code alone: no text, no display."""
    draft["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": code}]}
    return draft


def test_immediate_release_with_an_unnamed_prolonged_release_order_as_a_whole(client: TestClient) -> None:
    [card] = patient_view_switch_cards(client, PROGRAF_3_BID, current(UNNAMED_PR, "t3"))
    assert card["summary"].startswith(
        "Two tacrolimus products ordered: immediate-release tacrolimus and prolonged-release tacrolimus"
        " (product not named)"
    )
    assert detail_lines(card)[0] == f"Current orders: Tacrolimus 1 MG Oral Capsule [Prograf]; {UNNAMED_PR}."
    assert sources_of(card) == [SMPC_SWITCH]
    assert card["source"]["label"] == "Prograf SmPC"
    assert [s["label"] for s in card["suggestions"]] == ["Order a tacrolimus level"]


@pytest.mark.parametrize("named", [ENVARSUS, ADVAGRAF])
def test_an_unnamed_prolonged_release_order_beside_a_named_one_may_be_the_same(
    client: TestClient, named: str
) -> None:
    assert patient_view_switch_cards(client, current(named, "t1"), current(UNNAMED_PR, "t3")) == []


def test_two_prolonged_release_products_are_both_named(client: TestClient) -> None:
    [card] = patient_view_switch_cards(client, current(ENVARSUS, "t1"), current(ADVAGRAF, "t2"))
    assert card["summary"] == (
        "Two tacrolimus products ordered: Envarsus prolonged-release and Advagraf / Astagraf XL"
        " prolonged-release: check which one the patient takes"
    )
    assert detail_lines(card)[0] == f"Current orders: {ENVARSUS}; {ADVAGRAF}."


def test_of_three_products_the_one_of_another_release_is_named(client: TestClient) -> None:
    # capsules and granules are the same immediate-release tacrolimus: Envarsus is the other product
    granules = current("Tacrolimus 0.2 mg granules for oral suspension", "t4", mg=0.2, per_day=2)
    [card] = patient_view_switch_cards(client, PROGRAF_3_BID, granules, current(ENVARSUS, "t1"))
    assert card["summary"].startswith(
        "Two tacrolimus products ordered: immediate-release tacrolimus and Envarsus prolonged-release:"
    )
    assert detail_lines(card)[0] == f"Current orders: Tacrolimus 1 MG Oral Capsule [Prograf]; {ENVARSUS}."


def test_an_order_with_no_name_is_shown_by_its_reference(client: TestClient) -> None:
    envarsus = coded_only(current("", "t5"), "1664434")  # Envarsus XR 4 mg, by its RxNorm code
    [card] = patient_view_switch_cards(client, PROGRAF_3_BID, envarsus)
    assert card["summary"].startswith(
        "Two tacrolimus products ordered: immediate-release tacrolimus and Envarsus"
    )
    assert (
        detail_lines(card)[0]
        == "Current orders: Tacrolimus 1 MG Oral Capsule [Prograf]; MedicationRequest/t5."
    )


# -- switching: the lines, the sources, and the products without a conversion
def test_a_switch_between_orders_with_no_names_shows_their_references(client: TestClient) -> None:
    on_prograf = coded_only(order(3, 2, rid="m1", status="active"), "108513")  # Prograf 1 mg capsule
    card = switch_card(client, coded_only(order(5, 1), "1664434"), on_prograf)
    assert detail_lines(card)[0] == "Current: MedicationRequest/m1; ordered: MedicationRequest/d1."


def test_a_switch_to_envarsus_cites_the_smpc_and_the_envarsus_summary(client: TestClient) -> None:
    card = switch_card(client, order(5, 1, ENVARSUS))
    assert card["source"]["label"] == "Prograf SmPC"
    assert sources_of(card) == [
        SMPC_SWITCH,
        "Envarsus XR dosing (Renal & Urology News drug summary): Dosage: de novo kidney transplant and"
        " conversion from immediate-release",
    ]


def test_a_switch_to_an_unnamed_prolonged_release_product_gives_no_conversion(client: TestClient) -> None:
    card = switch_card(client, order(5, 1, UNNAMED_PR))
    assert card["summary"] == (
        "Switching from immediate-release tacrolimus to prolonged-release tacrolimus (product not named): not"
        " interchangeable, recheck the trough"
    )
    assert detail_lines(card) == [
        f"Current: {IR}; ordered: {UNNAMED_PR}.",
        "Immediate- and prolonged-release tacrolimus are not interchangeable: inadvertent or unsupervised"
        " substitution has caused graft rejection and other serious adverse reactions (under- or"
        " over-exposure).",
        "Keep the patient on one formulation and its daily regimen; change only under close"
        " transplant-specialist supervision.",
        "Recheck the trough after the change.",
    ]
    assert sources_of(card) == [SMPC_SWITCH]


@pytest.mark.parametrize(
    ("each", "unit"),
    [(1.25, "mg"), (1251, "ug")],  # 1251 micrograms: 2.502 mg/day, 2.5 to the hundredth of a mg
)
def test_granules_to_advagraf_at_a_dose_the_capsules_make(client: TestClient, each: float, unit: str) -> None:
    # 1.25 mg every 12 hours = 2.5 mg/day, 1:1: 2.5 mg once daily, which 0.5 mg capsules make exactly
    granules = order(
        each, 2, "Tacrolimus 0.2 mg granules for oral suspension", rid="m1", status="active", unit=unit
    )
    card = switch_card(client, order(2.5, 1, ADVAGRAF), granules)
    assert detail_lines(card)[1].endswith(
        "Current 1.25 mg every 12 hours = 2.5 mg/day: about 2.5 mg once daily. Ordered: 2.5 mg once daily ="
        " 2.5 mg/day."
    )


# -- which change of product gives a card: the release decides (SmPC 4.4), not the product's name
GRANULES = "Tacrolimus 0.2 mg granules for oral suspension"


def test_capsules_to_granules_is_the_same_tacrolimus_and_gives_no_card(client: TestClient) -> None:
    # both immediate-release tacrolimus every 12 hours: no switch to warn of, and not a start
    assert switch_cards(client, order(mg=3, text=GRANULES), PROGRAF_3_BID) == []


def test_a_renewal_of_a_prolonged_release_product_gives_no_card(client: TestClient) -> None:
    on_envarsus = current(ENVARSUS, "t0")
    assert switch_cards(client, order(mg=6, per_day=1, text=ENVARSUS), on_envarsus) == []


def test_one_prolonged_release_product_to_another_is_a_switch(client: TestClient) -> None:
    # Envarsus and Advagraf / Astagraf XL are both once daily, and still not interchangeable
    card = switch_card(client, order(5, 1, ADVAGRAF), current(ENVARSUS, "m1"))
    assert card["indicator"] == "warning"
    assert card["summary"] == (
        "Switching from Envarsus prolonged-release to Advagraf / Astagraf XL prolonged-release: not"
        " interchangeable, recheck the trough"
    )
    assert detail_lines(card)[0] == f"Current: {ENVARSUS}; ordered: {ADVAGRAF}."


def test_a_cyp3a5_result_with_no_diplotype_or_phenotype_leaves_the_label_dose(client: TestClient) -> None:
    # a CYP3A5 result that names no *allele/*allele and no phenotype code: nothing to apply CPIC from
    unread = genotype("CYP3A5 genotype: not determined")
    [card] = dosing_cards(client, order(), "Z94.0", medications=[MMF], extra_observations=[unread])
    assert "US label dose 7 mg/day for 70 kg" in card["summary"]
    assert "CPIC" not in card["detail"]
