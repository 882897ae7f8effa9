"""make test-dates: the date-sensitive tests (marked `dates`: they read the suite's clock) at every instant
in tests.clock.EDGES, one pytest run per instant with CDS_TEST_NOW set. Prints a line per instant and
exits 1 when any run fails. Not in CI: it runs the date-sensitive part of the suite a dozen times.

    python -m tests.dates [--only INSTANT ...] [pytest arguments after --]
"""

import argparse
import os
import subprocess
import sys
import time

from tests.clock import EDGES, ENVIRONMENT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", action="append", metavar="INSTANT", help="run at this instant only")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    instants = args.only or list(EDGES)
    failed, started = [], time.monotonic()
    for instant in instants:
        begun = time.monotonic()
        run = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
            [
                sys.executable,
                "-m",
                "pytest",
                "-m",
                "dates",
                "-p",
                "no:cacheprovider",
                *args.pytest_args,
            ],
            env={**os.environ, ENVIRONMENT: instant},
            capture_output=True,
            text=True,
            check=False,
        )
        lines = run.stdout.strip().splitlines()
        summary = lines[-1] if lines else run.stderr.strip()[-200:]
        print(f"{instant:<44} {time.monotonic() - begun:6.0f} s  {summary}", flush=True)
        if run.returncode != 0:
            failed.append(instant)
            print("\n".join(line for line in lines if line.startswith(("FAILED", "ERROR"))), flush=True)
    total = time.monotonic() - started
    print(
        f"{len(instants)} instants in {total:.0f} s; "
        + (f"failed at: {', '.join(failed)}" if failed else "all passed")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
