"""Scenario tests: cautions with topical tacrolimus."""

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cards.drugs import DrugIdentifier
from cards.knowledge import load
from cards.topical import TopicalFamily
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
from tests.cards.test_interactions import by_code
from tests.clock import now, years_ago

OSEL, PV = "/cds-services/tacrolimus-order-select", "/cds-services/tacrolimus-patient-view"
PROTOPIC = "Protopic 0.1% Topical Ointment"


def condition(
    text: str, rid: str = "c1", code: tuple[str, str] | None = None, clinical: str = "active"
) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if code:
        concept["coding"] = [{"system": code[0], "code": code[1]}]
    return {
        "resourceType": "Condition",
        "id": rid,
        "code": concept,
        "clinicalStatus": {"coding": [{"code": clinical}]},
    }


def summaries(
    client: TestClient,
    birth: str = "1990-01-01",
    conditions: list[dict[str, Any]] | None = None,
    medications: list[dict[str, Any]] | None = None,
    hook: str = "order-select",
) -> list[str]:
    return [summary for summary, _ in shown(client, birth, conditions, medications, hook)]


def shown(
    client: TestClient,
    birth: str = "1990-01-01",
    conditions: list[dict[str, Any]] | None = None,
    medications: list[dict[str, Any]] | None = None,
    hook: str = "order-select",
) -> list[tuple[str, str]]:
    """(summary, indicator) of the topical cards."""
    prefetch = full_prefetch(medications or [])
    prefetch["patient"] = {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "gender": "female",
        "birthDate": birth,
    }
    prefetch["conditions"] = bundle(conditions or [])
    if hook == "order-select":
        body = hook_request(hook, prefetch, drafts=[medication_request("d1", PROTOPIC, status="draft")])
        path = OSEL
    else:
        prefetch["medicationRequests"] = bundle([medication_request("t1", PROTOPIC), *(medications or [])])
        body, path = hook_request(prefetch=prefetch), PV
    response = client.post(path, content=orjson.dumps(body))
    assert response.status_code == 200
    return [
        (c["summary"], c["indicator"])
        for c in response.json()["cards"]
        if c["source"]["topic"]["code"] == "topical-use"
    ]


COUNSEL = "Topical tacrolimus: limit sunlight, avoid UV, use short-term and intermittently"


def test_topical_tacrolimus_in_an_adult_gets_counselling_only(client: TestClient) -> None:
    assert summaries(client) == [COUNSEL]


def test_a_child_under_2(client: TestClient) -> None:
    # the label: not to be used under 2 years; the second birthday is the edge, on both sides of it
    under_2 = ["Topical tacrolimus in a child under 2 years: not to be used", COUNSEL]
    assert summaries(client, birth=years_ago(1)) == under_2
    assert summaries(client, birth=years_ago(2, days=1)) == under_2  # turns 2 tomorrow
    assert summaries(client, birth=years_ago(2)) == [COUNSEL]  # 2 years old today


def test_an_immunocompromised_patient(client: TestClient) -> None:
    # "it should not be used in immunocompromised patients": critical at the order
    assert shown(client, medications=[tacrolimus()])[0] == (
        "Topical tacrolimus in an immunocompromised patient: it should not be used",
        "critical",
    )
    expected = ["Topical tacrolimus in an immunocompromised patient: it should not be used", COUNSEL]
    assert summaries(client, medications=[tacrolimus()]) == expected
    assert (
        summaries(client, medications=[medication_request("m1", "Mycophenolate mofetil 500 MG Oral Tablet")])
        == expected
    )
    kidney = condition("Kidney transplant status", code=("http://hl7.org/fhir/sid/icd-10-cm", "Z94.0"))
    assert summaries(client, conditions=[kidney]) == expected


def test_malignant_infected_or_leaky_skin(client: TestClient) -> None:
    # the monograph's verbs: "must not be applied to pre-malignant or malignant skin conditions" and
    # "avoided in skin disorders liable to increase systemic absorption" (critical); "skin infections
    # should be treated before starting" (warning)
    found = shown(
        client,
        conditions=[
            condition("Basal cell carcinoma of skin", "c1"),
            condition("Impetigo", "c2"),
            condition("Erythroderma", "c3"),
        ],
    )
    assert found == [  # the service sorts critical first
        (
            "Topical tacrolimus with a malignant or pre-malignant skin condition: must not be applied to it",
            "critical",
        ),
        (
            "Topical tacrolimus with a disrupted skin barrier: avoid (systemic absorption can be high)",
            "critical",
        ),
        ("Topical tacrolimus with a skin infection recorded: treat the infection first", "warning"),
        (COUNSEL, "info"),
    ]


