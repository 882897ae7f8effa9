"""Feedback models (spec §Feedback). Reasons without ``display`` are accepted: the sandbox sends them."""

import re
from datetime import UTC, datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# RFC 3339 §5.6 date-time: full date, 'T', time with optional fraction, and 'Z' or a numeric offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class _Inbound(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ReasonCoding(_Inbound):
    code: str = Field(min_length=1)
    system: str | None = None
    display: str | None = None


class OverrideReason(_Inbound):
    reason: ReasonCoding | None = None
    userComment: str | None = None

    @model_validator(mode="after")
    def _something_given(self) -> Self:
        if self.reason is None and not self.userComment:
            raise ValueError("overrideReason needs a reason or a userComment")
        return self


class AcceptedSuggestion(_Inbound):
    id: str = Field(min_length=1)


class FeedbackEntry(_Inbound):
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str

    @field_validator("outcomeTimestamp")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        if not _RFC3339.match(value):
            raise ValueError("outcomeTimestamp must be an RFC 3339 date-time, e.g. 2021-12-11T10:05:31Z")
        try:
            datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError as error:
            raise ValueError(f"outcomeTimestamp is not a real date-time: {error}") from None
        return value

    @model_validator(mode="after")
    def _accepted_names_suggestions(self) -> Self:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("an accepted outcome needs acceptedSuggestions")
        return self

    @property
    def timestamp(self) -> datetime:
        """The outcome time in UTC."""
        parsed = datetime.fromisoformat(self.outcomeTimestamp.upper().replace("Z", "+00:00"))
        return parsed.astimezone(UTC)


class FeedbackRequest(_Inbound):
    feedback: list[FeedbackEntry] = Field(min_length=1)
