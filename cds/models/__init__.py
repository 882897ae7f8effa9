"""Pydantic models of what crosses the wire: requests in, cards and discovery out, feedback in."""

from cds.models.card import Action, Card, CDSResponse, Coding, Link, Source, Suggestion, deletable
from cds.models.discovery import DiscoveryResponse, ServiceDescription
from cds.models.feedback import FeedbackEntry, FeedbackRequest
from cds.models.request import FhirAuthorization, HookRequest

__all__ = [
    "Action",
    "CDSResponse",
    "Card",
    "Coding",
    "DiscoveryResponse",
    "FeedbackEntry",
    "FeedbackRequest",
    "FhirAuthorization",
    "HookRequest",
    "Link",
    "ServiceDescription",
    "Source",
    "Suggestion",
    "deletable",
]
