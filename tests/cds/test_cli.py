import json
from importlib.metadata import version
from pathlib import Path

import jwt
import pytest

from cds import __version__
from cds.cli import main
from tests.builders import EXAMPLES, full_prefetch, hook_request, tacrolimus


def test_services_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["services"]) == 0
    out = capsys.readouterr().out
    assert "tacrolimus-patient-view" in out
    assert "order-select" in out
    assert "order-sign" in out


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
    assert "412" in err
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
