"""The SMART app's settings: off by default; on, it needs its public URL and the EHRs allowed."""

import pytest
from pydantic import ValidationError

from cds.settings import Settings
from cds.smart import launch_url


def test_the_app_is_off_by_default() -> None:
    settings = Settings(_env_file=None)
    assert settings.smart_client_id is None
    assert settings.smart_issuers == []
    assert launch_url(settings) is None


def test_a_blank_client_id_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_SMART_CLIENT_ID", " ")
    assert Settings(_env_file=None).smart_client_id is None


def test_issuers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_SMART_CLIENT_ID", "level-story")
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", "https://cds.example.org")
    monkeypatch.setenv("CDS_SMART_ISSUERS", "https://ehr.example.org/fhir/, http://127.0.0.1:8080/v/r4/fhir")
    settings = Settings(_env_file=None)
    assert settings.smart_issuers == ["https://ehr.example.org/fhir", "http://127.0.0.1:8080/v/r4/fhir"]
    assert launch_url(settings) == "https://cds.example.org/smart/launch"


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"smart_issuers": ["https://ehr.example.org/fhir"]}, "needs CDS_PUBLIC_BASE_URL"),
        ({"public_base_url": "https://cds.example.org"}, "needs CDS_SMART_ISSUERS"),
        (
            {"public_base_url": "https://cds.example.org", "smart_issuers": ["ehr.example.org"]},
            "not an absolute http(s) FHIR base URL",
        ),
        (
            {"public_base_url": "https://cds.example.org", "smart_issuers": ["*"]},
            "not an absolute http(s) FHIR base URL",
        ),
    ],
)
def test_a_registered_app_needs_its_urls(values: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says.replace("(", r"\(").replace(")", r"\)")):
        Settings(_env_file=None, smart_client_id="level-story", **values)  # type: ignore[arg-type]
