"""Hook request models (spec §Calling a CDS Service) and the contexts of the hooks served.

Tolerant: unknown fields and extensions are ignored, `userId` may be missing, `draftOrders` may lack
`Bundle.type`. Strict where it matters: a field that is present must have the right type. The prefetch
values and draft orders stay plain JSON here: they are read by ``cds.record`` without full FHIR validation.
"""

from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

NonEmpty = Field(min_length=1)


class _Inbound(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class FhirAuthorization(_Inbound):
    """The EHR's access token. ``access_token`` is a SecretStr so it never shows in a repr or a log."""

    access_token: SecretStr
    token_type: str = "Bearer"  # noqa: S105 - the token type, not a secret
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None

    @field_validator("access_token")
    @classmethod
    def _token_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("access_token must not be empty")
        return value

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("token_type must be 'Bearer'")
        return "Bearer"


class HookRequest(_Inbound):
    hook: str = NonEmpty
    hookInstance: str = NonEmpty
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @field_validator("fhirServer")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("fhirServer must be an absolute http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _authorization_needs_server(self) -> Self:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirAuthorization was given without fhirServer")
        return self


class PatientViewContext(_Inbound):
    patientId: str = NonEmpty
    userId: str | None = None
    encounterId: str | None = None


class OrderSignContext(PatientViewContext):
    draftOrders: dict[str, Any]

    @field_validator("draftOrders")
    @classmethod
    def _bundle(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("resourceType") != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle")
        if not isinstance(value.get("entry", []), list):
            raise ValueError("draftOrders.entry must be an array")
        return value


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1)

    @field_validator("selections")
    @classmethod
    def _references(cls, value: list[str]) -> list[str]:
        for item in value:
            if "/" not in item:
                raise ValueError(f"selection {item!r} is not a 'Type/id' reference")
        return value


CONTEXT_MODELS: dict[str, type[PatientViewContext]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}
