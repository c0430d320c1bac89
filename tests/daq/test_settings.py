"""Service settings: defaults under var_dir, the environment over the config file, and a
bad or unknown setting named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from daq.settings import Settings


@pytest.mark.parametrize("field", ["api_threads", "api_build_threads"])
def test_a_pool_of_no_threads_is_refused_naming_the_setting(tmp_path: Path, field: str):
    with pytest.raises(ValidationError, match=field):
        Settings(var_dir=tmp_path, **{field: 0})


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No JXDAQ_* variables but those a test sets."""
    for name in [n for n in os.environ if n.startswith("JXDAQ_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_everything_lives_under_var_dir_by_default(environment, tmp_path: Path):
    settings = Settings(var_dir=tmp_path)
    assert settings.resolved_catalog_url == f"sqlite:///{tmp_path / 'catalog.db'}"
    assert settings.resolved_store_url == str(tmp_path / "audio")
    assert settings.resolved_banks_dir == tmp_path / "banks"


def test_the_environment_overrides_the_config_file(environment, tmp_path: Path):
    config = tmp_path / "jxdaq.toml"
    config.write_text('api_threads = 8\nstore_url = "s3://lab/audio"\n[alerts]\nheartbeat_s = 90\n')
    environment.setenv("JXDAQ_CONFIG", str(config))
    environment.setenv("JXDAQ_API_THREADS", "12")
    settings = Settings()
    assert settings.api_threads == 12  # the environment wins
    assert settings.resolved_store_url == "s3://lab/audio"  # the file fills the rest
    assert settings.alerts.heartbeat_s == 90


def test_an_unknown_key_in_the_config_file_is_named(environment, tmp_path: Path):
    config = tmp_path / "jxdaq.toml"
    config.write_text("api_thread = 8\n")
    environment.setenv("JXDAQ_CONFIG", str(config))
    with pytest.raises(ValidationError, match="api_thread"):
        Settings()
