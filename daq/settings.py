"""Service configuration: environment variables (``JXDAQ_*``) over an optional TOML file.

Defaults work on a laptop: everything lives under ``./var/``. Point ``JXDAQ_CONFIG`` at a
TOML file to keep a lab's settings in one place; environment variables win over the file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Webhook(BaseModel):
    """A receiver of JSON POSTs (Slack's incoming webhooks take them as they are)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    url: HttpUrl
    secret: SecretStr = Field(
        SecretStr(""),
        description="Shared secret: each POST carries X-JXDAQ-Signature: sha256=HMAC(body).",
    )


class Email(BaseModel):
    """An SMTP server that relays alerts to ``to`` (STARTTLS unless ``starttls`` is off)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    sender: str = Field(min_length=3)
    to: list[str] = Field(min_length=1)
    username: str = ""
    password: SecretStr = SecretStr("")
    starttls: bool = True
    ca_file: str = Field(
        "", description="CA bundle that signed the server's certificate; default: the system's."
    )


class Alerts(BaseModel):
    """Who is told when an operator must act, and the thresholds that decide it."""

    model_config = ConfigDict(extra="forbid")

    webhooks: list[Webhook] = []
    email: list[Email] = []
    poll_s: float = Field(10.0, gt=0, description="How often the alerter reads the catalog.")
    heartbeat_s: float = Field(
        120.0, gt=0, description="A rig whose worker has been silent this long is alerted."
    )
    disk_min_free_mb: int | None = Field(
        None,
        ge=0,
        description="Store or catalog disk below this alerts; default: the "
        "workers' floor, store_min_free_mb.",
    )
    min_rate_per_s: float = Field(
        0.0,
        ge=0,
        description="A running job capturing fewer takes/s than this over "
        "rate_window_s alerts; 0: off.",
    )
    rate_window_s: float = Field(600.0, gt=0)
    retries: int = Field(4, ge=0, le=10, description="Retries of a failed webhook POST.")
    retry_backoff_s: float = Field(1.0, gt=0, description="First wait between retries; doubles.")

    def disk_floor_mb(self, store_min_free_mb: int) -> int:
        """The disk threshold: ``disk_min_free_mb``, or else the workers' floor."""
        return store_min_free_mb if self.disk_min_free_mb is None else self.disk_min_free_mb

    @property
    def configured(self) -> bool:
        return bool(self.webhooks or self.email)


class Settings(BaseSettings):
    """Everything a jx-daq process needs to know about where things are."""

    model_config = SettingsConfigDict(env_prefix="JXDAQ_", extra="forbid")

    var_dir: Path = Field(Path("var"), description="Working directory for local state.")
    catalog_url: str = Field(
        "", description="SQLAlchemy URL of the catalog; default: SQLite in var_dir."
    )
    store_url: str = Field(
        "", description="Audio store root: a path or fsspec URL; default: var_dir/audio."
    )
    banks_dir: str = Field(
        "",
        description="Folder of the .syx banks API clients may name in a job; default: "
        "var_dir/banks. Nothing outside it is read for them.",
    )
    api_url: str = Field(
        "",
        description="jx-daq API to talk to (http://host:8000); empty: use the catalog directly.",
    )
    api_token: str = Field("", description="Bearer token for api_url (jxdaq token create).")
    store_min_free_mb: int = Field(
        1024,
        ge=0,
        description="Free space a local audio store keeps: below it, workers stop claiming "
        "and fault their rigs until space returns.",
    )
    max_body_bytes: int = Field(
        16 * 2**20,
        ge=1024,
        description="Largest request body the API reads (413 above it): room for a job "
        "with an inline bank upload of a few MB.",
    )

    api_threads: int = Field(
        4,
        ge=1,
        le=256,
        description="Threads the API serves blocking route work on (catalog reads, "
        "encoding). A few per core: more only contend for Python's lock, and throughput "
        "falls as clients are added (benchmarks/api_concurrency.py).",
    )
    api_build_threads: int = Field(
        2,
        ge=1,
        le=64,
        description="Feature shards the API builds at once, on threads of their own, so "
        "long builds never hold the threads that answer everything else.",
    )

    alerts: Alerts = Field(default_factory=Alerts, description="Operator alerts ([alerts]).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = os.environ.get("JXDAQ_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def resolved_catalog_url(self) -> str:
        return self.catalog_url or f"sqlite:///{self.var_dir / 'catalog.db'}"

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or str(self.var_dir / "audio")

    @property
    def resolved_banks_dir(self) -> Path:
        return Path(self.banks_dir) if self.banks_dir else self.var_dir / "banks"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
