"""Fuzz every endpoint against the OpenAPI document: whatever is sent, the service never answers 5xx."""

from typing import Any

import hypothesis
import schemathesis
from fastapi import FastAPI
from schemathesis import Case

from cards import load_services
from cds.app import build_app
from cds.clock import fixed
from cds.settings import Settings
from tests.clock import now


def make_app() -> FastAPI:
    return build_app(
        load_services(), Settings(database_url="sqlite://", auth="off", fhir_deadline=0.5), clock=fixed(now())
    )


schema = schemathesis.openapi.from_asgi("/openapi.json", make_app())


@schema.parametrize()
@hypothesis.settings(max_examples=60, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_no_endpoint_answers_5xx(case: "Case[Any]") -> None:
    response = case.call()
    assert response.status_code < 500, (case.path, case.body, response.text)
