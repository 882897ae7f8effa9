"""make mutants: mutation testing of the clinical logic (cards/*.py) and the record reading (cds/record.py)
with mutmut (configured in pyproject.toml's [tool.mutmut]), then a report of every surviving mutant.

mutmut changes one thing at a time inside a function (an operator, a constant, a string, a condition) and
runs the tests that reach that function; a mutant the tests still pass on "survived". Each survivor must be
killed by a test whose expected value comes from a source, or explained in tests/mutants-explained.json
(an equivalent mutant: the change cannot alter any answer). tests/test_mutants_report.py fails while the
committed report names a survivor that is neither.

    python -m tests.mutants [PATTERN ...]     e.g. "cards.vaccines*" (default: everything configured)
    python -m tests.mutants --survivors       test only the last run's survivors again (after new tests)
    python -m tests.mutants --report-only     rewrite the report from the last run's results

mutmut keeps its results in mutants/ (ignored by git) and re-tests only what changed since, so a second run
costs a fraction of the first. Not in CI: a full run takes far longer than the suite.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
REPORT = ROOT / "docs" / "mutants-report.md"
EXPLAINED = Path(__file__).resolve().parent / "mutants-explained.json"
# mutmut's exit codes (mutmut/stats.py status_by_exit_code); any other is "suspicious"
STATUS = {1: "killed", 3: "killed", 37: "type error", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          255: "timeout"}  # fmt: skip
CAUGHT = ("type error", "killed", "timeout")  # refused by mypy, failed a test, or ran out of time


def results() -> dict[str, dict[str, str]]:
    """Status of every mutant of the last run, by module: {module: {mutant name: status}}."""
    found: dict[str, dict[str, str]] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        module = ".".join(meta.relative_to(MUTANTS).with_suffix("").with_suffix("").parts)
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        found[module] = {
            name: ("not checked" if code is None else STATUS.get(code, "suspicious"))
            for name, code in codes.items()
        }
    return found


def diff(name: str) -> str:
    shown = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "mutmut", "show", name], capture_output=True, text=True, check=False, cwd=ROOT
    )
    lines = [line for line in shown.stdout.splitlines() if line.startswith(("+", "-", "@@"))]
    return "\n".join(line for line in lines if not line.startswith(("+++", "---")))


def _results_date() -> datetime:
    """When the results were last written (the stats file's time): the report dates the run, not today."""
    return datetime.fromtimestamp((MUTANTS / "mutmut-stats.json").stat().st_mtime, UTC)


def _last_run_line() -> str:
    """The previous report's line saying what was run and how long it took (--report-only keeps it)."""
    previous = REPORT.read_text().splitlines() if REPORT.exists() else []
    found = [line for line in previous if line.startswith("- Run on ")]
    return found[0] if found else f"- Rewritten on {_results_date():%Y-%m-%d} from the results in mutants/"


def write_report(ran: str, seconds: float | None) -> int:
    """Writes docs/mutants-report.md; returns the number of survivors that are not explained."""
    explained: dict[str, str] = json.loads(EXPLAINED.read_text())
    found = results()
    checked = {module: s for module, s in found.items() if any(v != "not checked" for v in s.values())}
    total = Counter(status for statuses in checked.values() for status in statuses.values())
    caught = sum(total[s] for s in CAUGHT)
    tested = caught + total["survived"]
    score = f"{100 * caught / tested:.1f} %" if tested else "none tested"
    waiting = sum(len(s) for module, s in found.items() if module not in checked)
    survivors = [n for s in checked.values() for n, v in sorted(s.items()) if v == "survived"]
    unexplained = [n for n in survivors if n not in explained]
    waiting_by_module = Counter(n.split(".x")[0] for n in unexplained)
    lines = [
        "# Mutation testing: the last run's survivors",
        "",
        "Written by `make mutants` (tests/mutants.py); docs/mutants.md says how to read it.",
        "",
        (
            f"- Run on {_results_date():%Y-%m-%d}, {ran}, "
            f"in {seconds / 60:.1f} min; modules below not run then keep their earlier results"
            if seconds is not None
            else _last_run_line()
        ),
        f"- Mutants tested: {tested}; refused by mypy strict {total['type error']}, killed by a test"
        f" {total['killed']}, timed out {total['timeout']}, survived {total['survived']};"
        f" no tests {total['no tests']}, not checked {total['not checked']}",
        f"- Score (refused by mypy, killed or timed out, of tested): {score}",
        f"- Not yet run: {waiting + total['not checked']} mutants: {waiting} in {len(found) - len(checked)}"
        f" modules not started, {total['not checked']} in modules part-run (`make mutants` runs them)",
        f"- Survivors explained: {len(survivors) - len(unexplained)} of {len(survivors)}",
        "",
        "| module | tested | mypy | killed | survived | no tests | not run |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for module, statuses in sorted(found.items()):  # modules not started too: all "not run"
        counts = Counter(statuses.values())
        lines.append(
            f"| {module} | {sum(counts[s] for s in CAUGHT) + counts['survived']} |"
            f" {counts['type error']} | {counts['killed'] + counts['timeout']} | {counts['survived']} |"
            f" {counts['no tests']} | {counts['not checked']} |"
        )
    lines += ["", "## Survivors explained", ""]
    for name in survivors:
        if name in explained:
            lines += [f"### {name}", "", explained[name], "", "```diff", diff(name), "```", ""]
    statuses = {name: status for s in found.values() for name, status in s.items()}
    pending = sorted(n for n in explained if statuses.get(n) == "not checked")
    if pending:
        lines += [
            "## Explanations whose mutant has not been run again yet",
            "",
            "Their function changed, or their module was not finished, since the run that found them.",
            "",
            *(f"- `{n}` (pending)" for n in pending),
            "",
        ]
    if unexplained:
        lines += [
            "## Survivors not yet killed or explained",
            "",
            "Each needs a test whose expected value comes from a source, or an explanation of why it is",
            "equivalent. `.venv/bin/mutmut show NAME` shows the change.",
            "",
        ]
        for module, count in sorted(waiting_by_module.items()):
            names = [n for n in unexplained if n.split(".x")[0] == module]
            lines += [f"<details><summary>{module}: {count}</summary>", "", *(f"- `{n}`" for n in names), "",
                      "</details>", ""]  # fmt: skip
    REPORT.write_text("\n".join(lines).rstrip() + "\n")
    print(f"{tested} tested, score {score}, {len(survivors)} survived, {len(unexplained)} not explained")
    print(f"report: {REPORT.relative_to(ROOT)}")
    return len(unexplained)


CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
SOURCES = tuple(CONFIG["source_paths"])  # mutmut writes their .py files itself
ALSO = tuple(CONFIG["also_copy"])


def sync_copies() -> int:
    """Bring mutants/ up to date with the tree: mutmut regenerates the Python files it mutates, but copies
    the rest (the knowledge files, bench, docs) only when it first makes the folder, so a changed knowledge
    file would otherwise be tested in its old version. Returns how many files were copied."""
    if not MUTANTS.exists():
        return 0
    copied = 0
    wanted: list[Path] = []
    for name in (*SOURCES, *ALSO):
        top = ROOT / name
        files = [top] if top.is_file() else [f for f in top.rglob("*") if f.is_file()]
        wanted += [
            f for f in files if "__pycache__" not in f.parts and not (name in SOURCES and f.suffix == ".py")
        ]
    for source in wanted:
        target = MUTANTS / source.relative_to(ROOT)
        if not target.exists() or target.read_bytes() != source.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied += 1
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("patterns", nargs="*", help="mutant name patterns, as mutmut run takes them")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the report")
    parser.add_argument("--fresh", action="store_true", help="forget the last run's results first")
    parser.add_argument(
        "--survivors", action="store_true", help="test the last run's survivors again (after new tests)"
    )
    args = parser.parse_args(argv)
    seconds = None
    ran = f"patterns: {', '.join(args.patterns)}" if args.patterns else "all configured"
    if args.survivors:
        args.patterns = [n for s in results().values() for n, v in sorted(s.items()) if v == "survived"]
        if not args.patterns:
            print("no survivors to test again")
            return 0
        ran = f"the {len(args.patterns)} survivors of the run before"
    if not args.report_only:
        if args.fresh:
            shutil.rmtree(MUTANTS, ignore_errors=True)
        if copied := sync_copies():
            print(f"mutants/: {copied} files that mutmut does not regenerate brought up to date")
        started = time.monotonic()
        # mutmut calls the type checker ([tool.mutmut] type_check_command) as plain "mypy": this
        # interpreter's, found first on the PATH
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        subprocess.run(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "-m", "mutmut", "run", *args.patterns],
            cwd=ROOT,
            check=False,
            env={**os.environ, "PATH": path},
        )
        seconds = time.monotonic() - started
    return 1 if write_report(ran, seconds) else 0


if __name__ == "__main__":
    sys.exit(main())
