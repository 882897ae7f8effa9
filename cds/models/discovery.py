"""Discovery response (spec §Discovery)."""

from typing import Any

from cds.models.base import Emitted, OptionalMapping


class ServiceDescription(Emitted):
    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: OptionalMapping[str] = None
    usageRequirements: str | None = None


class DiscoveryResponse(Emitted):
    services: list[ServiceDescription]

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data.setdefault("services", [])
        return data
