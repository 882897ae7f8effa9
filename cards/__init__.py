"""Clinical content: the card families, their knowledge (reviewable JSON with citations) and the services.

``load_services()`` reads and checks every knowledge file and builds the services; a broken file raises
``cds.errors.KnowledgeError`` naming the file and entry.
"""

from pathlib import Path

from cards import knowledge
from cards.examples import load_examples
from cards.services import services
from cards.site import Site, read_site
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


__all__ = ["assemble", "load_examples", "load_services", "load_site", "site_policy"]
