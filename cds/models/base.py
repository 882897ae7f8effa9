"""A base for everything the service emits: no ``null`` and no empty value ever reaches the wire."""

from collections.abc import Sized
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict

T = TypeVar("T")
S = TypeVar("S", bound=Sized)


def _none_if_empty(value: S | None) -> S | None:
    return value or None


# An optional list or mapping that is never empty: one given empty is kept as None, so it is never emitted
# (G-2).
OptionalList = Annotated[list[T] | None, AfterValidator(_none_if_empty)]
OptionalMapping = Annotated[dict[str, T] | None, AfterValidator(_none_if_empty)]


class Emitted(BaseModel):
    """Strict on the way out: unknown fields are errors, strings are never empty, an optional list given
    empty is None, and `to_json` leaves out every None (G-2). Excluding None is pydantic's own pass over
    the data: cheaper per call than a serializer of ours on every model."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_min_length=1)

    def to_json(self) -> dict[str, Any]:
        """As it goes on the wire: JSON types, no None."""
        data: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        return data
