import io
import json
import re
from importlib.metadata import version
from pathlib import Path

import jwt
import orjson
import pytest
import respx

from cds import __version__
from cds.cli import main
from cds.settings import get_settings
from tests.builders import EXAMPLES, FHIR_BASE, PATIENT_ID, bundle, full_prefetch, hook_request, tacrolimus


def test_services_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["services"]) == 0
    out = capsys.readouterr().out
    assert "tacrolimus-patient-view" in out
    assert "order-select" in out
    assert "order-sign" in out


def test_services_show_the_site_settings_in_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("name: Renal unit\nrepeat_hold_days: 3\nfamilies: {topical: false}\n")
    monkeypatch.setenv("CDS_SITE_FILE", str(site))
    get_settings.cache_clear()
    try:
        assert main(["services"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "site settings in force" in out
    assert "name: Renal unit" in out
    assert "repeat hold: 3 days" in out
    assert "families off: topical" in out


def test_evaluate_prints_cards_readably(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["allergies"]
    request = tmp_path / "request.json"
    request.write_text(json.dumps(hook_request(prefetch=prefetch)))
    assert main(["evaluate", str(request)]) == 0
    out = capsys.readouterr().out
    assert "[WARNING]" in out
    assert "topic: data-incomplete" in out
    assert "allergies" in out


def test_evaluate_json_prints_the_raw_response(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(EXAMPLES / "order-select-r4-clarithromycin.json"), "--json"]) == 0
    assert "cards" in json.loads(capsys.readouterr().out)


def test_evaluate_reports_bad_input_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.json"
    assert main(["evaluate", str(missing)]) == 2
    request = tmp_path / "request.json"
    request.write_text(json.dumps(hook_request()))
    assert main(["evaluate", str(request)]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err
    assert "412: " in err  # the status as the command prints it
    assert "Traceback" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"tacrolimus-cds {__version__}"
    assert __version__ == version("tacrolimus-cds")


def test_help_names_every_command_in_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("serve", "services", "evaluate", "report"):
        assert f"\n    {command} " in out, command
    assert "``" not in out  # no reStructuredText markup


def test_a_bad_port_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(SystemExit) as exit_:
        main(["serve"])
    assert exit_.value.code == 2
    assert "invalid int value: 'eighty'" in capsys.readouterr().err


def test_token_prints_a_sandbox_token_for_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "http://127.0.0.1:8000/cds-services"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "http://127.0.0.1:8000/cds-services"
    assert claims["iss"] == "https://sandbox.cds-hooks.org"


@pytest.mark.parametrize("url", ["127.0.0.1:8000/cds-services", "ftp://host/x", "/cds-services"])
def test_token_needs_an_absolute_url(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", url]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "not an absolute http(s) URL" in captured.err


def fhir_server(mock: respx.MockRouter) -> None:
    mock.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}").respond(json={"resourceType": "Patient", "id": PATIENT_ID})
    mock.get(url__regex=rf"^{FHIR_BASE}/MedicationRequest\?.*").respond(json=bundle([tacrolimus()]))
    mock.get(url__regex=rf"^{FHIR_BASE}/\w+\?.*").respond(json=bundle([]))


def test_try_fetches_the_patient_and_prints_what_was_fetched_and_the_cards(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        fhir_server(mock)
        code = main(
            ["try", "--fhir-server", FHIR_BASE, "--patient", PATIENT_ID, "--hook", "order-select",
             "--order", "clarithromycin"]
        )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert f"tacrolimus-order-select for Patient/{PATIENT_ID} on {FHIR_BASE}" in out
    assert "  medicationRequests: 1 resource" in out
    assert "[WARNING] Clarithromycin raises tacrolimus levels" in out


def test_try_json_is_replayed_by_evaluate_and_never_holds_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("secret-token\n"))
    with respx.mock(assert_all_called=False) as mock:
        fhir_server(mock)
        code = main(["try", "--fhir-server", FHIR_BASE, "--patient", PATIENT_ID, "--token", "-", "--json"])
        assert mock.calls.last.request.headers["Authorization"] == "Bearer secret-token"
    assert code == 0
    out = capsys.readouterr().out
    assert "secret-token" not in out
    printed = json.loads(out)
    assert printed["request"]["prefetch"]["patient"]["id"] == PATIENT_ID
    saved = tmp_path / "mine.json"
    saved.write_text(out)
    with respx.mock() as mock:  # the prefetch is complete: replaying calls no server
        assert main(["evaluate", str(saved), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert [c["summary"] for c in replayed["cards"]] == [c["summary"] for c in printed["response"]["cards"]]
    assert replayed["cards"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--fhir-server", "http://169.254.169.254/fhir", "--patient", "p"], "link-local"),
        (["--fhir-server", FHIR_BASE, "--patient", "p", "--hook", "order-sign"], "needs an order"),
        (["--fhir-server", FHIR_BASE, "--patient", "p", "--hook", "order-sign", "--order", "a.json"], "file"),
        (["--fhir-server", FHIR_BASE, "--patient", "p", "--token", " "], "token is empty"),
        (["--fhir-server", FHIR_BASE, "--patient", "p", "--order", "clarithromycin"], "--hook order-select"),
    ],
)  # fmt: skip
def test_try_says_what_is_wrong_without_a_traceback(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with respx.mock() as mock:
        assert main(["try", *args]) == 2
        assert not mock.calls
    err = capsys.readouterr().err
    assert says in err
    assert "Traceback" not in err


def test_try_reports_a_412_with_what_was_fetched(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__startswith=FHIR_BASE).respond(503)
        assert main(["try", "--fhir-server", FHIR_BASE, "--patient", PATIENT_ID]) == 1
    captured = capsys.readouterr()
    assert (
        "  medicationRequests: the FHIR server could not provide it: the FHIR server answered 503"
        in captured.out
    )
    assert captured.err.startswith("412: cannot check this patient")


def test_evaluate_picks_the_service_from_the_hook_or_says_which_hooks_are_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps(hook_request(hook="encounter-start")))
    assert main(["evaluate", str(request)]) == 2
    err = capsys.readouterr().err
    assert "no service answers the hook 'encounter-start'" in err
    assert "order-select (tacrolimus-order-select)" in err


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("CDS_AUTH", "bogus", "CDS_AUTH: Input should be 'required', 'sandbox' or 'off'"),
        ("CDS_PREVIEW_FHIR_SERVERS", "ehr.example.org", "CDS_PREVIEW_FHIR_SERVERS: 'ehr.example.org' is not"),
    ],
)
def test_a_bad_setting_stops_start_up_with_its_name_and_no_traceback(
    variable: str, value: str, says: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    try:
        assert main(["serve"]) == 3
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith(f"cannot start: {says}")
    assert "Traceback" not in err
    assert "errors.pydantic.dev" not in err


def story_server(mock: respx.MockRouter) -> None:
    """The bundled example "Six months of levels" served as a FHIR server."""
    prefetch = orjson.loads((EXAMPLES / "level-story.json").read_bytes())["prefetch"]
    mock.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}").respond(json={**prefetch["patient"], "id": PATIENT_ID})
    for resource, key in (
        ("MedicationRequest", "medicationRequests"),
        ("Condition", "conditions"),
        ("Observation", "observations"),
    ):
        mock.get(url__regex=rf"^{FHIR_BASE}/{resource}\?.*").respond(json=prefetch[key])
    mock.get(url__regex=rf"^{FHIR_BASE}/\w+\?.*").respond(json=bundle([]))


@pytest.mark.now("2026-12-01T09:00:00Z")
def test_try_chart_writes_the_level_story_as_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chart = tmp_path / "story.svg"
    with respx.mock(assert_all_called=False) as mock:
        story_server(mock)
        code = main(
            ["try", "--fhir-server", FHIR_BASE, "--patient", PATIENT_ID, "--now", "2026-12-01T09:00:00Z",
             "--chart", str(chart)]
        )  # fmt: skip
    assert code == 0
    assert f"level story written to {chart}" in capsys.readouterr().err
    drawn = chart.read_text(encoding="utf-8")
    assert drawn.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')
    title = re.search(r'<title id="story-title">Tacrolimus level story for ([^<]+)</title>', drawn)
    assert title is not None
    assert f"patient id {PATIENT_ID}, " in title.group(1)
    assert drawn.count('<circle class="trough') == 6 + 2  # the example's six troughs, the legend's two


def test_try_chart_says_when_the_file_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        story_server(mock)
        code = main(
            ["try", "--fhir-server", FHIR_BASE, "--patient", PATIENT_ID,
             "--chart", str(tmp_path / "missing" / "story.svg")]
        )  # fmt: skip
    assert code != 0
    err = capsys.readouterr().err
    assert "cannot write the chart to" in err
    assert "Traceback" not in err
