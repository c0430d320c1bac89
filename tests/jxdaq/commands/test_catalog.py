"""`jxdaq catalog`: verify finds a take whose audio is gone (exit 1) and --repair requeues it;
a backup restores into an empty catalog and store that verify clean, and restore refuses a
catalog that holds anything."""

from __future__ import annotations

from client_support import fill
from typer.testing import CliRunner

from db.engine import open_catalog
from db.store import AudioStore
from jxdaq.commands.catalog import app


def _filled(tmp_path, count: int) -> tuple[str, str]:
    url, root = f"sqlite:///{tmp_path / 'catalog.db'}", str(tmp_path / "audio")
    catalog = open_catalog(url)
    try:
        fill(catalog, AudioStore(root), count)
    finally:
        catalog.close()
    return url, root


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_verify_names_missing_audio_and_repair_requeues_its_take(tmp_path):
    url, root = _filled(tmp_path, 3)
    clean = _run("verify", "--url", url, "--store", root)
    assert clean.exit_code == 0 and "3 takes checked" in clean.output and "clean" in clean.output
    next(p for p in (tmp_path / "audio").rglob("*.flac")).unlink()
    found = _run("verify", "--url", url, "--store", root)
    assert found.exit_code == 1 and "missing audio (take, key): 1" in found.output
    repaired = _run("verify", "--repair", "--grace", "0", "--url", url, "--store", root)
    assert repaired.exit_code == 0 and "repaired: 1 takes requeued" in repaired.output
    again = _run("verify", "--url", url, "--store", root)
    assert again.exit_code == 0 and "2 takes checked" in again.output


def test_a_backup_restores_into_an_empty_catalog_and_store(tmp_path):
    url, root = _filled(tmp_path, 2)
    backup = _run("backup", str(tmp_path / "backups"), "--url", url, "--store", root)
    assert backup.exit_code == 0, backup.output
    assert "2 takes, 2 audio files" in backup.output
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    args = ("restore", str(tmp_path / "backups"), "--url", fresh)
    restored = _run(*args, "--store", str(tmp_path / "fresh-audio"))
    assert restored.exit_code == 0, restored.output
    assert "2 takes, 2 audio files" in restored.output and "verify: clean" in restored.output
    refused = _run("restore", str(tmp_path / "backups"), "--url", url, "--store", root)
    assert refused.exit_code == 1 and refused.output.startswith("error: ")
