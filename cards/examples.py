"""The bundled example patients (`cards/examples/`), for the preview page, the command line and tests."""

from pathlib import Path

import orjson

from cds.errors import KnowledgeError
from cds.preview import Example
from cds.service import Service

EXAMPLES_DIR = Path(__file__).parent / "examples"


def load_examples(services: list[Service], directory: Path = EXAMPLES_DIR) -> list[Example]:
    index = orjson.loads((directory / "index.json").read_bytes())
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
            )
        )
    return examples