@pytest.mark.parametrize("text", ["Actinic keratosis", "Malignant melanoma of skin", "Mycosis fungoides"])
def test_pre_malignant_and_malignant_skin_is_critical(client: TestClient, text: str) -> None:
    [(summary, indicator), _] = shown(client, conditions=[condition(text)])
    assert "skin condition: must not be applied" in summary
    assert indicator == "critical"


def test_another_malignancy_is_a_warning_from_expert_opinion(client: TestClient) -> None:
    # "some consider it prudent ... avoided in patients with neoplasia": a hedged opinion, not a label's
    # "must not": a warning, and a skin cancer gets only its own critical card, not this one as well
    assert shown(client, conditions=[condition("Follicular lymphoma")]) == [
        ("Topical tacrolimus with a malignancy recorded: some advise avoiding it in neoplasia", "warning"),
        (COUNSEL, "info"),
    ]
    skin = summaries(client, conditions=[condition("Squamous cell carcinoma of skin")])
    assert not [s for s in skin if "some advise" in s]
    assert summaries(client, conditions=[condition("Benign neoplasm of skin")]) == [COUNSEL]


def test_already_in_use_it_is_one_step_quieter_on_patient_view(client: TestClient) -> None:
    # the order is the decision point: on a chart opened, critical becomes warning, warning becomes info
    # (not shown on patient-view)
    kidney = condition("Kidney transplant status", code=("http://hl7.org/fhir/sid/icd-10-cm", "Z94.0"))
    assert shown(client, conditions=[kidney], hook="patient-view") == [
        ("Topical tacrolimus in an immunocompromised patient: it should not be used", "warning")
    ]
    assert shown(client, conditions=[condition("Impetigo")], hook="patient-view") == []


def test_resolved_conditions_raise_nothing(client: TestClient) -> None:
    assert summaries(client, conditions=[condition("Impetigo", clinical="resolved")]) == [COUNSEL]


def test_patient_view_for_a_child_using_it_has_no_counselling(client: TestClient) -> None:
    assert shown(client, birth=years_ago(1), hook="patient-view") == [
        ("Topical tacrolimus in a child under 2 years: not to be used", "warning")
    ]


def test_systemic_tacrolimus_orders_get_no_topical_cards(client: TestClient) -> None:
    prefetch = full_prefetch()
    prefetch["patient"] = {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": years_ago(1)}
    body = hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    cards = client.post(OSEL, content=orjson.dumps(body)).json()["cards"]
    assert [c for c in cards if c["source"]["topic"]["code"] == "topical-use"] == []


# -- issue 17: who is immunocompromised, through the same identification paths as everywhere else
IMMUNOCOMPROMISED = "Topical tacrolimus in an immunocompromised patient: it should not be used"


@pytest.mark.parametrize(
    ("conditions", "medications"),
    [
        ([condition("Transplanted kidney present", code=("http://snomed.info/sct", "737295003"))], []),
        ([condition("Kidney transplant status", code=("http://hl7.org/fhir/sid/icd-10-cm", "Z94.0"))], []),
        ([], [medication_request("m1", "Azathioprine 50 MG Oral Tablet")]),
        ([], [medication_request("m1", "Imuran 25mg tablets")]),
        ([], [medication_request("m1", "Prednisolone 5mg tablets")]),
        ([], [medication_request("m1", "Everolimus 0.75 MG Oral Tablet")]),
        ([], [medication_request("m1", "CellCept 500 MG Oral Tablet")]),
    ],
    ids=[
        "snomed-transplant",
        "icd-transplant",
        "azathioprine",
        "imuran",
        "prednisolone",
        "everolimus",
        "mycophenolate",
    ],
)
def test_immunosuppression_by_any_path(
    client: TestClient, conditions: list[dict[str, Any]], medications: list[dict[str, Any]]
) -> None:
    assert IMMUNOCOMPROMISED in summaries(client, conditions=conditions, medications=medications)


@pytest.mark.parametrize(
    "medication",
    ["Hydrocortisone 1% cream", "Prednisolone 0.5% eye drops", "Amlodipine 5 MG Oral Tablet"],
)
def test_local_steroids_and_other_drugs_are_not_immunosuppression(
    client: TestClient, medication: str
) -> None:
    assert IMMUNOCOMPROMISED not in summaries(client, medications=[medication_request("m1", medication)])


def test_an_ended_transplant_condition_is_not_current(client: TestClient) -> None:
    ended = condition("Kidney transplant status", code=("http://hl7.org/fhir/sid/icd-10-cm", "Z94.0"))
    del ended["clinicalStatus"]
    ended["abatementDateTime"] = "2015-03-01"
    assert IMMUNOCOMPROMISED not in summaries(client, conditions=[ended])


# -- the pharmacist's second review: plurals, history, and who is immunocompromised
SKIN_CRITICAL = (
    "Topical tacrolimus with a malignant or pre-malignant skin condition: must not be applied to it"
)
NEOPLASIA = "Topical tacrolimus with a malignancy recorded: some advise avoiding it in neoplasia"


def test_plural_actinic_keratoses_are_pre_malignant_skin(client: TestClient) -> None:
    assert SKIN_CRITICAL in summaries(client, conditions=[condition("Actinic keratoses")])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Family history of melanoma", []),  # not the patient's own
        ("Breast lump, no evidence of malignancy", []),
        ("Personal history of malignant melanoma of skin", [NEOPLASIA]),  # no lesion now: the opinion
    ],
)
def test_history_and_negatives_are_not_a_current_malignancy(
    client: TestClient, text: str, expected: list[str]
) -> None:
    assert summaries(client, conditions=[condition(text)]) == [*expected, COUNSEL]


