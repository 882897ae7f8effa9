"""All configuration, read once from the environment (prefix ``CDS_``) or a ``.env`` file."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def comma_separated(value: object) -> object:
    """A comma-separated string (or a list) as a list of URLs, blanks and trailing slashes dropped."""
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list):
        return [str(part).strip().rstrip("/") for part in value if str(part).strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./cds.db",
        description="SQLAlchemy URL of the feedback store: a SQLite file by default, PostgreSQL by URL.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=["https://sandbox.cds-hooks.org"],
        description="Comma-separated origins allowed to call from a browser.",
    )
    cors_allow_localhost: bool = Field(
        default=True, description="Also allow http(s)://localhost and 127.0.0.1 on any port."
    )
    fhir_request_timeout: float = Field(default=2.0, gt=0, description="Seconds for one FHIR call.")
    fhir_deadline: float = Field(
        default=3.0, gt=0, description="Seconds for all FHIR calls of one hook request together."
    )
    fhir_max_pages: int = Field(default=10, ge=1, description="Search result pages followed per key.")
    fhir_max_connections: int = Field(default=20, ge=1, description="Concurrent FHIR calls per worker.")
    log_level: str = Field(default="INFO", description="Python logging level name.")
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="json: one object a line (compose sets it); text: readable lines; auto: text when the"
        " log goes to a terminal, JSON otherwise. One format for every line, uvicorn's included.",
    )

    auth: Literal["required", "sandbox", "off"] = Field(
        default="required",
        description="required: every call carries a JWT from a registered client; sandbox: also trust the"
        " public CDS Hooks sandbox's key (development only, loopback only); off: no token (loopback only).",
    )
    clients_file: Path | None = Field(default=None, description="JSON file of registered clients.")
    public_base_url: str | None = Field(
        default=None,
        description="The service's public base URL (scheme, host, port, path prefix) that tokens name in"
        " aud; behind a proxy it differs from the address the service sees. Default: the request's URL.",
    )
    clock_skew: int = Field(default=60, ge=0, description="Seconds of clock difference tolerated in tokens.")
    jwks_refresh_interval: float = Field(
        default=60.0, gt=0, description="Least seconds between key set fetches."
    )
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest request body accepted.")
    max_bundle_entries: int = Field(default=10_000, gt=0, description="Entries read from one Bundle.")
    preview_fhir_servers: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated FHIR base URLs that the preview page's 'your own patient' form may"
        " fetch from (a visitor types the server, so the service fetches what they type). Empty: the form is"
        " off. '*' allows any server but link-local and metadata addresses (CDS_AUTH=sandbox or off only).",
    )

    @field_validator("preview_fhir_servers", mode="before")
    @classmethod
    def _split_servers(cls, value: object) -> object:
        servers = comma_separated(value)
        for server in servers if isinstance(servers, list) else ():
            parts = urlsplit(server)
            if server != "*" and (parts.scheme not in ("http", "https") or not parts.netloc):
                raise ValueError(f"{server!r} is not an absolute http(s) URL (or '*')")
        return servers

    @model_validator(mode="after")
    def _any_server_in_development_only(self) -> Self:
        if "*" in self.preview_fhir_servers and self.auth == "required":
            raise ValueError(
                "CDS_PREVIEW_FHIR_SERVERS=* lets any visitor make the service fetch any URL: it is for"
                " development (CDS_AUTH=sandbox or off, loopback only); list the FHIR servers instead"
            )
        return self

    # Limits that keep faults and hostile input bounded (docs/reliability.md)
    fhir_max_response_bytes: int = Field(
        default=5 * 1024 * 1024,
        gt=0,
        description="Largest FHIR answer read; past it the reading stops and the key is reported incomplete.",
    )
    fhir_max_total_bytes: int = Field(
        default=10 * 1024 * 1024,
        gt=0,
        description="Largest total of the FHIR answers read for one hook call; past it the same.",
    )
    max_feedback_entries: int = Field(
        default=100, gt=0, description="Most feedback entries accepted in one request; more get 413."
    )
    database_timeout: float = Field(
        default=3.0,
        gt=0,
        description="Seconds a database call may take (PostgreSQL statement_timeout, SQLite busy timeout);"
        " a call waiting longer answers 503.",
    )
    database_connect_timeout: int = Field(
        default=2, ge=1, description="Seconds to open a PostgreSQL connection (libpq treats 1 as 2)."
    )
    audit_flush_interval: float = Field(
        default=0.2, gt=0, description="Seconds between audit writes: what a killed worker can lose."
    )
    audit_queue_max: int = Field(
        default=10_000,
        gt=0,
        description="Audit entries kept while the database is unavailable; past it the oldest are dropped.",
    )
    site_file: Path | None = Field(
        default=None,
        description="The site file (YAML or JSON): card families on or off, the site's trough targets,"
        " indicator changes, the repeat hold in days. Checked at start-up.",
    )
    hmac_key: SecretStr | None = Field(
        default=None,
        description="The secret of the repeat hold's patient pseudonyms (an HMAC of the FHIR server and"
        " patient id; no patient id is stored in clear). The same in every worker and replica; unset: a"
        " random key of this process (holds then last until it restarts, and are not shared).",
    )

    # The SMART app (docs/smart-app.md): off until the EHR has registered it and given it a client id
    smart_client_id: str | None = Field(
        default=None,
        description="The SMART app's client id, as the EHR registered it. Unset: the app is off and no card"
        " links to it. Set: CDS_PUBLIC_BASE_URL (its launch and redirect URLs) and CDS_SMART_ISSUERS are"
        " needed too.",
    )
    smart_client_secret: SecretStr | None = Field(
        default=None,
        description="The client secret, only if the EHR registered the app as a confidential client (sent"
        " with HTTP Basic to the token endpoint). Unset: a public client, protected by PKCE (preferred).",
    )
    smart_issuers: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated FHIR base URLs that may launch the SMART app (the launch's iss): the"
        " app fetches from and sends the browser to no other EHR.",
    )
    smart_session_seconds: int = Field(
        default=1800,
        ge=60,
        description="How long a SMART app session lives in this process's memory, its access token with it"
        " (the token's own expires_in ends it sooner).",
    )
    smart_max_sessions: int = Field(
        default=1000, ge=1, description="SMART app sessions held at once; past it the oldest is ended."
    )

    @field_validator("smart_client_id", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("smart_issuers", mode="before")
    @classmethod
    def _split_issuers(cls, value: object) -> object:
        issuers = comma_separated(value)
        for issuer in issuers if isinstance(issuers, list) else ():
            parts = urlsplit(issuer)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                raise ValueError(f"{issuer!r} is not an absolute http(s) FHIR base URL")
        return issuers

    @model_validator(mode="after")
    def _smart_app_needs_its_urls(self) -> Self:
        if self.smart_client_id is None:
            return self
        if not self.public_base_url or urlsplit(self.public_base_url).scheme not in ("http", "https"):
            raise ValueError(
                "CDS_SMART_CLIENT_ID needs CDS_PUBLIC_BASE_URL, an absolute http(s) URL: the app's launch and"
                " redirect URLs are built from it and registered with the EHR"
            )
        if not self.smart_issuers:
            raise ValueError(
                "CDS_SMART_CLIENT_ID needs CDS_SMART_ISSUERS, the FHIR base URLs that may launch the app"
            )
        return self

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return comma_separated(value)


@lru_cache
def get_settings() -> Settings:
    return Settings()
