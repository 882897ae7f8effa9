import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


# -- the cross-file checks (cards/knowledge.py check, check_dosing): each names the file and the entry
PAXLOVID = "nirmatrelvir-ritonavir"


Change = Callable[[dict[str, Any]], None]


def paxlovid(**changes: object) -> Change:
    return lambda d: d["interactions"][PAXLOVID].update(changes)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (paxlovid(drugs=["nosuchdrug"]), "unknown drug 'nosuchdrug'"),
        (paxlovid(classes=["nosuchclass"]), "unknown class 'nosuchclass'"),
        (
            paxlovid(citations=[{"source": "nosuchsource", "section": "s", "references": []}]),
            "unknown source 'nosuchsource'",
        ),
        (paxlovid(source="nosuchsource"), "unknown source 'nosuchsource'"),
        (paxlovid(indications=["nosuchindication"]), "unknown indication 'nosuchindication'"),
        (paxlovid(summary="{drug}" + "x" * 128), "summary too long for 'Nirmatrelvir'"),  # 12 + 128
    ],
    ids=["drug", "class", "citation-source", "source", "indication", "summary-140"],
)
def test_an_interaction_entry_naming_what_does_not_exist_is_refused(
    knowledge_copy: Path, change: Change, said: str
) -> None:
    edit(knowledge_copy, "interactions.json", change)
    with pytest.raises(KnowledgeError) as raised:
        load(knowledge_copy)
    assert str(raised.value) == (
        f"knowledge file {knowledge_copy / 'interactions.json'}: entry '{PAXLOVID}': {said}"
    )


def test_a_summary_of_139_characters_fits_in_a_card(knowledge_copy: Path) -> None:
    edit(knowledge_copy, "interactions.json", paxlovid(summary="{drug}" + "x" * 127))  # "Nirmatrelvir": 12
    assert load(knowledge_copy).interactions.interactions[PAXLOVID].summary == "{drug}" + "x" * 127


@pytest.mark.parametrize(
    ("field", "said"),
    [
        ("formulation", "unknown formulation 'nosuch'"),
        ("organ", "unknown indication 'nosuch'"),
        ("source", "unknown source 'nosuch'"),
    ],
)
def test_a_starting_dose_naming_what_does_not_exist_is_refused(
    knowledge_copy: Path, field: str, said: str
) -> None:
    edit(knowledge_copy, "dosing.json", lambda d: d["starting_doses"][0].update({field: "nosuch"}))
    with pytest.raises(KnowledgeError) as raised:
        load(knowledge_copy)
    assert str(raised.value) == f"knowledge file {knowledge_copy / 'dosing.json'}: starting_doses[0]: {said}"


def test_a_target_naming_a_formulation_that_does_not_exist_is_refused(knowledge_copy: Path) -> None:
    edit(knowledge_copy, "dosing.json", lambda d: d["targets"][0].update({"formulation": "nosuch"}))
    with pytest.raises(KnowledgeError) as raised:
        load(knowledge_copy)
    expected = f"knowledge file {knowledge_copy / 'dosing.json'}: targets[0]: unknown formulation 'nosuch'"
    assert str(raised.value) == expected


def test_a_target_for_any_formulation_is_accepted(knowledge_copy: Path) -> None:
    edit(knowledge_copy, "dosing.json", lambda d: d["targets"][0].update({"formulation": "any"}))
    assert load(knowledge_copy).dosing.targets[0].formulation == "any"


# -- a file-level field that is missing or of the wrong kind: the message names the file's path and the field
@pytest.mark.parametrize("name", ["topics.json", "observations.json"])
@pytest.mark.parametrize("value", ["", 7], ids=["empty", "number"])
def test_a_system_that_is_not_a_non_empty_string_is_refused(
    knowledge_copy: Path, name: str, value: object
) -> None:
    edit(knowledge_copy, name, lambda d: d.update(system=value))
    with pytest.raises(KnowledgeError) as raised:
        load(knowledge_copy)
    assert str(raised.value) == f"knowledge file {knowledge_copy / name}: 'system' must be a non-empty string"


@pytest.mark.parametrize(
    ("name", "field"),
    [("sources.json", "sources"), ("topics.json", "topics"), ("observations.json", "codes")],
)
@pytest.mark.parametrize("value", [{}, ["an entry"]], ids=["empty", "list"])
def test_entries_that_are_not_a_non_empty_object_are_refused(
    knowledge_copy: Path, name: str, field: str, value: object
) -> None:
    edit(knowledge_copy, name, lambda d: d.update({field: value}))
    with pytest.raises(KnowledgeError) as raised:
        load(knowledge_copy)
    expected = f"knowledge file {knowledge_copy / name}: {field!r} must be a non-empty object"
    assert str(raised.value) == expected


def test_every_problem_of_an_entry_is_named_with_its_field(knowledge_copy: Path) -> None:
    def two_problems(d: dict[str, Any]) -> None:
        del d["sources"]["monograph"]["label"]
        d["sources"]["monograph"]["url"] = "http://insecure"

    edit(knowledge_copy, "sources.json", two_problems)
    with pytest.raises(KnowledgeError) as raised:
        load(knowledge_copy)
    assert str(raised.value) == (
        f"knowledge file {knowledge_copy / 'sources.json'}: entry 'monograph': "
        "label: Field required; url: Value error, must be an https URL"
    )


def test_an_entry_that_is_not_an_object_is_named_as_the_entry(knowledge_copy: Path) -> None:
    edit(knowledge_copy, "topics.json", lambda d: d["topics"].update(dosing="Dosing"))
    with pytest.raises(KnowledgeError) as raised:
        load(knowledge_copy)
    assert str(raised.value).startswith(
        f"knowledge file {knowledge_copy / 'topics.json'}: entry 'dosing': entry: Input should be"
    )


def test_a_file_that_is_not_an_object_is_refused(knowledge_copy: Path) -> None:
    (knowledge_copy / "topics.json").write_text("[]")
    with pytest.raises(KnowledgeError) as raised:
        load(knowledge_copy)
    assert str(raised.value) == f"knowledge file {knowledge_copy / 'topics.json'} must hold a JSON object"


def test_observation_codes_of_several_groups_are_theirs_alone() -> None:
    # LOINC (reference section 4): creatinine 2160-0; potassium 2823-3 (serum/plasma) and 6298-4 (blood)
    knowledge = load()
    assert knowledge.observation_codes("creatinine", "potassium") == ("2160-0", "2823-3", "6298-4")
    assert knowledge.observation_codes("potassium") == ("2823-3", "6298-4")
    assert {"2160-0", "11253-2", "29463-7"} <= set(knowledge.observation_codes())
