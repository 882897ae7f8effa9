"""The preview page: services, example patients, cards as an EHR shows them, and a paste box."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
import respx
from fastapi.testclient import TestClient
from pydantic import ValidationError

from cards import load_examples
from cds import __version__
from cds.app import build_app
from cds.clock import fixed
from cds.main import story_renderer
from cds.service import Service
from cds.settings import Settings
from tests.builders import (
    FHIR_BASE,
    PATIENT_ID,
    bundle,
    full_prefetch,
    hook_request,
    medication_request,
    tacrolimus,
)
from tests.clock import now


def clarithromycin() -> dict[str, Any]:
    return medication_request("draft-1", "Clarithromycin 500 MG Oral Tablet", status="draft")


@pytest.fixture
def preview(services: list[Service], settings: Settings) -> Iterator[TestClient]:
    with TestClient(build_app(services, settings, load_examples(services), clock=fixed(now()))) as client:
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


def test_the_discovery_document_is_on_the_page_with_how_to_call_it(
    services: list[Service], settings: Settings
) -> None:
    sandbox = settings.model_copy(update={"auth": "sandbox"})
    with TestClient(build_app(services, sandbox, load_examples(services), clock=fixed(now()))) as client:
        page = client.get("/")
        assert client.get("/cds-services").status_code == 401  # why the page shows the document itself
    assert '<h2 id="discovery">' in page.text
    assert '<a href="/#discovery">Discovery</a>' in page.text
    assert "&quot;id&quot;: &quot;tacrolimus-order-select&quot;" in page.text
    assert "tacrolimus-cds token http://testserver/cds-services" in page.text
    assert f"tacrolimus-cds {__version__}" in page.text


def test_with_authentication_off_the_page_says_no_token_is_needed(preview: TestClient) -> None:
    page = preview.get("/")
    assert "<code>CDS_AUTH=off</code>: discovery, the hook calls, feedback" in page.text
    assert preview.get("/cds-services").status_code == 200


def test_service_ids_do_not_wrap(preview: TestClient) -> None:
    page = preview.get("/")
    assert '<code class="id">tacrolimus-order-select</code>' in page.text
    assert "code.id{white-space:nowrap" in page.text


def test_a_pasted_request_goes_to_the_service_for_its_hook(preview: TestClient) -> None:
    body = hook_request("order-select", prefetch=full_prefetch([tacrolimus()]), drafts=[clarithromycin()])
    page = post(preview, "", orjson.dumps(body).decode())
    assert page.status_code == 200  # type: ignore[attr-defined]
    assert "Service <code>tacrolimus-order-select</code>" in page.text  # type: ignore[attr-defined]
    assert "Clarithromycin raises tacrolimus levels" in page.text  # type: ignore[attr-defined]


def test_what_try_json_prints_can_be_pasted(preview: TestClient) -> None:
    body = hook_request(prefetch=full_prefetch([tacrolimus(), medication_request("m2", "Rifampin 300 MG")]))
    page = post(preview, "", orjson.dumps({"request": body, "response": {"cards": []}}).decode())
    assert "Rifampicin substantially lowers tacrolimus levels" in page.text  # type: ignore[attr-defined]


def test_a_pasted_request_for_a_hook_not_served_names_the_hooks_served(preview: TestClient) -> None:
    page = post(preview, "", orjson.dumps(hook_request("encounter-start")).decode())
    assert page.status_code == 400  # type: ignore[attr-defined]
    assert "no service answers the hook &#x27;encounter-start&#x27;" in page.text  # type: ignore[attr-defined]
    assert "order-sign (tacrolimus-order-sign)" in page.text  # type: ignore[attr-defined]


# Your own patient: off unless CDS_PREVIEW_FHIR_SERVERS lists servers


def submit(client: TestClient, **fields: str) -> Any:
    return client.post(
        "/preview/patient",
        content=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


@pytest.fixture
def with_form(services: list[Service], settings: Settings) -> Iterator[TestClient]:
    enabled = settings.model_copy(update={"preview_fhir_servers": [FHIR_BASE]})
    with TestClient(build_app(services, enabled, load_examples(services), clock=fixed(now()))) as client:
        yield client


def fhir_server(mock: respx.MockRouter) -> None:
    mock.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}").respond(json={"resourceType": "Patient", "id": PATIENT_ID})
    mock.get(url__regex=rf"^{FHIR_BASE}/MedicationRequest\?.*").respond(json=bundle([tacrolimus()]))
    mock.get(url__regex=rf"^{FHIR_BASE}/\w+\?.*").respond(json=bundle([]))


def test_the_patient_form_is_off_by_default(preview: TestClient) -> None:
    assert 'action="/preview/patient"' not in preview.get("/").text
    with respx.mock() as mock:
        page = submit(preview, fhirServer=FHIR_BASE, patient=PATIENT_ID, hook="patient-view")
    assert page.status_code == 404
    assert "CDS_PREVIEW_FHIR_SERVERS" in page.text
    assert not mock.calls


def test_the_patient_form_fetches_from_an_allowed_server_and_shows_the_cards(with_form: TestClient) -> None:
    assert 'action="/preview/patient"' in with_form.get("/").text
    with respx.mock(assert_all_called=False) as mock:
        fhir_server(mock)
        page = submit(
            with_form, fhirServer=FHIR_BASE, patient=PATIENT_ID, hook="order-select", order="clarithromycin"
        )
    assert page.status_code == 200
    assert f"Fetched from <code>{FHIR_BASE}</code>" in page.text
    assert "<td><code>medicationRequests</code></td><td>1 resource</td>" in page.text
    assert "Clarithromycin raises tacrolimus levels" in page.text
    assert f'value="{FHIR_BASE}"' in page.text  # the form keeps what was typed


@pytest.mark.parametrize(
    "server", ["https://elsewhere.example.com/fhir", FHIR_BASE + "-evil", "http://169.254.169.254"]
)
def test_a_server_not_listed_is_refused_before_any_call(with_form: TestClient, server: str) -> None:
    with respx.mock() as mock:
        page = submit(with_form, fhirServer=server, patient=PATIENT_ID, hook="patient-view")
    assert page.status_code == 403
    assert "not one of the servers allowed here" in page.text
    assert not mock.calls


def test_any_server_still_excludes_metadata_addresses(services: list[Service], settings: Settings) -> None:
    anywhere = settings.model_copy(update={"preview_fhir_servers": ["*"]})
    with (
        TestClient(build_app(services, anywhere, load_examples(services), clock=fixed(now()))) as client,
        respx.mock() as mock,
    ):
        page = submit(client, fhirServer="http://169.254.169.254/fhir", patient="p", hook="patient-view")
    assert page.status_code == 400
    assert "link-local" in page.text
    assert not mock.calls


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"patient": "", "hook": "patient-view"}, "patient id"),
        ({"patient": PATIENT_ID, "hook": "order-sign"}, "needs an order"),
        ({"patient": PATIENT_ID, "hook": "encounter-start"}, "no service answers"),
    ],
)
def test_the_patient_form_says_what_is_wrong(
    with_form: TestClient, fields: dict[str, str], says: str
) -> None:
    with respx.mock() as mock:
        page = submit(with_form, fhirServer=FHIR_BASE, **fields)
    assert page.status_code == 400
    assert says in page.text
    assert not mock.calls


def test_a_server_that_fails_shows_what_was_fetched_and_the_412(with_form: TestClient) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__startswith=FHIR_BASE).respond(503)
        page = submit(with_form, fhirServer=FHIR_BASE, patient=PATIENT_ID, hook="patient-view")
    assert page.status_code == 412
    assert "the FHIR server answered 503" in page.text
    assert "412: cannot check this patient" in page.text


def test_any_server_is_refused_when_tokens_are_required() -> None:
    with pytest.raises(ValidationError, match="development"):
        Settings(auth="required", preview_fhir_servers="*")


def test_an_example_with_levels_shows_its_level_story_under_its_cards(
    services: list[Service], settings: Settings
) -> None:
    app = build_app(services, settings, load_examples(services), clock=fixed(now()), story=story_renderer())
    with TestClient(app) as client:
        page = client.get("/preview/level-story").text
        quiet = client.get("/preview/patient-view-minimal").text
    assert '<section class="story"><h2>Level story</h2><figure class="level-story"><svg' in page
    assert (
        '<title id="story-title">Tacrolimus level story for Marta Example, born 1971-04-17, female,'
        " patient id example," in page
    )
    assert "<caption>Tacrolimus levels</caption>" in page
    assert page.index("No cards") < page.index('<section class="story">')  # under the cards
    assert "Level story" not in quiet  # no level, dose or drug: nothing drawn


def test_the_hook_path_never_draws_the_level_story(services: list[Service], settings: Settings) -> None:
    def refuse(record: object, now: object) -> str:
        raise AssertionError("the level story was drawn on a hook's path")

    example = next(e for e in load_examples(services) if e.id == "level-story")
    with TestClient(build_app(services, settings, clock=fixed(example.as_of), story=refuse)) as client:
        answer = client.post(f"/cds-services/{example.service_id}", json=example.request)
    assert answer.status_code == 200
    assert "<svg" not in answer.text
