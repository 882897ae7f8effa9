"""The bundled examples: each is evaluated at the instant its dates were written for (the index's asOf),
read by the hook its request names; a broken index or an example no service answers is a clear error."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from cards import load_services
from cards.examples import EXAMPLES_DIR, as_of, load_examples
from cds.errors import KnowledgeError

SERVICES = load_services()
BUNDLED_AS_OF = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # cards/examples/index.json "asOf"


def write_examples(directory: Path, index: dict[str, Any], requests: dict[str, dict[str, Any]]) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "index.json").write_bytes(orjson.dumps(index))
    for name, request in requests.items():
        (directory / name).write_bytes(orjson.dumps(request))
    return directory


def entry(file: str) -> dict[str, str]:
    return {"file": file, "title": f"title of {file}", "description": f"about {file}"}


def test_a_bundled_example_is_evaluated_at_the_index_instant() -> None:
    assert as_of(EXAMPLES_DIR / "level-story.json") == BUNDLED_AS_OF
    # a path written another way to the same file
    assert as_of(EXAMPLES_DIR / ".." / "examples" / "level-story.json") == BUNDLED_AS_OF


def test_any_other_file_is_evaluated_now(tmp_path: Path) -> None:
    assert as_of(EXAMPLES_DIR / "index.json") is None  # the index is not an example
    assert as_of(EXAMPLES_DIR / "no-such-example.json") is None
    copy = tmp_path / "level-story.json"  # the same request, elsewhere: its dates are the user's
    copy.write_bytes((EXAMPLES_DIR / "level-story.json").read_bytes())
    assert as_of(copy) is None
    directory = write_examples(
        tmp_path / "mine",
        {"asOf": "2025-01-02T03:04:05Z", "examples": [entry("listed.json")]},
        {"listed.json": {"hook": "patient-view"}, "unlisted.json": {"hook": "patient-view"}},
    )
    assert as_of(directory / "listed.json", directory) == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert as_of(directory / "unlisted.json", directory) is None
    (directory / "listed.json").unlink()  # listed, but no such file: not a bundled example
    assert as_of(directory / "listed.json", directory) is None


def test_examples_are_read_with_their_service_and_instant(tmp_path: Path) -> None:
    directory = write_examples(
        tmp_path,
        {"asOf": "2025-01-02T03:04:05Z", "examples": [entry("sign.json"), entry("chart.json")]},
        {"sign.json": {"hook": "order-sign"}, "chart.json": {"hook": "patient-view"}},
    )
    examples = load_examples(SERVICES, directory)
    assert [(e.id, e.title, e.description, e.service_id) for e in examples] == [
        ("sign", "title of sign.json", "about sign.json", "tacrolimus-order-sign"),
        ("chart", "title of chart.json", "about chart.json", "tacrolimus-patient-view"),
    ]
    assert examples[0].request == {"hook": "order-sign"}
    assert {e.as_of for e in examples} == {datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)}


def test_every_bundled_example_is_read() -> None:
    listed = orjson.loads((EXAMPLES_DIR / "index.json").read_bytes())["examples"]
    examples = load_examples(SERVICES)
    assert [e.id for e in examples] == [item["file"].removesuffix(".json") for item in listed]
    assert {e.as_of for e in examples} == {BUNDLED_AS_OF}


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ({"examples": []}, "examples index: asOf is missing or wrong ('asOf')"),
        ({"asOf": "yesterday", "examples": []}, "examples index: asOf is missing or wrong"),
    ],
)
def test_an_index_without_its_instant_is_refused(tmp_path: Path, index: dict[str, Any], message: str) -> None:
    directory = write_examples(tmp_path, index, {})
    with pytest.raises(KnowledgeError) as raised:
        load_examples(SERVICES, directory)
    assert str(raised.value).startswith(message)


def test_an_example_no_service_answers_is_refused(tmp_path: Path) -> None:
    directory = write_examples(
        tmp_path,
        {"asOf": "2025-01-02T03:04:05Z", "examples": [entry("discharge.json")]},
        {"discharge.json": {"hook": "encounter-discharge"}},
    )
    with pytest.raises(KnowledgeError) as raised:
        load_examples(SERVICES, directory)
    assert str(raised.value) == "example discharge.json: no service answers the hook 'encounter-discharge'"
