"""/docs and /redoc work with no network: their scripts and styles come from the service itself. The
OpenAPI document declares the bearer token on the operations that need one."""

import re

import pytest
from fastapi.testclient import TestClient

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_loads_nothing_from_elsewhere(client: TestClient, page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    assets = ASSET.findall(html.text)
    assert assets, "no script or style found"
    for url in assets:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert "fonts.googleapis.com" not in html.text
    assert "cdn.jsdelivr.net" not in html.text


def test_swagger_ui_does_not_call_the_online_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_the_bearer_token_is_declared_where_it_is_needed(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    paths = schema["paths"]
    needs_token = [
        paths["/cds-services"]["get"],
        paths["/cds-services/{service_id}"]["post"],
        paths["/cds-services/{service_id}/feedback"]["post"],
        paths["/report"]["get"],
    ]
    for operation in needs_token:
        assert operation["security"] == [{"bearer": []}], operation["summary"]
    for public in (paths["/healthz"]["get"], paths["/metrics"]["get"]):
        assert "security" not in public, public["summary"]
    assert "tacrolimus-cds token" in schema["info"]["description"]
