"""The burden panel (bench/panel/): every call of its 39 patients shows the cards the pharmacist wants.

The wanted cards were written from the sources and issue 14's targets next to each request, not derived
from the service; bench/panel/README.md gives each reason and the judgement calls."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_panel_call_shows_the_wanted_cards() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.panel", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Calls matching the wanted cards: 41 of 41" in run.stdout
