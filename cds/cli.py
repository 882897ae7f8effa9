"""The command line: tacrolimus-cds serve | services | evaluate | try | token | report."""

import argparse
import asyncio
import ipaddress
import os
import shutil
import signal
import sys
import tempfile
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import SecretStr, ValidationError

from cds import __version__
from cds.clock import Clock, fixed, parse_instant, system_clock
from cds.egress import http_client
from cds.ehr import HOOKS_WITH_ORDERS, BuiltRequest, build_request, hook_request_of, with_token
from cds.errors import CDSError, ConfigError, KnowledgeError, RequestError
from cds.evaluate import Evaluator
from cds.main import assembled, example_as_of, story_svg
from cds.main import services as main_services
from cds.metrics import MULTIPROCESS_DIR
from cds.models import CDSResponse
from cds.record import PatientRecord
from cds.service import Service, service_for_hook
from cds.settings import Settings, get_settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def shared_metrics() -> Iterator[None]:
    """A directory where every worker writes its metrics (cds/metrics.py), unless one is set already;
    emptied for each start, removed at exit."""
    if os.environ.get(MULTIPROCESS_DIR):
        yield
        return
    directory = tempfile.mkdtemp(prefix="cds-metrics-")
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIR]
        shutil.rmtree(directory, ignore_errors=True)


NOW_HELP = (
    "evaluate as of this instant, ISO 8601 with an offset, optionally [Area/City] after it"
    " (e.g. 2026-12-01T09:00:00Z); default: now, or a bundled example's own instant"
)


UVICORN_LOGGING: dict[str, Any] = {"access_log": False, "log_config": None}


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cds.main import create_app

    settings = get_settings()
    if settings.auth != "required" and not is_loopback(args.host):
        print(
            f"refusing to serve on {args.host} with CDS_AUTH={settings.auth}: without verified tokens"
            " the service may listen on loopback only (127.0.0.1, ::1, localhost)."
            " Set CDS_AUTH=required and CDS_CLIENTS_FILE.",
            file=sys.stderr,
        )
        return 2
    app = create_app(settings)  # checks the configuration and the knowledge before listening
    # uvicorn's access log is off: each hook call is logged once by the service, with its outcome; and
    # uvicorn installs no log handlers (log_config=None): its lines go through the service's (cds/logs.py)
    if args.workers == 1:
        uvicorn.run(app, host=args.host, port=args.port, **UVICORN_LOGGING)
        return 0
    with shared_metrics():
        return _serve_workers(args)