def test_leukaemic_erythroderma_is_both_a_barrier_and_a_malignancy(client: TestClient) -> None:
    found = summaries(client, conditions=[condition("Leukaemic erythroderma")])
    assert (
        "Topical tacrolimus with a disrupted skin barrier: avoid (systemic absorption can be high)" in found
    )
    assert NEOPLASIA in found


@pytest.mark.parametrize(
    ("medications", "conditions"),
    [
        ([medication_request("m1", "Methotrexate 2.5 MG Oral Tablet")], []),
        ([medication_request("m1", "Humira 40 mg/0.4 mL pen (adalimumab)")], []),
        ([], [condition("HIV disease")]),
        ([], [condition("Common variable immunodeficiency")]),
    ],
    ids=["methotrexate", "adalimumab", "hiv", "cvid"],
)
def test_other_immunosuppression_counts(
    client: TestClient, medications: list[dict[str, Any]], conditions: list[dict[str, Any]]
) -> None:
    assert shown(client, medications=medications, conditions=conditions)[0] == (IMMUNOCOMPROMISED, "critical")


@pytest.mark.parametrize("text", ["HIV screening test negative", "Family history of immunodeficiency"])
def test_a_negative_test_or_family_history_is_not_immunosuppression(client: TestClient, text: str) -> None:
    assert summaries(client, conditions=[condition(text)]) == [COUNSEL]


def test_methotrexate_cream_is_not_systemic(client: TestClient) -> None:
    cream = medication_request("m1", "Methotrexate 1% topical cream")
    assert summaries(client, medications=[cream]) == [COUNSEL]


def topical_details(client: TestClient, body: dict[str, Any], path: str) -> list[str]:
    response = client.post(path, content=orjson.dumps(body))
    return [c["detail"] for c in response.json()["cards"] if c["source"]["topic"]["code"] == "topical-use"]


def test_what_makes_the_patient_immunocompromised_is_named_even_when_only_coded(client: TestClient) -> None:
    # mycophenolate mofetil by its RxNorm code alone (68149, the reference's section 2, verified): no name
    # to show, so the record is named by its id
    prefetch = full_prefetch([by_code(RXNORM, "68149", rid="m9")])
    body = hook_request("order-select", prefetch, drafts=[medication_request("d1", PROTOPIC, status="draft")])
    [detail, _] = topical_details(client, body, OSEL)
    assert detail.startswith("- Recorded: MedicationRequest/m9.\n")


def test_on_patient_view_the_card_says_why_it_is_quieter(client: TestClient) -> None:
    transplant = {
        "resourceType": "Condition",
        "id": "c9",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z94.0"}]},
    }
    prefetch = full_prefetch([medication_request("t1", PROTOPIC)])
    prefetch["conditions"] = bundle([transplant])
    [detail] = topical_details(client, hook_request(prefetch=prefetch), PV)
    assert detail.startswith(
        "- Recorded: Condition/c9.\n- Already in use: shown one step quieter than at the order.\n"
    )


INFECTION = "Topical tacrolimus with a skin infection recorded: treat the infection first"


def test_a_resolved_condition_before_a_current_one_does_not_hide_it(client: TestClient) -> None:
    conditions = [condition("Impetigo", "c1", clinical="resolved"), condition("Impetigo", "c2")]
    assert summaries(client, conditions=conditions) == [INFECTION, COUNSEL]


