"""The preview page: services, example patients, cards as an EHR shows them, and a paste box."""

from collections.abc import Iterator
from urllib.parse import urlencode

import orjson
import pytest
from fastapi.testclient import TestClient

from cards import load_examples
from cds.app import build_app
from cds.service import Service
from cds.settings import Settings
from tests.builders import full_prefetch, hook_request, medication_request, tacrolimus


@pytest.fixture
def preview(services: list[Service], settings: Settings) -> Iterator[TestClient]:
    with TestClient(build_app(services, settings, load_examples(services))) as client:
        yield client


def post(client: TestClient, service: str, text: str) -> object:
    form = urlencode({"service": service, "request": text})
    return client.post(
        "/preview", content=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )


def test_the_index_lists_services_prefetch_and_examples(preview: TestClient) -> None:
    page = preview.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for text in (
        "tacrolimus-patient-view",
        "order-select",
        "MedicationRequest?patient={{context.patientId}}&amp;status=active",
        "Live vaccine ordered",
        "Breastfeeding mother starting tacrolimus",
        "Level above target",
        "Ulcerative colitis: weight-based start",
        '<form method="post" action="/preview">',
    ):
        assert text in page.text
    assert "<script" not in page.text  # no scripts: works offline, nothing fetched


@pytest.mark.parametrize(
    ("example", "css_class", "summary"),
    [
        (
            "live-vaccine-order",
            "card critical",
            "Live vaccine (MMR) ordered for a patient on tacrolimus: avoid it",
        ),
        ("order-select-r4-clarithromycin", "card warning", "Clarithromycin raises tacrolimus levels"),
        (
            "level-above-target",
            "card warning",
            "Tacrolimus 14.8 ng/mL on 2026-11-20: above target 4 to 11 ng/mL",
        ),
        (
            "ulcerative-colitis-start",
            "card info",
            "Starting immediate-release tacrolimus for ulcerative colitis: UC summary dose 3.5 mg/day",
        ),
    ],
)
def test_an_example_shows_its_cards(preview: TestClient, example: str, css_class: str, summary: str) -> None:
    page = preview.get(f"/preview/{example}")
    assert page.status_code == 200
    assert f'class="{css_class}"' in page.text
    assert summary in page.text
    assert "<strong>" in page.text or "<li>" in page.text  # the Markdown detail is rendered
    assert "Override reasons" in page.text
    assert 'rel="noopener noreferrer"' in page.text  # the source link


def test_suggestions_are_buttons(preview: TestClient) -> None:
    page = preview.get("/preview/live-vaccine-order")
    assert '<button type="button" disabled>Remove the vaccine order</button>' in page.text


def test_an_unknown_example_is_404(preview: TestClient) -> None:
    assert preview.get("/preview/nope").status_code == 404


def test_a_pasted_request_shows_its_cards(preview: TestClient) -> None:
    body = hook_request(
        prefetch=full_prefetch([tacrolimus(), medication_request("m2", "Rifampin 300 MG Oral Capsule")])
    )
    page = post(preview, "tacrolimus-patient-view", orjson.dumps(body).decode())
    assert page.status_code == 200  # type: ignore[attr-defined]
    assert "Rifampicin substantially lowers tacrolimus levels" in page.text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "status", "says"),
    [
        ("{not json", 400, "not valid JSON"),
        ('{"hook": "patient-view"}', 400, "hookInstance"),
        ("[]", 400, "JSON object"),
    ],
)
def test_a_bad_paste_says_what_is_wrong(preview: TestClient, text: str, status: int, says: str) -> None:
    page = post(preview, "tacrolimus-patient-view", text)
    assert page.status_code == status  # type: ignore[attr-defined]
    assert says in page.text  # type: ignore[attr-defined]
    assert "<textarea" in page.text  # type: ignore[attr-defined]


def test_markup_in_a_record_is_never_rendered(preview: TestClient) -> None:
    body = hook_request(
        prefetch=full_prefetch([tacrolimus(), medication_request("m2", "<script>alert(1)</script> Rifampin")])
    )
    page = post(preview, "tacrolimus-patient-view", orjson.dumps(body).decode())
    assert "<script>alert(1)</script>" not in page.text  # type: ignore[attr-defined]
    assert "&lt;script&gt;" in page.text  # type: ignore[attr-defined]
