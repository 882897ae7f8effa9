"""The bundled example patients (`cards/examples/`), for the preview page, the command line and tests."""

from datetime import datetime
from pathlib import Path

import orjson

from cds.clock import parse_instant
from cds.errors import KnowledgeError
from cds.preview import Example
from cds.service import Service

EXAMPLES_DIR = Path(__file__).parent / "examples"


def as_of(path: Path, directory: Path = EXAMPLES_DIR) -> datetime | None:
    """The instant a bundled example is evaluated at, when ``path`` is one of the bundled examples."""
    path, directory = path.resolve(), directory.resolve()
    if path.parent != directory or path.name == "index.json" or not path.is_file():
        return None
    index = orjson.loads((directory / "index.json").read_bytes())
    if path.name not in {entry["file"] for entry in index["examples"]}:
        return None
    return parse_instant(index["asOf"])


def load_examples(services: list[Service], directory: Path = EXAMPLES_DIR) -> list[Example]:
    index = orjson.loads((directory / "index.json").read_bytes())
    try:
        as_of = parse_instant(index["asOf"])
    except (KeyError, ValueError) as error:
        raise KnowledgeError(f"examples index: asOf is missing or wrong ({error})") from None
    by_hook = {service.hook: service.id for service in services}
    examples = []
    for entry in index["examples"]:
        request = orjson.loads((directory / entry["file"]).read_bytes())
        hook = request.get("hook")
        if hook not in by_hook:
            raise KnowledgeError(f"example {entry['file']}: no service answers the hook {hook!r}")
        examples.append(
            Example(
                entry["file"].removesuffix(".json"),
                entry["title"],
                entry["description"],
                by_hook[hook],
                request,
                as_of,
            )
        )
    return examples
