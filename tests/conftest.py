from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cards import load_services
from cds.app import build_app
from cds.models import Card, Source
from cds.record import PatientRecord
from cds.service import Service
from cds.settings import Settings

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


class NamedDrugFamily:
    """A test card family: one card per current medication whose name contains a word."""

    def __init__(self, word: str, needs: Iterable[str] = ("medicationRequests",)) -> None:
        self.word = word
        self.title = f"{word} check"
        self.needs = frozenset(needs)

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        for medication in record.current_medications:
            if any(self.word in name.lower() for name in medication.names):
                yield Card(
                    summary=f"{self.word} found in {medication.ref}",
                    indicator="warning" if medication.selected else "info",
                    source=Source(label="test"),
                )


class BrokenFamily:
    title = "broken check"
    needs = frozenset({"medicationRequests"})

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        raise RuntimeError("bug")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'feedback.db'}",
        fhir_deadline=1.0,
        fhir_request_timeout=0.5,
        auth="off",
    )


@pytest.fixture
def services() -> list[Service]:
    return load_services()


@pytest.fixture
def app(settings: Settings, services: list[Service]) -> FastAPI:
    return build_app(services, settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
