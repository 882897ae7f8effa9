"""The command line: tacrolimus-cds serve | services | evaluate | report."""

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
from pathlib import Path
from typing import Any

import httpx
import orjson

from cds import __version__
from cds.errors import CDSError, ConfigError, KnowledgeError
from cds.evaluate import Evaluator
from cds.main import services as main_services
from cds.metrics import MULTIPROCESS_DIR
from cds.models import CDSResponse
from cds.service import Service
from cds.settings import get_settings


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


async def _evaluate(services: list[Service], service_id: str, body: object) -> CDSResponse:
    settings = get_settings()
    async with httpx.AsyncClient(follow_redirects=False) as http:
        return await Evaluator(services, settings, http).evaluate(service_id, body)


def evaluate(args: argparse.Namespace) -> int:
    try:
        body = orjson.loads(Path(args.file).read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        print(f"cannot read {args.file}: {error}", file=sys.stderr)
        return 2
    services = main_services()
    service_id = args.service
    if service_id is None:
        hook = body.get("hook") if isinstance(body, dict) else None
        matching = [s.id for s in services if s.hook == hook]
        if not matching:
            print(f"no service answers the hook {hook!r}; name one with --service", file=sys.stderr)
            return 2
        service_id = matching[0]
    try:
        response = asyncio.run(_evaluate(services, service_id, body))
    except CDSError as error:
        print(f"{error.status_code}: {error.message}", file=sys.stderr)
        return 1
    if args.json:
        print(orjson.dumps(response.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        print_cards(response)
    return 0


def report(args: argparse.Namespace) -> int:
    from cds.store import Store

    rows = Store(get_settings().database_url).override_report()
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
    for service in main_services():
        print(f"{service.id:28} {service.hook:14} {service.title}")
    return 0


DESCRIPTION = """\
The tacrolimus safety service (CDS Hooks 2.0): serve it to an EHR, or use its services from the
command line. `tacrolimus-cds COMMAND --help` describes each command."""

EPILOG = """\
examples:
  tacrolimus-cds serve --port 8000          (CDS_AUTH=sandbox or off on loopback; see the README)
  tacrolimus-cds services
  tacrolimus-cds evaluate cards/examples/order-select-r4-clarithromycin.json
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

    check = commands.add_parser("evaluate", help="evaluate a hook request from a JSON file; print its cards")
    check.add_argument("file", help="a CDS Hooks request body (JSON)")
    check.add_argument("--service", help="service id (default: the service for the request's hook)")
    check.add_argument("--json", action="store_true", help="print the raw CDS Hooks response")
    check.set_defaults(handler=evaluate)

    signed = commands.add_parser(
        "token",
        help="print a token signed as the public CDS Hooks sandbox signs (for CDS_AUTH=sandbox)",
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

    listing = commands.add_parser("services", help="list the services")
    listing.set_defaults(handler=list_services)

    args = parser.parse_args(argv)
    if args.handler is not serve and hasattr(signal, "SIGPIPE"):
        # `evaluate ... | head` ends quietly; never for serve, where a closed socket must not kill the server
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        result: int = args.handler(args)
    except (KnowledgeError, ConfigError) as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return 3
    return result


if __name__ == "__main__":
    sys.exit(main())
