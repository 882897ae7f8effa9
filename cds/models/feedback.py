"""Feedback models (spec §Feedback). Reasons without ``display`` are accepted: the sandbox sends them.

What is stored is refused here when no store could keep it, so SQLite and PostgreSQL give the same answer:
a NUL character (PostgreSQL text cannot hold one), a card id longer than the column, an outcome time that
falls off the calendar once converted to UTC.
"""

import re
from datetime import UTC, datetime
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

# RFC 3339 §5.6 date-time: full date, 'T', time with optional fraction, and 'Z' or a numeric offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


CARD_ID_LENGTH = 200  # the store's card_uuid column


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000)")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


class _Inbound(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ReasonCoding(_Inbound):
    code: Text = Field(min_length=1)
    system: Text | None = None
    display: Text | None = None


class OverrideReason(_Inbound):
    reason: ReasonCoding | None = None
    userComment: Text | None = None

    @model_validator(mode="after")
    def _something_given(self) -> Self:
        if self.reason is None and not self.userComment:
            raise ValueError("overrideReason needs a reason or a userComment")
        return self


class AcceptedSuggestion(_Inbound):
    id: Text = Field(min_length=1)


class FeedbackEntry(_Inbound):
    card: Text = Field(min_length=1, max_length=CARD_ID_LENGTH)
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
            parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError as error:
            raise ValueError(f"outcomeTimestamp is not a real date-time: {error}") from None
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            raise ValueError(
                "outcomeTimestamp is outside the range of dates that can be stored (years 1 to 9999 in UTC)"
            ) from None
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
