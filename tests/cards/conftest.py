"""The card tests keep no feedback and share one assembly of the services: each test's app needs no database
file (created and synced per test) and no fresh reading of the knowledge files, which is most of what a
scenario test costs (and what mutation testing pays for every mutant)."""

import pytest

from cards import load_services
from cds.service import Service
from cds.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"database_url": "sqlite://"})


@pytest.fixture(scope="session")
def services() -> list[Service]:
    return load_services()