def test_a_condition_word_in_one_of_its_names_beside_another_is_found(client: TestClient) -> None:
    # coded locally as "Impetigo", with the text "Skin problem": each name is read as its own words
    impetigo = condition("Skin problem")
    impetigo["code"]["coding"] = [{"system": "urn:oid:1.2.3.4", "code": "L01", "display": "Impetigo"}]
    assert summaries(client, conditions=[impetigo]) == [INFECTION, COUNSEL]


def test_an_immunosuppressant_word_in_one_of_the_medications_names_beside_another_is_found(
    client: TestClient,
) -> None:
    # a locally coded product: the display names the drug, the text does not
    local = medication_request("m1", "Weekly injection")
    local["medicationCodeableConcept"]["coding"] = [
        {"system": "urn:oid:1.2.3.4", "code": "RX9", "display": "Etanercept"}
    ]
    assert IMMUNOCOMPROMISED in summaries(client, medications=[local])


def test_the_family_made_here_finds_each_caution() -> None:
    # the family and its identifier made in the test, not at the start of the session: a fault in its
    # constructor (each caution's words, their negations, the immunosuppressants' names) shows here
    knowledge = load()
    family = TopicalFamily(knowledge, DrugIdentifier(knowledge))
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female", "birthDate": "1990-01-01"}

    def found(*resources: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(summary, indicator, the detail's first line) of each card, in the family's order."""
        builder = RecordBuilder(hook="order-sign", now=now(), patient_id=PATIENT_ID)
        builder.add([medication_request("d1", PROTOPIC, status="draft")], where="draft", draft=True)
        builder.add([patient, *resources], where="prefetch")
        made = family.cards(builder.build())
        return [(c.summary, c.indicator, (c.detail or "").split("\n")[0]) for c in made]

    # etanercept is known by its name alone (an immunosuppressant: the patient is immunocompromised); each
    # skin condition gets its own caution, a family history none
    cards = found(
        medication_request("m1", "Etanercept 50 MG/ML Injection"),
        condition("Basal cell carcinoma of skin", "c1"),
        condition("Follicular lymphoma", "c2"),
        condition("Impetigo", "c3"),
        condition("Erythroderma", "c4"),
        condition("Family history of melanoma", "c5"),
    )
    assert [(summary, indicator) for summary, indicator, _ in cards] == [
        (IMMUNOCOMPROMISED, "critical"),
        (SKIN_CRITICAL, "critical"),
        (NEOPLASIA, "warning"),
        (INFECTION, "warning"),
        (
            "Topical tacrolimus with a disrupted skin barrier: avoid (systemic absorption can be high)",
            "critical",
        ),
        (COUNSEL, "info"),
    ]
    assert [first for _, _, first in cards[:5]] == [
        "- Recorded: Etanercept 50 MG/ML Injection.",
        "- Recorded: Basal cell carcinoma of skin.",
        "- Recorded: Follicular lymphoma.",
        "- Recorded: Impetigo.",
        "- Recorded: Erythroderma.",
    ]
    # immunocompromised by a condition's name alone; a negative screening test is not
    assert [summary for summary, _, _ in found(condition("HIV disease"))] == [IMMUNOCOMPROMISED, COUNSEL]
    assert [summary for summary, _, _ in found(condition("HIV screening test negative"))] == [COUNSEL]


def test_the_child_card_gives_the_age_recorded(client: TestClient) -> None:
    # a first birthday today is one year; one due tomorrow is still none
    drafts = [medication_request("d1", PROTOPIC, status="draft")]
    for born, said in ((years_ago(1), "- Age: 1 year.\n"), (years_ago(1, days=1), "- Age: 0 years.\n")):
        prefetch = full_prefetch([])
        prefetch["patient"] = {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": born}
        [child, _] = topical_details(client, hook_request("order-select", prefetch, drafts=drafts), OSEL)
        assert child.startswith(said)


def test_each_skin_condition_of_one_caution_is_named(client: TestClient) -> None:
    prefetch = full_prefetch([])
    prefetch["conditions"] = bundle([condition("Impetigo", "c1"), condition("Tinea corporis", "c2")])
    body = hook_request("order-select", prefetch, drafts=[medication_request("d1", PROTOPIC, status="draft")])
    [infection, _] = topical_details(client, body, OSEL)
    assert infection.startswith("- Recorded: Impetigo, Tinea corporis.\n")
