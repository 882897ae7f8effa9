"""A tiny read-only FHIR R4 server on loopback that serves the resources of the bundled example patients
(cards/examples: each hook request's prefetch and draft orders), for trying the SMART app against a real
SMART simulator (bench/smart_launcher.py) without any outside FHIR server. Not for anything else.

    python -m bench.fhir_fixture --port 8090 level-above-target.json

Reads (``Patient/example``), searches by patient (``Observation?patient=example&...``: every resource of
the type for that patient; other parameters are ignored, as the service filters what it reads itself),
and ``/metadata``. Synthetic data only.
"""

import argparse
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from cards.examples import EXAMPLES_DIR

Resource = dict[str, Any]
CAPABILITY = {
    "resourceType": "CapabilityStatement",
    "status": "active",
    "kind": "instance",
    "fhirVersion": "4.0.1",
    "format": ["json"],
    "rest": [{"mode": "server"}],
}


def example_resources(names: Iterable[str]) -> list[tuple[str, Resource]]:
    """Every resource of the named examples' prefetch (Bundles opened) and draft orders, each with the id
    of the example's patient (the examples' resources do not all name their subject)."""
    found: list[tuple[str, Resource]] = []
    for name in names:
        request = orjson.loads((EXAMPLES_DIR / name).read_bytes())
        patient = str((request.get("context") or {}).get("patientId") or "")
        values = list((request.get("prefetch") or {}).values())
        values.append((request.get("context") or {}).get("draftOrders"))
        resources: list[Resource] = []
        for value in values:
            if not isinstance(value, dict):
                continue
            if value.get("resourceType") == "Bundle":
                entries = value.get("entry", [])
                resources += [e["resource"] for e in entries if isinstance(e.get("resource"), dict)]
            else:
                resources.append(value)
        if not any(r.get("resourceType") == "Patient" and r.get("id") == patient for r in resources):
            resources.append({"resourceType": "Patient", "id": patient})
        found += [(patient, resource) for resource in resources]
    return found


class Handler(BaseHTTPRequestHandler):
    resources: list[tuple[str, Resource]] = []

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.strip("/").split("/")
        if path == ["metadata"]:
            return self.answer(200, CAPABILITY)
        if len(path) == 2:
            kind, rid = path
            for _, resource in self.resources:
                if resource.get("resourceType") == kind and resource.get("id") == rid:
                    return self.answer(200, resource)
            return self.answer(404, outcome(f"{kind}/{rid} is not here"))
        if len(path) == 1 and path[0]:
            patient = (parse_qs(parts.query).get("patient") or [""])[0].removeprefix("Patient/")
            matched = [
                resource
                for owner, resource in self.resources
                if resource.get("resourceType") == path[0] and (not patient or owner == patient)
            ]
            bundle = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(matched),
                "entry": [{"resource": r} for r in matched],
            }
            return self.answer(200, bundle)
        return self.answer(404, outcome("not found"))

    def answer(self, status: int, body: Resource) -> None:
        content = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def outcome(text: str) -> Resource:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found", "diagnostics": text}],
    }


def server(port: int, names: Iterable[str], host: str = "127.0.0.1") -> ThreadingHTTPServer:
    handler = type("ExampleHandler", (Handler,), {"resources": example_resources(names)})
    return ThreadingHTTPServer((host, port), handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("examples", nargs="*", default=["level-above-target.json"])
    args = parser.parse_args()
    httpd = server(args.port, args.examples)
    print(f"FHIR fixture at http://127.0.0.1:{args.port}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
