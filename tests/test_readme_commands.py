"""The commands the README and the docs/ pages show work as written: every shell block says whether it is
run, and those that are run work on this checkout, offline and bounded in time.

Markers, an HTML comment on the line before a ```sh fence (GitHub does not show it):

- ``<!-- shell: run -->``: run with bash (errexit, pipefail) from the repository's root; must exit 0
  within 60 s.
- ``<!-- shell: serves -->``: starts the service and keeps it running. It is started in the background,
  waited for (``/healthz``), and stopped at the next ``serves`` block or the end of the page; the ``run``
  blocks after it call it, as a reader would from another terminal.
- ``<!-- shell: not run (why) -->``: shown only; the reason is required.

Run as a reader would, with three differences that keep the test bounded and safe on a shared machine:
the service listens on a free port (``127.0.0.1:8000``, ``localhost:8000`` and ``--port 8000`` in the
blocks, and ``PORT`` for make, name it), its database is a temporary file, and outbound HTTP goes to a
proxy that does not exist, so a block that needs the internet fails instead of reaching it.
"""

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.load import free_port

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!--\s*shell:\s*(run|serves|not run \((?P<why>.+)\))\s*-->$")
FENCE = re.compile(r"^```(\w*)\s*$")
NO_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there
TIMEOUT = 60


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    kind: str  # run, serves, not run, or "" when unmarked
    text: str

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def shell_blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    blocks, number = [], 0
    while number < len(lines):
        fence = FENCE.match(lines[number].strip())
        if fence is None:
            number += 1
            continue
        end = next(i for i in range(number + 1, len(lines)) if lines[i].strip() == "```")
        if fence.group(1) in ("sh", "bash", "shell", "console"):
            previous = next((lines[i].strip() for i in range(number - 1, -1, -1) if lines[i].strip()), "")
            marker = MARKER.match(previous)
            kind = "" if marker is None else ("not run" if marker.group("why") else marker.group(1))
            blocks.append(Block(page, number + 1, kind, "\n".join(lines[number + 1 : end])))
        number = end + 1
    return blocks


def on_port(text: str, port: int) -> str:
    for old in ("127.0.0.1:8000", "localhost:8000", "--port 8000"):
        text = text.replace(old, old.replace("8000", str(port)))
    return text


def environment(port: int, database: Path) -> dict[str, str]:
    """A reader's shell: none of the service's settings or make's state from the process running pytest."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CDS_")
        and k not in {"HOST", "PORT", "WORKERS", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
    }
    env.update(PORT=str(port), CDS_DATABASE_URL=f"sqlite:///{database}", NO_COLOR="1")
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        env[name] = env[name.upper()] = NO_PROXY
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


class Service:
    """A `serves` block running in its own process group, so that stopping it stops make's children."""

    def __init__(self, block: Block, port: int, env: dict[str, str], log: Path) -> None:
        self.block, self.port, self.log = block, port, log
        self.process = subprocess.Popen(  # noqa: S603
            ["bash", "-c", on_port(block.text, port)],  # noqa: S607
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        with httpx.Client(trust_env=False, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    pytest.fail(f"{self.block.where()}: the service exited:\n{self.log.read_text()}")
                try:
                    if client.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"{self.block.where()}: no answer within {TIMEOUT} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def runtime_installed() -> bool:
    """make run would install nothing (else it would reach for PyPI, which this test does not allow)."""
    probe = subprocess.run(
        ["make", "--question", ".venv/.runtime-installed"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_shell_block_says_whether_it_is_run(page: Path) -> None:
    for block in shell_blocks(page):
        assert block.kind, (
            f"{block.where()}: mark the block <!-- shell: run -->, <!-- shell: serves --> or"
            " <!-- shell: not run (why) -->"
        )


RUN_PAGES = [page for page in PAGES if any(b.kind in ("run", "serves") for b in shell_blocks(page))]


@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda page: page.name)
def test_the_commands_work_as_written(page: Path, tmp_path: Path) -> None:
    if not runtime_installed():
        pytest.skip("run `make run` or `make test` once first: the blocks run make, which must not install")
    port = free_port()
    env = environment(port, tmp_path / "cds.db")
    service: Service | None = None
    ran = 0
    try:
        for number, block in enumerate(shell_blocks(page)):
            if block.kind == "serves":
                if service is not None:
                    service.stop()
                service = Service(block, port, env, tmp_path / f"service-{number}.log")
                service.wait_until_up()
            elif block.kind == "run":
                script = on_port(block.text, port)
                result = subprocess.run(  # noqa: S603
                    ["bash", "-euo", "pipefail", "-c", script],  # noqa: S607
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=TIMEOUT,
                    check=False,
                )
                assert result.returncode == 0, (
                    f"{block.where()} exited {result.returncode}:\n{script}\n{result.stdout}\n{result.stderr}"
                )
                ran += 1
    finally:
        if service is not None:
            service.stop()
    assert ran, f"{page.name}: no block was run"


def test_the_markers_are_read(tmp_path: Path) -> None:
    """The parser finds what the tests above rely on; a misspelt marker is no marker."""
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- shell: serves -->\n```sh\nmake run\n```\n\n<!-- shell: run -->\n\n```sh\ncurl x\n```\n"
        "<!-- shell: not run (needs Docker) -->\n```sh\ndocker compose up\n```\n"
        "<!-- shell: not run () -->\n```sh\nx\n```\n<!-- shell: runs -->\n```sh\ny\n```\n"
        "```json\n{}\n```\n"
    )
    blocks = [(b.line, b.kind, b.text) for b in shell_blocks(page)]
    assert blocks == [
        (2, "serves", "make run"),
        (8, "run", "curl x"),
        (12, "not run", "docker compose up"),
        (16, "", "x"),
        (20, "", "y"),
    ]
    readme = shell_blocks(ROOT / "README.md")
    assert [b.kind for b in readme].count("serves") == 2
