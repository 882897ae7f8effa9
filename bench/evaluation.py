"""`make bench`: the cost of evaluating a hook request in process (JSON bytes in, JSON bytes out, every
card family on) against the cost of `orjson.loads` of the same body, for patient-view and order-select
requests with 10 to 5,000 prefetched resources; for a patient-view of a patient not on tacrolimus; and for
a hospital mix (20 chart opens, 19 of them of patients not on tacrolimus: the 20 bodies evaluated against
the 20 parsed).

Both are measured in the same run, interleaved, and the median of several rounds is taken, so the ratio
holds on any machine. The process is set up as a worker is (start-up objects frozen out of the garbage
collector, cds.memory), so both figures are what a serving worker pays."""

import argparse
import asyncio
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import orjson

from bench.records import PATIENT, hospital_mix, order_select, patient_view
from cds.evaluate import Evaluator
from cds.main import services
from cds.memory import freeze_startup_objects
from cds.settings import Settings

SIZES = (10, 100, 1000, 5000)
HOOKS: dict[str, Callable[[int], dict[str, Any]]] = {
    "patient-view": patient_view,
    "order-select": order_select,
}
# further rows: name -> (service's hook, the requests of one round at a size, the sizes measured)
MIXES: dict[str, tuple[str, Callable[[int], list[dict[str, Any]]], tuple[int, ...]]] = {
    "not on tacrolimus": ("patient-view", lambda size: [patient_view(size, tacrolimus=False)], SIZES),
    "hospital mix": ("patient-view", hospital_mix, (100, 1000)),
}
ROWS = {hook: (hook, lambda size, make=make: [make(size)], SIZES) for hook, make in HOOKS.items()} | MIXES


def _per_call(run: Callable[[], object], seconds: float) -> float:
    """Seconds per call, timing calls until about `seconds` have passed."""
    run()
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or calls < 3:
        run()
        calls += 1
    return elapsed / calls


def resources(request: dict[str, Any]) -> int:
    prefetched = request["prefetch"].values()
    return sum(len(v.get("entry", [])) + (v.get("resourceType") == "Patient") for v in prefetched)


def measure(
    evaluator: Evaluator, hook: str, body: bytes | Sequence[bytes], rounds: int, seconds: float
) -> tuple[float, float]:
    """(orjson.loads, evaluation) in seconds per call of `body` (or of all the bodies one after the
    other): medians over rounds."""
    loop = asyncio.new_event_loop()
    service = f"tacrolimus-{hook}"
    bodies = [body] if isinstance(body, bytes) else list(body)

    async def evaluate_all() -> None:
        for one in bodies:
            response = await evaluator.evaluate(service, orjson.loads(one))
            orjson.dumps(response.to_json())

    def evaluate() -> None:
        loop.run_until_complete(evaluate_all())

    def parse() -> None:
        for one in bodies:
            orjson.loads(one)

    loads, evals = [], []
    for _ in range(rounds):
        loads.append(_per_call(parse, seconds))
        evals.append(_per_call(evaluate, seconds))
    loop.close()
    return statistics.median(loads), statistics.median(evals)


def fallback(
    evaluator_for: Callable[[httpx.AsyncClient], Evaluator], delays: Sequence[float]
) -> tuple[int, float]:
    """A patient-view with no prefetch: every key is fetched from a mocked FHIR server that answers the
    n-th request after delays[n % len(delays)] seconds. Returns (requests made, seconds taken)."""
    made = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal made
        delay = delays[made % len(delays)]
        made += 1
        await asyncio.sleep(delay)
        if request.url.path.startswith("/fhir/Patient/"):
            return httpx.Response(200, json={"resourceType": "Patient", "id": PATIENT})
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})

    request = {
        "hook": "patient-view",
        "hookInstance": "0b5b3e0e-3c5e-4d0b-9d59-7f1f1e0c2a55",
        "fhirServer": "https://ehr.example.org/fhir",
        "context": {"userId": "Practitioner/bench", "patientId": PATIENT},
    }

    async def run() -> float:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            started = time.perf_counter()
            await evaluator_for(http).evaluate("tacrolimus-patient-view", request)
            return time.perf_counter() - started

    took = asyncio.run(run())
    return made, took


def _answer(evaluator: Evaluator, hook: str, body: bytes) -> list[object]:
    """The cards of one call (to show that the rows time the answers they should)."""
    response = asyncio.run(evaluator.evaluate(f"tacrolimus-{hook}", orjson.loads(body)))
    return list(response.cards)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--hooks", nargs="+", choices=list(HOOKS), default=list(HOOKS))
    parser.add_argument("--mixes", nargs="*", choices=list(MIXES), default=list(MIXES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.3, help="time per measurement")
    parser.add_argument(
        "--delays", type=float, nargs="+", default=[0.05, 0.1, 0.15, 0.2], help="FHIR answer delays"
    )
    args = parser.parse_args(argv)
    evaluator = Evaluator(services(), Settings(database_url="sqlite://"), http=None)
    freeze_startup_objects()
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu'}")
    columns = ("resources", "body KiB", "orjson.loads", "evaluate", "ratio", "cards")
    widths = (9, 8, 12, 10, 6, 5)
    print(f"{'request':>17}  " + "  ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    chosen = [name for name in ROWS if name in args.hooks or name in args.mixes]
    cases = [(name, size) for name in chosen for size in args.sizes if size in ROWS[name][2]]
    for name, size in cases:
        # only the bodies are kept: a heap holding every generated record would slow both sides' collections
        hook, make, _ = ROWS[name]
        requests = make(size)
        count, bodies = resources(requests[0]), [orjson.dumps(request) for request in requests]
        del requests
        load, evaluate = measure(evaluator, hook, bodies, args.rounds, args.seconds)
        calls = len(bodies)
        cards = sum(len(_answer(evaluator, hook, body)) for body in bodies)
        print(
            f"{name:>17}  {count:>9}  {sum(map(len, bodies)) / calls / 1024:>8.0f}"
            f"  {load / calls * 1e3:>9.3f} ms  {evaluate / calls * 1e3:>7.3f} ms  {evaluate / load:>5.1f}x"
            f"  {cards / calls:>5.2g}"
        )
    settings = Settings(database_url="sqlite://", fhir_deadline=10.0, fhir_request_timeout=10.0)
    made, took = fallback(lambda http: Evaluator(services(), settings, http), args.delays)
    answers = [args.delays[n % len(args.delays)] for n in range(made)]
    print(
        f"\nFHIR fallback, no prefetch: {made} requests answered after {min(answers) * 1e3:.0f} to"
        f" {max(answers) * 1e3:.0f} ms each (sum {sum(answers) * 1e3:.0f} ms):"
        f" evaluation took {took * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
