"""Clinical content: the card families, their knowledge (reviewable JSON with citations) and the services.

``load_services()`` reads and checks every knowledge file and builds the services; a broken file raises
``cds.errors.KnowledgeError`` naming the file and entry.
"""

from pathlib import Path

from cards import knowledge
from cards.examples import load_examples
from cards.services import services
from cds.service import Service


def load_services(knowledge_dir: Path = knowledge.KNOWLEDGE_DIR) -> list[Service]:
    return services(knowledge.load(knowledge_dir))


__all__ = ["load_examples", "load_services"]
