"""Discovery response (spec §Discovery)."""

from typing import Any

from cds.models.base import Emitted


class ServiceDescription(Emitted):
    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class DiscoveryResponse(Emitted):
    services: list[ServiceDescription]

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data.setdefault("services", [])
        return data
