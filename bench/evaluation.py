"""`make bench`: the cost of evaluating a patient-view request in process (JSON bytes in, JSON bytes out)
against the cost of `orjson.loads` of the same body, for 10 to 5,000 prefetched resources.

Both are measured in the same run, interleaved, and the median of several rounds is taken, so the
ratio holds on any machine. Card families present at the time of the run are all on."""

import argparse
import asyncio
import gc
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import orjson

from bench.records import patient_view
from cds.evaluate import Evaluator
from cds.main import services
from cds.settings import Settings

SIZES = (10, 100, 1000, 5000)


def _per_call(run: Callable[[], object], seconds: float) -> float:
    """Seconds per call, timing batches until about `seconds` have passed."""
    run()
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        run()
        calls += 1
    return elapsed / calls


def measure(size: int, rounds: int, seconds: float) -> tuple[int, float, float]:
    request = patient_view(size)
    body = orjson.dumps(request)
    resources = sum(
        len(v.get("entry", [])) + (v.get("resourceType") == "Patient") for v in request["prefetch"].values()
    )
    evaluator = Evaluator(services(), Settings(database_url="sqlite://"), http=None)
    loop = asyncio.new_event_loop()

    def evaluate() -> bytes:
        response = loop.run_until_complete(evaluator.evaluate("tacrolimus-patient-view", orjson.loads(body)))
        return orjson.dumps(response.to_json())

    def parse() -> object:
        return orjson.loads(body)

    loads, evals = [], []
    gc.collect()
    for _ in range(rounds):
        loads.append(_per_call(parse, seconds))
        evals.append(_per_call(evaluate, seconds))
    loop.close()
    return resources, statistics.median(loads), statistics.median(evals)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.3, help="time per measurement")
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu'}")
    print(f"{'resources':>9}  {'body KiB':>8}  {'orjson.loads':>12}  {'evaluate':>10}  {'ratio':>6}")
    for size in args.sizes:
        resources, load, evaluate = measure(size, args.rounds, args.seconds)
        kib = len(orjson.dumps(patient_view(size))) / 1024
        ratio = evaluate / load
        print(
            f"{resources:>9}  {kib:>8.0f}  {load * 1e3:>9.3f} ms  {evaluate * 1e3:>7.3f} ms  {ratio:>5.1f}x"
        )


if __name__ == "__main__":
    main()
