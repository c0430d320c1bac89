"""Service configuration: environment variables (``JXDAQ_*``) over an optional TOML file.

Defaults work on a laptop: everything lives under ``./var/``. Point ``JXDAQ_CONFIG`` at a
TOML file to keep a lab's settings in one place; environment variables win over the file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


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
