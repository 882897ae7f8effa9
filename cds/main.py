"""Where the app is assembled: the one module of ``cds`` that imports the clinical ``cards`` package."""

from fastapi import FastAPI

from cds.app import build_app
from cds.logs import configure
from cds.service import Service
from cds.settings import Settings, get_settings


def services() -> list[Service]:
    """Every service with its card families; raises KnowledgeError when a knowledge file is broken."""
    from cards import load_services

    return load_services()


def create_app(settings: Settings | None = None) -> FastAPI:
    from cards import load_examples

    settings = settings or get_settings()
    configure(settings.log_level, settings.log_format)
    offered = services()
    return build_app(offered, settings, load_examples(offered))