def _serve_workers(args: argparse.Namespace) -> int:
    import uvicorn

    from cds.workers import reuse_port_supported
    from cds.workers import serve as serve_workers

    if reuse_port_supported():
        try:
            serve_workers("cds.main:create_app", args.host, args.port, args.workers, **UVICORN_LOGGING)
        except OSError as error:
            print(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
            return 1
    else:  # one shared socket: connections may not spread evenly over the workers (cds/workers.py)
        uvicorn.run(
            "cds.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            **UVICORN_LOGGING,
        )
    return 0


HOOKS = ("patient-view", "order-select", "order-sign")
COLOURS = {"critical": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[1;34m"}
RESET = "\033[0m"


def print_cards(response: CDSResponse, colour: bool | None = None) -> None:
    """Cards as a clinician would read them: indicator (coloured on a terminal), summary, wrapped detail,
    suggestions, links and override reasons."""
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR") if colour is None else colour
    if not response.cards:
        print("No cards.")
    width = min(shutil.get_terminal_size((100, 20)).columns, 110)
    for card in response.cards:
        label = f"[{card.indicator.upper()}]"
        if colour:
            label = f"{COLOURS[card.indicator]}{label}{RESET}"
        topic = card.source.topic.code if card.source.topic else "-"
        print(f"{label} {card.summary}")
        print(f"  topic: {topic}   source: {card.source.label} <{card.source.url or ''}>")
        for line in (card.detail or "").splitlines():
            indent = "    " if line.startswith("- ") else "  "
            print(textwrap.fill(line, width=width, initial_indent="  ", subsequent_indent=indent) or "")
        for suggestion in card.suggestions or ():
            print(f"  > suggestion: {suggestion.label}")
        for link in card.links or ():
            print(f"  > link: {link.label} <{link.url}>")
        if card.overrideReasons:
            print("  override reasons: " + "; ".join(r.display or r.code for r in card.overrideReasons))
        print()


async def _evaluate(services: list[Service], service_id: str, body: object, clock: Clock) -> CDSResponse:
    settings = get_settings()
    async with http_client(settings.fhir_max_connections) as http:
        return await Evaluator(services, settings, http, clock).evaluate(service_id, body)


def instant(text: str) -> datetime:
    """--now: an ISO 8601 instant with an offset (argparse's type)."""
    try:
        return parse_instant(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def clock_of(args: argparse.Namespace, file: Path | None = None) -> tuple[Clock, str]:
    """The clock of a command: --now, else a bundled example's own instant, else the system clock; with
    a line saying which, when it is not the system clock."""
    if args.now is not None:
        return fixed(args.now), f"evaluated as of {args.now.isoformat()} (--now)"
    written_for = example_as_of(file) if file is not None else None
    if written_for is not None:
        when = f"{written_for.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        return fixed(written_for), f"a bundled example: evaluated as of {when}, the day its dates are for"
    return system_clock, ""


def evaluate(args: argparse.Namespace) -> int:
    try:
        body = hook_request_of(orjson.loads(Path(args.file).read_bytes()))
    except (OSError, orjson.JSONDecodeError) as error:
        print(f"cannot read {args.file}: {error}", file=sys.stderr)
        return 2
    services = main_services()
    service_id = args.service
    if service_id is None:
        try:
            service_id = service_for_hook(services, body.get("hook") if isinstance(body, dict) else None).id
        except RequestError as error:
            print(f"{error.message}; or name one with --service", file=sys.stderr)
            return 2
    clock, note = clock_of(args, Path(args.file))
    try:
        response = asyncio.run(_evaluate(services, service_id, body, clock))
    except CDSError as error:
        print(f"{error.status_code}: {error.message}", file=sys.stderr)
        return 1
    if args.json:
        print(orjson.dumps(response.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        if note:
            print(f"({note})")
        print_cards(response)
    return 0


def read_order(value: str) -> dict[str, Any] | str:
    """--order: a JSON file holding a MedicationRequest, or else a drug name."""
    path = Path(value)
    if not path.is_file():
        if value.endswith(".json"):
            raise RequestError(f"no order file {value}")
        return value
    try:
        order = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise RequestError(f"cannot read the order file {value}: {error}") from None
    if not isinstance(order, dict):
        raise RequestError(f"the order file {value} does not hold a FHIR resource")
    return order


def read_token(value: str | None) -> SecretStr | None:
    """--token: the FHIR access token, or '-' to read it from standard input (kept out of `ps`)."""
    if value is None:
        return None
    token = sys.stdin.readline().strip() if value == "-" else value.strip()
    if not token:
        raise RequestError("the access token is empty")
    return SecretStr(token)


async def _try(
    services: list[Service],
    service: Service,
    args: argparse.Namespace,
    order: dict[str, Any] | str | None,
    token: SecretStr | None,
) -> tuple[BuiltRequest, CDSResponse | CDSError]:
    settings = get_settings()
    async with http_client(settings.fhir_max_connections) as http:  # the service's own egress rules
        built = await build_request(
            service, args.fhir_server, args.patient, http=http, settings=settings, order=order, token=token
        )
        try:
            evaluator = Evaluator(services, settings, http, clock_of(args)[0])
            request = with_token(built.request, token)
            response = await evaluator.evaluate(service.id, request)
            if args.chart is not None:
                write_chart(args.chart, await evaluator.record(service.id, request))
            return built, response
        except CDSError as error:
            return built, error


def write_chart(path: Path, record: PatientRecord) -> None:
    """--chart: the patient's level story as an SVG file (the record the hook call read, at --now)."""
    try:
        path.write_text(story_svg()(record), encoding="utf-8")
    except OSError as error:
        raise RequestError(f"cannot write the chart to {path}: {error.strerror or error}") from None
    print(f"level story written to {path}", file=sys.stderr)


def try_patient(args: argparse.Namespace) -> int:
    services = main_services()
    try:
        service = service_for_hook(services, args.hook)
        if args.order is not None and args.hook not in HOOKS_WITH_ORDERS:
            raise RequestError("--order is for the order hooks: add --hook order-select or --hook order-sign")
        order = read_order(args.order) if args.order is not None else None
        token = read_token(args.token)
        built, outcome = asyncio.run(_try(services, service, args, order, token))
    except RequestError as error:
        print(error.message, file=sys.stderr)
        return 2
    request = built.request
    if args.json:
        result: dict[str, Any] = {"request": request}
        if isinstance(outcome, CDSError):
            result["error"] = {"status": outcome.status_code, **outcome.body()}
        else:
            result["response"] = outcome.to_json()
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"{service.id} for Patient/{request['context']['patientId']} on {request['fhirServer']}")
        for key, what in built.fetched.items():
            print(f"  {key}: {what}")
        print()
        if not isinstance(outcome, CDSError):
            print_cards(outcome)
    if isinstance(outcome, CDSError):
        print(f"{outcome.status_code}: {outcome.message}", file=sys.stderr)
        return 1
    return 0


def report(args: argparse.Namespace) -> int:
    from cds.store import Store

    settings = get_settings()
    store = Store(
        settings.database_url,
        timeout=settings.database_timeout,
        connect_timeout=settings.database_connect_timeout,
    )
    rows = store.override_report()
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    if not rows:
        print("No cards recorded yet.")
        return 0
    print(f"{'topic':28} {'shown':>7} {'accepted':>9} {'overridden':>11} {'rate':>6}  reasons")
    for row in rows:
        reasons = ", ".join(
            f"{reason} ({count})" for reason, count in sorted(row["reasons"].items(), key=lambda r: -r[1])
        )
        print(
            f"{row['topic']:28} {row['shown']:>7} {row['accepted']:>9} {row['overridden']:>11}"
            f" {row['override_rate']:>6.0%}  {reasons or '-'}"
        )
    return 0


def token(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from cds.clients import sandbox_token

    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        print(
            f"{args.url!r} is not an absolute http(s) URL: give the exact URL the token is for,"
            " e.g. http://127.0.0.1:8000/cds-services/tacrolimus-order-select",
            file=sys.stderr,
        )
        return 2
    if sys.stderr.isatty():
        print(
            "a sandbox token: accepted only with CDS_AUTH=sandbox (make run), for this URL, once, for 5 min",
            file=sys.stderr,
        )
    print(sandbox_token(args.url))
    return 0


def list_services(_: argparse.Namespace) -> int:
    offered, policy = assembled()
    for service in offered:
        print(f"{service.id:28} {service.hook:14} {service.title}")
    print("\nsite settings in force (CDS_SITE_FILE):")
    for name, value in policy.shown.items():
        shown = "; ".join(str(v) for v in value) if isinstance(value, list) else value
        print(f"  {name}: {shown}")
    return 0


DESCRIPTION = """\
The tacrolimus safety service (CDS Hooks 2.0): serve it to an EHR, or use its services from the
command line. `tacrolimus-cds COMMAND --help` describes each command."""

EPILOG = """\
examples:
  CDS_AUTH=sandbox tacrolimus-cds serve --port 8000     (what make run does; see the README)
  tacrolimus-cds services
  tacrolimus-cds evaluate cards/examples/order-select-r4-clarithromycin.json
  tacrolimus-cds try --fhir-server https://fhir.example.org/r4 --patient 123
  tacrolimus-cds try --fhir-server URL --patient 123 --hook order-select --order clarithromycin
  tacrolimus-cds try --fhir-server URL --patient 123 --chart story.svg
  tacrolimus-cds token http://127.0.0.1:8000/cds-services
  tacrolimus-cds report

settings come from the environment (CDS_*): see docs/configuration.md."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tacrolimus-cds",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    run = commands.add_parser("serve", help="serve the CDS Hooks endpoints and the preview page")
    # string defaults go through type=int, so a bad PORT or WORKERS is a usage error, not a traceback
    run.add_argument(
        "--host", default=os.environ.get("HOST", "127.0.0.1"), help="address (HOST; default 127.0.0.1)"
    )
    run.add_argument("--port", type=int, default=os.environ.get("PORT", "8000"), help="port (PORT; 8000)")
    run.add_argument(
        "--workers", type=int, default=os.environ.get("WORKERS", "1"), help="worker processes (WORKERS; 1)"
    )
    run.set_defaults(handler=serve)

    listing = commands.add_parser("services", help="list the services")
    listing.set_defaults(handler=list_services)

    check = commands.add_parser("evaluate", help="evaluate a hook request from a JSON file; print its cards")
    check.add_argument("file", help="a CDS Hooks request body (JSON)")
    check.add_argument("--service", help="service id (default: the service for the request's hook)")
    check.add_argument("--json", action="store_true", help="print the raw CDS Hooks response")
    check.add_argument("--now", type=instant, metavar="INSTANT", help=NOW_HELP)
    check.set_defaults(handler=evaluate)

    mine = commands.add_parser(
        "try",
        help="fetch a patient from your FHIR server as an EHR would; print the cards",
        description="Build the hook request an EHR with prefetch would send for a patient on your FHIR"
        " server: the service's own prefetch templates, filled from that server with the service's own"
        " FHIR client, limits and rules (http(s) only, no link-local or metadata address, no redirects)."
        " Then evaluate it and print what was fetched and the cards. --json prints the request and the"
        " response: `evaluate` replays that file, and the preview page's box takes it too. The request"
        " never holds the access token.",
    )
    mine.add_argument("--fhir-server", required=True, metavar="URL", help="the FHIR server's base URL")
    mine.add_argument("--patient", required=True, metavar="ID", help="the patient's id on that server")
    mine.add_argument("--hook", choices=HOOKS, default="patient-view", help="the hook (patient-view)")
    mine.add_argument(
        "--order",
        metavar="FILE_OR_NAME",
        help="for order-select and order-sign: a MedicationRequest JSON file, or a drug name",
    )
    mine.add_argument("--token", help="an access token for the FHIR server; '-' reads it from standard input")
    mine.add_argument("--json", action="store_true", help="print the request and the response as JSON")
    mine.add_argument("--now", type=instant, metavar="INSTANT", help=NOW_HELP.split("; default")[0])
    mine.add_argument(
        "--chart",
        type=Path,
        metavar="FILE.svg",
        help="also write the patient's level story (levels, target, doses, interacting drugs) as an SVG file",
    )
    mine.set_defaults(handler=try_patient)

    signed = commands.add_parser(
        "token",
        help="print a token signed as the public sandbox signs, for calls by hand to make run",
        description="Print a JWT signed with the public CDS Hooks sandbox's key, as the sandbox signs its"
        " calls, so calls by hand to `make run` (CDS_AUTH=sandbox) can carry one. The key is public, so the"
        " token proves nothing: a service with CDS_AUTH=required refuses it. It is valid for 5 minutes,"
        " for one call (its jti is remembered), to the exact URL given (its aud).",
    )
    signed.add_argument("url", help="the URL the token is for, e.g. http://127.0.0.1:8000/cds-services")
    signed.set_defaults(handler=token)

    overrides = commands.add_parser("report", help="the override report: cards shown, accepted, overridden")
    overrides.add_argument("--json", action="store_true", help="print JSON")
    overrides.set_defaults(handler=report)

    args = parser.parse_args(argv)
    if args.handler is not serve and hasattr(signal, "SIGPIPE"):
        # `evaluate ... | head` ends quietly; never for serve, where a closed socket must not kill the server
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        result: int = args.handler(args)
    except (KnowledgeError, ConfigError) as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return 3
    except ValidationError as error:
        if error.title != Settings.__name__:
            raise
        print(f"cannot start: {settings_problems(error)}", file=sys.stderr)
        return 3
    return result


def settings_problems(error: ValidationError) -> str:
    """'CDS_AUTH: Input should be ...' for each setting that is wrong, without pydantic's decoration."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        name = "_".join(str(part) for part in item["loc"]).upper()
        problems.append(f"CDS_{name}: {message}" if name else message)
    return "; ".join(problems)


if __name__ == "__main__":
    sys.exit(main())
