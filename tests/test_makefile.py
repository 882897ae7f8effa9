"""`make run` installs what the service needs and nothing more; `make test` adds the test tool chain.
Read from `make --dry-run --always-make`, which prints every command a fresh clone would run."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(target: str) -> list[str]:
    result = subprocess.run(  # noqa: S603
        ["make", "--dry-run", "--always-make", target],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "pip install" in line]


def test_make_run_installs_the_runtime_dependencies_only_and_shows_progress() -> None:
    installs = dry_run("run")
    assert installs, "make run installs nothing on a fresh clone"
    assert not any("[dev" in line for line in installs), installs
    assert any(line.endswith("-e .") for line in installs)
    assert not any("--quiet" in line or " -q" in line for line in installs)


def test_make_test_adds_the_dev_extras() -> None:
    installs = dry_run("test")
    assert any("-e '.[dev]'" in line for line in installs), installs
    assert not any("--quiet" in line for line in installs)
