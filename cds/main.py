"""Where the app is assembled: the one module of ``cds`` that imports the clinical ``cards`` package."""

import logging

from fastapi import FastAPI

from cds.app import build_app
from cds.service import Service
from cds.settings import Settings, get_settings


def services() -> list[Service]:
    """Every service with its card families; raises KnowledgeError when a knowledge file is broken."""
    from cards import load_services

    return load_services()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its lines name every FHIR URL called
    return build_app(services(), settings)
