"""A base for everything the service emits: no ``null`` and no empty value ever reaches the wire."""

from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

_EMPTY: tuple[object, ...] = (None, "", [], {})


class Emitted(BaseModel):
    """Strict on the way out: unknown fields are errors, empty optional values are dropped (G-2)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_min_length=1)

    @model_serializer(mode="wrap")
    def _drop_empty(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if not _is_empty(value)}


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)
