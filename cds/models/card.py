"""CDS Hooks 2.0 response models (spec §Card Attributes, §Source, §Suggestion, §Action, §Link, §Coding)."""

import re
import uuid
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from cds.models.base import Emitted, OptionalList

Indicator = Literal["info", "warning", "critical"]
INDICATOR_RANK: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}

_RELATIVE_REFERENCE = re.compile(r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def new_uuid() -> str:
    return str(uuid.uuid4())


class Coding(Emitted):
    system: str
    code: str
    display: str | None = None


class Source(Emitted):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


def deletable(resource_id: str) -> bool:
    """A delete action can name it: a relative reference 'Type/id' (a draft with no id has none)."""
    return bool(_RELATIVE_REFERENCE.match(resource_id))


class Action(Emitted):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _check_target(self) -> "Action":
        if self.type in ("create", "update"):
            if not self.resource or not isinstance(self.resource.get("resourceType"), str):
                raise ValueError(f"a {self.type} action needs a resource with a resourceType")
        elif not self.resourceId or not deletable(self.resourceId):
            raise ValueError("a delete action needs resourceId as a relative reference, e.g. 'Type/id'")
        return self


class Suggestion(Emitted):
    label: str
    uuid: str = Field(default_factory=new_uuid)
    isRecommended: bool | None = None
    actions: OptionalList[Action] = None


class Link(Emitted):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> "Link":
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is only allowed on smart links")
        return self


class Card(Emitted):
    uuid: str = Field(default_factory=new_uuid)
    summary: str = Field(max_length=139)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: OptionalList[Suggestion] = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: OptionalList[Coding] = None
    links: OptionalList[Link] = None
    _hold_key: str = PrivateAttr(default="")  # never emitted

    @property
    def hold_key(self) -> str:
        """What makes two cards 'the same card' for the repeat hold: set by the card family (a topic and a
        drug pair, say); by default the topic and the summary."""
        topic = self.source.topic.code if self.source.topic else ""
        return self._hold_key or f"{topic}|{self.summary}"

    def keyed(self, key: str) -> "Card":
        """This card with its hold key set; returns it for chaining."""
        self._hold_key = key
        return self

    @model_validator(mode="after")
    def _spec_rules(self) -> "Card":
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when a card has suggestions")
        if self.selectionBehavior == "at-most-one" and self.suggestions:
            recommended = sum(1 for s in self.suggestions if s.isRecommended)
            if recommended > 1:
                raise ValueError("at most one suggestion may be recommended with 'at-most-one'")
        for reason in self.overrideReasons or ():
            if not reason.display:
                raise ValueError(f"override reason {reason.code!r} needs a display")
        return self


class CDSResponse(Emitted):
    cards: list[Card]
    systemActions: OptionalList[Action] = None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data.setdefault("cards", [])  # the one empty array the spec allows (RESP-1)
        return data
