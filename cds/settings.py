"""All configuration, read once from the environment (prefix ``CDS_``) or a ``.env`` file."""

from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            return [str(part).strip().rstrip("/") for part in value if str(part).strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
