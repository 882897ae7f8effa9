"""Where the app is assembled: the one module of ``cds`` that imports the clinical ``cards`` package."""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from cds.app import build_app
from cds.logs import configure
from cds.record import PatientRecord
from cds.service import Service, SitePolicy
from cds.settings import Settings, get_settings
from cds.smart import StoryRenderer, launch_url


def assembled(settings: Settings | None = None) -> tuple[list[Service], SitePolicy]:
    """Every service with its card families as the site file (CDS_SITE_FILE) runs them, and the site's
    policy; raises KnowledgeError or ConfigError naming a broken knowledge or site file."""
    from cards import assemble

    settings = settings or get_settings()
    return assemble(settings.site_file, story_url=launch_url(settings))


def services(settings: Settings | None = None) -> list[Service]:
    return assembled(settings)[0]


def example_as_of(path: Path) -> datetime | None:
    """The instant a bundled example patient's dates were written for, when ``path`` is one."""
    from cards.examples import as_of

    return as_of(path)


def story_renderer(settings: Settings | None = None) -> StoryRenderer:
    """What draws the patient's level story (cards/story.py, cards/picture.py) for the SMART app, the
    preview page and `try --chart`: never on a hook's path."""
    from cards import story_renderer as renderer

    settings = settings or get_settings()
    return renderer(settings.site_file)


def story_svg(settings: Settings | None = None) -> Callable[[PatientRecord], str]:
    """The level story's picture alone, as an SVG document (`try --chart`)."""
    from cards import story_svg as draw

    settings = settings or get_settings()
    return draw(settings.site_file)


def create_app(settings: Settings | None = None) -> FastAPI:
    from cards import load_examples

    settings = settings or get_settings()
    configure(settings.log_level, settings.log_format)
    offered, policy = assembled(settings)
    return build_app(offered, settings, load_examples(offered), policy, story=story_renderer(settings))
