"""The README's card table is how a pharmacist reviews the content: it must not drift from the knowledge."""

from pathlib import Path

from cards.knowledge import load

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_topic_is_in_the_readme() -> None:
    for code in load().topics:
        assert f"`{code}`" in README, code


def test_every_interaction_is_in_the_card_table() -> None:
    knowledge = load()
    for key, entry in knowledge.interactions.interactions.items():
        summary = entry.summary.replace("{drug}", "*drug*")
        rows = [line for line in README.splitlines() if line.startswith("| ") and f"| {summary} |" in line]
        assert rows, key
        assert all(f"| `{entry.indicator}` |" in row for row in rows), key
