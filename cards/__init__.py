"""Clinical content: the card families, their knowledge (reviewable JSON with citations) and the services.

``load_services()`` reads and checks every knowledge file and builds the services; a broken file raises
``cds.errors.KnowledgeError`` naming the file and entry.
"""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cards import knowledge, picture
from cards.drugs import DrugIdentifier
from cards.examples import load_examples
from cards.services import services
from cards.site import Site, read_site, with_site
from cards.story import StoryBuilder
from cds.record import PatientRecord
from cds.service import Service, SitePolicy


def load_site(path: Path | None, knowledge_dir: Path = knowledge.KNOWLEDGE_DIR) -> Site:
    """The site file, checked against the knowledge; raises ConfigError naming the problem."""
    return read_site(path, knowledge.load(knowledge_dir))


def load_services(knowledge_dir: Path = knowledge.KNOWLEDGE_DIR, site: Site | None = None) -> list[Service]:
    return services(knowledge.load(knowledge_dir), site)


def site_policy(site: Site) -> SitePolicy:
    return SitePolicy(hold_days=site.repeat_hold_days, shown=site.describe())


def assemble(
    site_file: Path | None, knowledge_dir: Path = knowledge.KNOWLEDGE_DIR, story_url: str | None = None
) -> tuple[list[Service], SitePolicy]:
    """The services as the site runs them, and what the site asks of the protocol side (the knowledge
    is read once). `story_url`: the SMART app's launch URL, when the app is registered. Raises
    KnowledgeError or ConfigError naming the problem."""
    loaded = knowledge.load(knowledge_dir)
    site = read_site(site_file, loaded)
    return services(loaded, site, story_url), site_policy(site)


def _story_builder(site_file: Path | None, knowledge_dir: Path) -> tuple[StoryBuilder, knowledge.Knowledge]:
    base = knowledge.load(knowledge_dir)
    loaded = with_site(base, read_site(site_file, base))
    return StoryBuilder(loaded, DrugIdentifier(loaded)), loaded


def story_renderer(
    site_file: Path | None, knowledge_dir: Path = knowledge.KNOWLEDGE_DIR
) -> Callable[[PatientRecord, datetime], str]:
    """What draws a patient's level story (cards/story.py, cards/picture.py) as an HTML fragment: the
    picture and its tables, with the site's targets; '' for a record with no level, dose or drug."""
    builder, loaded = _story_builder(site_file, knowledge_dir)

    def render(record: PatientRecord, now: datetime) -> str:
        return picture.html(builder.story(record), loaded)

    return render


def story_svg(
    site_file: Path | None, knowledge_dir: Path = knowledge.KNOWLEDGE_DIR
) -> Callable[[PatientRecord], str]:
    """The level story's picture alone: a standalone SVG document (`try --chart`)."""
    builder, _ = _story_builder(site_file, knowledge_dir)

    def draw(record: PatientRecord) -> str:
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + picture.svg(builder.story(record)) + "\n"

    return draw


__all__ = [
    "assemble",
    "load_examples",
    "load_services",
    "load_site",
    "site_policy",
    "story_renderer",
    "story_svg",
]
