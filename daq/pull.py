"""Pulling a frozen dataset into a directory, resumably: a tar, NPZ feature shards,
WebDataset shards or a Hugging Face audio folder.

The source is either the API (:class:`daq.client.ApiClient`) or the catalog on this machine
(:class:`LocalDatasets`); both answer the same calls with the same bytes, since both run
:mod:`daq.export`. So a laptop without a server and a trainer far from the lab use one path.

Resuming: a tar is written to ``<file>.part`` with its ETag beside it; a new pull asks for the
rest (``Range`` from the part's length, valid only while the ETag matches, else from zero).
Shards are written one file each, under a temporary name then renamed; a new pull skips the
complete ones (:func:`daq.feature_cache.shard_complete`), unless the index says
the selection or the shard size changed. WebDataset shards likewise (each fsynced under a
temporary name, then renamed); a Hugging Face folder is built from the WebDataset stream under
``.part`` and renamed into place whole.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from daq import export, export_formats, feature_cache
from daq.client import TarResponse
from db.catalog import Catalog
from db.records import TakeFilter
from db.store import AudioStore, atomic_file, fsync_directory, write_atomically

#: Reading cached shards in pieces of this size.
CHUNK = 1024 * 1024
#: progress(done, total): bytes for a tar, takes for shards.
Progress = Callable[[int, int], None]


class DatasetSource(Protocol):
    """What a pull needs; :class:`daq.client.ApiClient` and :class:`LocalDatasets` fit."""

    def freeze_dataset(
        self, name: str, filters: dict[str, Any], splits: dict[str, float], seed: int = 0
    ) -> dict[str, Any]: ...

    def get_dataset(self, name: str) -> dict[str, Any]: ...

    def list_datasets(self) -> list[dict[str, Any]]: ...

    def export_tar(
        self,
        name: str,
        split: str | None = None,
        offset: int = 0,
        etag: str | None = None,
        if_none_match: str | None = None,
    ) -> AbstractContextManager[TarResponse]: ...

    def shard_index(self, name: str, **query: Any) -> dict[str, Any]: ...

    def shard(self, name: str, index: int, **query: Any) -> Iterator[bytes]: ...

    def webdataset_index(self, name: str, **query: Any) -> dict[str, Any]: ...

    def webdataset_shard(self, name: str, index: int, **query: Any) -> Iterator[bytes]: ...


class LocalDatasets:
    """The catalog and store of this machine, answering like the API does."""

    def __init__(self, catalog: Catalog, store: AudioStore, cache_root: Path) -> None:
        self.catalog, self.store = catalog, store
        self.cache = export.ShardCache(cache_root)
        self._plans: dict[tuple[str, str | None, int], export.ShardPlan] = {}

    def freeze_dataset(
        self, name: str, filters: dict[str, Any], splits: dict[str, float], seed: int = 0
    ) -> dict[str, Any]:
        selection = TakeFilter.from_json(filters)  # a bad parameter range raises here
        if selection.rig is not None:
            self.catalog.get_rig(selection.rig)  # NotFound before anything is stored
        dataset = self.catalog.freeze_dataset(name, selection, splits, seed=seed)
        return export.describe_dataset(dataset, export.split_counts(self.catalog, dataset))

    def get_dataset(self, name: str) -> dict[str, Any]:
        dataset = self.catalog.get_dataset(name)
        return export.describe_dataset(dataset, export.split_counts(self.catalog, dataset))

    def list_datasets(self) -> list[dict[str, Any]]:
        return [export.describe_dataset(d) for d in self.catalog.list_datasets()]

    @contextmanager
    def export_tar(
        self,
        name: str,
        split: str | None = None,
        offset: int = 0,
        etag: str | None = None,
        if_none_match: str | None = None,
    ) -> Iterator[TarResponse]:
        plan = export.plan_tar(self.catalog, self.store, self.catalog.get_dataset(name), split)
        quoted = f'"{plan.etag}"'
        if if_none_match == quoted:
            yield TarResponse(0, 0, quoted, 0, iter(()), unchanged=True)
            return
        start = offset if etag == quoted and 0 <= offset <= plan.size else 0
        chunks = export.tar_stream(self.catalog, self.store, plan, start)
        yield TarResponse(start, plan.size, quoted, plan.takes, chunks)

    def _plan(self, name: str, query: dict[str, Any]) -> tuple[export.ShardPlan, Any]:
        fields = json.loads(query["feature_config"]) if query.get("feature_config") else {}
        config = export.load_feature_config(query.get("features") or export.FEATURES, fields)
        return self._shard_plan(name, query), config

    def _shard_plan(self, name: str, query: dict[str, Any]) -> export.ShardPlan:
        """The selection cut into shards, planned once per pull (a plan walks every take)."""
        size = query.get("shard_size") or export.SHARD_SIZE
        key = (name, query.get("split"), size)
        if key not in self._plans:
            dataset = self.catalog.get_dataset(name)
            self._plans[key] = export.plan_shards(self.catalog, dataset, key[1], size)
        return self._plans[key]

    def shard_index(self, name: str, **query: Any) -> dict[str, Any]:
        return export.describe_shards(*self._plan(name, query))

    def shard(self, name: str, index: int, **query: Any) -> Iterator[bytes]:
        plan, config = self._plan(name, query)
        if query.get("selection") not in (None, plan.digest):
            raise ValueError(f"dataset {name!r} changed since its shard index was read")
        path = self.cache.get(self.catalog, self.store, plan, config, index)
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def webdataset_index(self, name: str, **query: Any) -> dict[str, Any]:
        return export_formats.describe_webdataset(self._shard_plan(name, query))

    def webdataset_shard(self, name: str, index: int, **query: Any) -> Iterator[bytes]:
        plan = self._shard_plan(name, query)
        if query.get("selection") not in (None, plan.digest):
            raise ValueError(f"dataset {name!r} changed since its shard index was read")
        if not 0 <= index < plan.shards:
            raise ValueError(f"dataset {name!r} has {plan.shards} shards; no shard {index}")
        return export_formats.webdataset_shard(self.catalog, self.store, plan, index)


def pull_tar(
    source: DatasetSource,
    name: str,
    out: Path,
    split: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """``out/<name>-<split or all>.tar``, resuming a partial download; returns its path.

    A tar pulled before is kept while the server's archive still has its ETag (kept beside
    it as ``.etag``); once the dataset changed (takes repaired away since), the new archive
    replaces it. A partial download's ETag is kept apart (``.part.etag``), so an interrupted
    re-pull never makes the old tar look current.
    """
    final = out / f"{name}-{split or 'all'}.tar"
    part = final.with_name(final.name + ".part")
    final_tag, part_tag = final.with_name(final.name + ".etag"), part.with_name(part.name + ".etag")
    current = final_tag.read_text().strip() if final.exists() and final_tag.exists() else None
    if final.exists() and current is None:
        return final  # pulled by a version that kept no ETag: nothing to compare with
    out.mkdir(parents=True, exist_ok=True)
    resumable = part.exists() and part_tag.exists()
    offset = part.stat().st_size if resumable else 0
    etag = part_tag.read_text().strip() if resumable else None
    with source.export_tar(name, split, offset, etag, if_none_match=current) as answer:
        if answer.unchanged:
            return final
        part_tag.write_text(answer.etag)
        with open(part, "ab" if answer.offset else "wb") as handle:
            handle.truncate(answer.offset)
            position = answer.offset
            for chunk in answer.chunks:
                handle.write(chunk)
                position += len(chunk)
                if progress:
                    progress(position, answer.size)
            handle.flush()
            os.fsync(handle.fileno())
    if position != answer.size:
        raise OSError(f"{part}: got {position} of {answer.size} bytes; pull again to resume")
    os.replace(part, final)
    os.replace(part_tag, final_tag)
    fsync_directory(out)
    return final


def pull_shards(
    source: DatasetSource,
    name: str,
    out: Path,
    progress: Progress | None = None,
    **query: Any,
) -> Path:
    """NPZ shards into ``out/<name>-<split>-<kind>-<hash>/``, skipping complete ones: a shard
    set of :mod:`daq.feature_cache` (``FeatureShards`` reads it).

    ``query``: split, shard_size, features, feature_config (JSON text), as the API takes.
    """
    index = source.shard_index(name, **query)
    features = index["features"]
    directory = _shard_folder(
        out / f"{name}-{index['split'] or 'all'}-{features['kind']}-{features['hash']}", index
    )
    size, takes = index["shard_size"], index["takes"]
    for i in range(index["shards"]):
        path = directory / feature_cache.shard_name(i)
        if not feature_cache.shard_complete(path):
            part = path.with_name(path.name + ".part")
            with open(part, "wb") as handle:
                for chunk in source.shard(name, i, **query, selection=index["selection"]):
                    handle.write(chunk)
            os.replace(part, path)
        if progress:
            progress(min((i + 1) * size, takes), takes)
    return directory


def _shard_folder(directory: Path, index: dict[str, Any]) -> Path:
    """The folder a pull of shards goes to, holding ``index``: emptied first when it holds
    another index (another selection or shard size: none of its shards is reusable)."""
    saved = directory / "index.json"
    if saved.exists() and json.loads(saved.read_text()) != index:
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(saved, json.dumps(index, indent=1).encode())
    return directory


def pull_webdataset(
    source: DatasetSource,
    name: str,
    out: Path,
    progress: Progress | None = None,
    **query: Any,
) -> Path:
    """WebDataset shards into ``out/<name>-<split or all>-webdataset/``, skipping the ones
    pulled before. ``query``: split, shard_size."""
    index = source.webdataset_index(name, **query)
    directory = _shard_folder(out / f"{name}-{index['split'] or 'all'}-webdataset", index)
    size, takes = index["shard_size"], index["takes"]
    for i in range(index["shards"]):
        path = directory / export_formats.shard_file_name(i)
        if not path.exists():
            chunks = source.webdataset_shard(name, i, **query, selection=index["selection"])
            with atomic_file(path) as handle:
                for chunk in chunks:
                    handle.write(chunk)
        if progress:
            progress(min((i + 1) * size, takes), takes)
    return directory


def pull_hf(
    source: DatasetSource,
    name: str,
    out: Path,
    progress: Progress | None = None,
    split: str | None = None,
) -> Path:
    """A Hugging Face audio folder ``out/<name>-<split or all>-hf/`` (see
    :mod:`daq.export_formats`), built whole from the WebDataset stream and renamed into place;
    kept as it is while the dataset's selection is unchanged."""
    dataset = source.get_dataset(name)
    splits = [split] if split else list(dataset["splits"])
    export_formats.check_hf_split_names(name, splits)
    index = source.webdataset_index(name, split=split)
    final = out / f"{name}-{split or 'all'}-hf"
    saved = final / "index.json"
    if saved.exists() and json.loads(saved.read_text()) == index:
        return final
    part = final.with_name(final.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    writer = export_formats.HfFolderWriter(part, name, splits)
    done = 0
    with writer:
        for i in range(index["shards"]):
            chunks = source.webdataset_shard(name, i, split=split, selection=index["selection"])
            for info, flac in export_formats.iter_samples(chunks):
                writer.add(info, flac)
                done += 1
                if progress:
                    progress(done, index["takes"])
    write_atomically(part / "index.json", json.dumps(index, indent=1).encode())
    if final.exists():
        shutil.rmtree(final)
    os.replace(part, final)
    fsync_directory(out)
    return final
