"""Prometheus metrics: requests and latency by service and status, cards by topic and indicator, FHIR
fallback calls by outcome, feedback by outcome and topic, database outages and audit entries not
recorded. Served at /metrics.

With several workers `serve` sets PROMETHEUS_MULTIPROC_DIR before they start: each worker then writes its
counts to files there, and whichever worker answers a scrape sums them all (prometheus-client's
multiprocess mode). One worker keeps them in memory. Replicas are scraped each.
"""

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

REGISTRY = CollectorRegistry()

REQUESTS = Counter(
    "cds_requests",
    "Hook calls answered, by service and HTTP status.",
    ["service", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "cds_request_seconds",
    "Time to answer a hook call, by service.",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
CARDS = Counter(
    "cds_cards", "Cards returned, by topic and indicator.", ["topic", "indicator"], registry=REGISTRY
)
FHIR_CALLS = Counter(
    "cds_fhir_calls",
    "Calls to the EHR's FHIR server, by outcome (ok, failed).",
    ["outcome"],
    registry=REGISTRY,
)
FEEDBACK = Counter(
    "cds_feedback",
    "Feedback entries stored, by outcome and card topic.",
    ["outcome", "topic"],
    registry=REGISTRY,
)


DATABASE_UNAVAILABLE = Counter(
    "cds_database_unavailable",
    "Database calls that failed because the database could not be reached or did not answer in time.",
    registry=REGISTRY,
)
AUDIT_DROPPED = Counter(
    "cds_audit_dropped",
    "Audit entries not recorded, by reason: queue_full (the oldest, dropped while the database was"
    " unavailable), refused (a row the database would not store), exit (pending when the process ended).",
    ["reason"],
    registry=REGISTRY,
)


def exposition() -> bytes:
    """The metrics in Prometheus's text format: of every worker when several share a directory."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
