"""Where the app is assembled: the one module of ``cds`` that imports the clinical ``cards`` package."""

from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from cds.app import build_app
from cds.logs import configure
from cds.service import Service, SitePolicy
from cds.settings import Settings, get_settings


def assembled(settings: Settings | None = None) -> tuple[list[Service], SitePolicy]:
    """Every service with its card families as the site file (CDS_SITE_FILE) runs them, and the site's
    policy; raises KnowledgeError or ConfigError naming a broken knowledge or site file."""
    from cards import assemble

    return assemble((settings or get_settings()).site_file)


def services(settings: Settings | None = None) -> list[Service]:
    return assembled(settings)[0]


def example_as_of(path: Path) -> datetime | None:
    """The instant a bundled example patient's dates were written for, when ``path`` is one."""
    from cards.examples import as_of

    return as_of(path)


def create_app(settings: Settings | None = None) -> FastAPI:
    from cards import load_examples

    settings = settings or get_settings()
    configure(settings.log_level, settings.log_format)
    offered, policy = assembled(settings)
    return build_app(offered, settings, load_examples(offered), policy)
