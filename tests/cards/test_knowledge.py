import json
import shutil
from pathlib import Path

import pytest

from cards import load_services
from cards.knowledge import KNOWLEDGE_DIR, load
from cds.errors import KnowledgeError

FIXED_TOPICS = {
    "interaction-raises-level",
    "interaction-lowers-level",
    "interaction-toxicity",
    "live-vaccine",
    "breastfeeding",
    "pregnancy",
    "trough-target",
    "dosing",
    "data-incomplete",
}


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target)
    return target


def edit(directory: Path, name: str, change) -> None:  # type: ignore[no-untyped-def]
    path = directory / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_the_shipped_knowledge_loads() -> None:
    knowledge = load()
    assert set(knowledge.topics) >= FIXED_TOPICS
    assert all(s.url.startswith("https://") for s in knowledge.sources.values())
    assert "11253-2" in knowledge.observation_codes("tacrolimus-level")


def test_a_broken_json_file_names_the_file(knowledge_copy: Path) -> None:
    (knowledge_copy / "sources.json").write_text("{ not json")
    with pytest.raises(KnowledgeError, match=r"sources\.json is not valid JSON"):
        load_services(knowledge_copy)


def test_a_bad_entry_names_the_file_and_the_entry(knowledge_copy: Path) -> None:
    edit(knowledge_copy, "sources.json", lambda d: d["sources"]["monograph"].update(url="http://insecure"))
    with pytest.raises(KnowledgeError, match=r"sources\.json: entry 'monograph': url: .*https"):
        load(knowledge_copy)


def test_a_partially_verified_code_needs_a_note(knowledge_copy: Path) -> None:
    edit(knowledge_copy, "observations.json", lambda d: d["codes"]["74097-7"].pop("note"))
    with pytest.raises(KnowledgeError, match=r"observations\.json: entry '74097-7'.*note"):
        load(knowledge_copy)


def test_an_unverified_code_is_refused(knowledge_copy: Path) -> None:
    edit(knowledge_copy, "tacrolimus.json", lambda d: d["rxnorm"]["42316"].update(status="unverified"))
    with pytest.raises(KnowledgeError, match=r"tacrolimus\.json: entry 'rxnorm\.42316\.status'"):
        load(knowledge_copy)


def test_a_missing_file_is_named(knowledge_copy: Path) -> None:
    (knowledge_copy / "topics.json").unlink()
    with pytest.raises(KnowledgeError, match=r"topics\.json is missing"):
        load(knowledge_copy)


def test_cards_can_only_cite_known_sources_and_topics() -> None:
    knowledge = load()
    with pytest.raises(KnowledgeError, match="no source"):
        knowledge.source("wikipedia", "dosing")
    with pytest.raises(KnowledgeError, match="no topic"):
        knowledge.source("monograph", "made-up")
