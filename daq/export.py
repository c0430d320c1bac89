"""Streaming exports of a frozen dataset, for trainers that are not beside the catalog.

Two forms, both generated take by take so that memory stays bounded whatever the dataset's
size (one catalog page of take rows, one FLAC file, or one shard at a time):

* **a tar** of FLAC files with a ``dataset.json`` and a ``parameters.csv`` table first:
  together they hold every take's record as a trainer's ``TakeRecord`` needs it (the tone's
  whole APR body, and each job's seed and capture spec in ``dataset.json``), so a trainer far
  from the catalog reads the same records as one beside it (``models.remote``). Its
  bytes are a pure function of the catalog: USTAR headers with fixed owner and mode, each
  member's mtime taken from its take (or the dataset), members in take id order. A byte offset
  therefore always lands on the same byte, which is what makes HTTP ``Range`` resumption
  correct: :func:`tar_stream` walks the layout, skipping whole members by their size (a
  ``stat`` of the stored file, no read) and cutting the one the offset falls in. A planning
  pass (:func:`plan_tar`, take rows and file sizes only) gives the length, the take count and
  an ETag; the stream checks the selection against that ETag as it goes and stops short
  (raising :class:`ExportChanged`) rather than send a tar that disagrees with its headers.
* **NPZ shards of features** (:mod:`daq.feature_cache`, the format the trainer caches in
  too): shard ``i`` holds takes ``i * shard_size ..`` of the selection (take ids, sha256,
  split, the 44 raw tone values and a features array). A planning pass (:func:`plan_shards`)
  records the first take id of every shard, so a shard is found with one indexed query
  whatever its number; built shards are cached on disk under their selection's digest and
  feature config hash (:class:`ShardCache`), so a second pull only reads files.

Nothing here knows HTTP; feature configs are :mod:`daq.features`'.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from daq import feature_cache
from daq.features import FeatureConfig, feature_input, note_on_frame, parse_feature_config
from daq.spec import CaptureSpec
from db.catalog import Catalog
from db.records import DatasetInfo, TakeInfo, encode_cursor
from db.store import AudioStore, StoreIntegrityError, write_atomically
from firmware_protocol.parameters import TONE_PARAMETERS

#: Take rows fetched per catalog query.
PAGE = 1000
#: Part of every tar ETag: bump it when the archive's layout changes, so that a download
#: begun by an older server is never resumed with bytes of the new layout.
#: 2: the ``tone_hex`` column, and ``jobs`` and ``split_names`` in ``dataset.json``.
TAR_LAYOUT = 2
BLOCK = tarfile.BLOCKSIZE
#: Two zero blocks end a tar archive.
TRAILER = bytes(2 * BLOCK)
#: The parameters table is sent in pieces of about this many bytes.
TABLE_CHUNK = 64 * 1024
TABLE_COLUMNS = (
    "take_id",
    "split",
    "file",
    "sha256",
    "job_id",
    "sample_index",
    "rig",
    "qc_verdict",
    "sample_rate",
    "channels",
    "frames",
    *(p.key for p in TONE_PARAMETERS),
    "tone_hex",
)
SPLIT_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


class ExportChanged(RuntimeError):
    """The selection changed (a take was repaired away) between planning and streaming."""


# -- the selection --------------------------------------------------------------------------
def check_split(dataset: DatasetInfo, split: str | None) -> None:
    """Reject a split the dataset does not have, naming the ones it has."""
    if split is not None and split not in dataset.splits:
        raise ValueError(
            f"dataset {dataset.name!r} has no split {split!r}; "
            f"its splits are {', '.join(dataset.splits)}"
        )


def iter_selection(
    catalog: Catalog, dataset: DatasetInfo, split: str | None = None, *, after_id: int = 0
) -> Iterator[TakeInfo]:
    """The dataset's takes (of one split, or all) in id order, from the first id > after_id."""
    cursor = encode_cursor(after_id)
    while True:
        page = catalog.query_takes(dataset.filter, after=cursor, limit=PAGE)
        for take in page.items:
            if split is None or dataset.split_of(take.id) == split:
                yield take
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def split_counts(catalog: Catalog, dataset: DatasetInfo) -> dict[str, int]:
    """Number of takes in each split (every split named, zeros included)."""
    counts = dict.fromkeys(dataset.splits, 0)
    for take in iter_selection(catalog, dataset):
        counts[dataset.split_of(take.id)] += 1
    return counts


class _Digest:
    """What identifies a selection: its take ids and their audio hashes, in order."""

    def __init__(self, *context: object) -> None:
        self._hash = hashlib.sha256(repr(context).encode())

    def add(self, take: TakeInfo) -> None:
        self._hash.update(f"{take.id}:{take.audio.sha256}\n".encode())

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _skip(takes: Iterator[TakeInfo], count: int) -> Iterator[TakeInfo]:
    for _ in range(count):
        if next(takes, None) is None:
            break
    return takes


# -- the tar --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TarPlan:
    """The archive a request gets: which takes, how long, and an ETag naming its bytes."""

    dataset: DatasetInfo
    split: str | None
    start: int
    takes: int
    table_size: int
    size: int
    etag: str
    #: job id -> {"seed", "capture"} of every job the exported takes come from.
    jobs: dict[int, dict]


def plan_tar(
    catalog: Catalog,
    store: AudioStore,
    dataset: DatasetInfo,
    split: str | None = None,
    start: int = 0,
) -> TarPlan:
    """Walk the selection once (take rows and file sizes, no audio read) to size the archive."""
    check_split(dataset, split)
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    digest = _Digest(TAR_LAYOUT, dataset.id, dataset.name, split, start)
    takes = flac_bytes = 0
    table_size = len(_table_header())
    jobs: dict[int, dict] = {}
    for take in _skip(iter_selection(catalog, dataset, split), start):
        digest.add(take)
        takes += 1
        table_size += len(_table_row(dataset, take))
        flac_bytes += _member_length(_stored_size(store, take.audio.key))
        if take.job_id not in jobs:
            # seed and spec never change once submitted (a deleted job's row keeps them)
            job = catalog.get_job(take.job_id, include_deleted=True)
            jobs[take.job_id] = {"seed": job.seed, "capture": job.spec.get("capture")}
    plan = TarPlan(dataset, split, start, takes, table_size, 0, digest.hexdigest(), jobs)
    size = _member_length(len(_dataset_json(plan))) + _member_length(table_size) + flac_bytes
    return dataclasses.replace(plan, size=size + len(TRAILER))


def tar_stream(
    catalog: Catalog,
    store: AudioStore,
    plan: TarPlan,
    offset: int = 0,
    end: int | None = None,
) -> Iterator[bytes]:
    """Bytes ``offset .. end`` (exclusive; default: to the end) of the planned archive."""
    end = plan.size if end is None else end
    if not 0 <= offset <= end <= plan.size:
        raise ValueError(f"byte range {offset}..{end} is outside the archive's {plan.size} bytes")
    try:
        yield from _cut(_pieces(catalog, store, plan), offset, end)
    except ExportChanged as error:
        raise ExportChanged(
            f"dataset {plan.dataset.name!r} changed while it was exported ({error}; a take "
            "was repaired away?): pull it again"
        ) from None


def _cut(pieces: Iterable[_Piece], offset: int, end: int) -> Iterator[bytes]:
    """The bytes offset..end of the pieces laid end to end; whole pieces before are skipped."""
    position = 0
    for piece in pieces:
        if position >= end:
            return
        if position < offset:
            length = piece.length()
            if position + length <= offset:
                position += length
                continue
        for chunk in piece.chunks():
            low, high = max(offset - position, 0), min(end - position, len(chunk))
            position += len(chunk)
            if low < high:
                yield chunk[low:high]
            if position >= end:
                return


class _Piece(Protocol):
    """A stretch of the archive: its length (cheap: at most a stat) and its bytes."""

    def length(self) -> int: ...

    def chunks(self) -> Iterator[bytes]: ...


class _Trailer:
    def length(self) -> int:
        return len(TRAILER)

    def chunks(self) -> Iterator[bytes]:
        yield TRAILER


class _Member:
    """One archive member: header, content, padding."""

    def __init__(
        self,
        name: str,
        mtime: int,
        size: Callable[[], int],
        content: Callable[[], bytes | Iterable[bytes]],
    ) -> None:
        self.name, self.mtime, self._size, self._content = name, mtime, size, content

    def length(self) -> int:
        return _member_length(self._size())

    def chunks(self) -> Iterator[bytes]:
        content = self._content()
        if isinstance(content, bytes):  # small or file members: one chunk
            size = len(content)
            yield tar_header(self.name, size, self.mtime) + content + tar_padding(size)
            return
        size = self._size()
        yield tar_header(self.name, size, self.mtime)
        sent = 0
        for chunk in content:
            sent += len(chunk)
            if sent > size:
                break
            yield chunk
        if sent != size:
            raise ExportChanged(f"{self.name}: {sent} bytes made, {size} planned")
        yield tar_padding(size)


def _pieces(catalog: Catalog, store: AudioStore, plan: TarPlan) -> Iterator[_Piece]:
    dataset = plan.dataset
    created = int(dataset.created_at.timestamp())
    info = _dataset_json(plan)
    yield _Member("dataset.json", created, lambda: len(info), lambda: info)
    yield _Member(
        "parameters.csv",
        created,
        lambda: plan.table_size,
        lambda: _table_chunks(catalog, plan),
    )
    digest = _Digest(TAR_LAYOUT, dataset.id, dataset.name, plan.split, plan.start)
    for take in _skip(iter_selection(catalog, dataset, plan.split), plan.start):
        digest.add(take)
        key = take.audio.key
        yield _Member(
            _flac_name(dataset, take),
            int(take.recorded_at.timestamp()),
            lambda key=key: _stored_size(store, key),
            lambda key=key: store.read_bytes(key),
        )
    if digest.hexdigest() != plan.etag:
        raise ExportChanged("its takes are not the ones planned")
    yield _Trailer()


def _member_length(size: int) -> int:
    return BLOCK + size + len(tar_padding(size))


def tar_padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


def tar_header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def _stored_size(store: AudioStore, key: str) -> int:
    try:
        return int(store.fs.size(f"{store.root}/{key}"))
    except FileNotFoundError:
        raise StoreIntegrityError(f"audio {key} is missing from {store.root}") from None


def _flac_name(dataset: DatasetInfo, take: TakeInfo) -> str:
    return f"{dataset.split_of(take.id)}/{take.id:012d}.flac"


def _dataset_json(plan: TarPlan) -> bytes:
    dataset = plan.dataset
    info = {
        "name": dataset.name,
        "id": dataset.id,
        "created_at": dataset.created_at.isoformat(),
        "filter": dataset.filter.to_json(),
        "splits": dataset.splits,
        "split_names": list(dataset.splits),  # "splits" is sorted below; this is their order
        "seed": dataset.seed,
        "jobs": {str(job_id): job for job_id, job in sorted(plan.jobs.items())},
        "split": plan.split,
        "start": plan.start,
        "takes": plan.takes,
        "etag": plan.etag,
        "files": "<split>/<take id, 12 digits>.flac: 24-bit FLAC, sha256 in parameters.csv",
        "columns": list(TABLE_COLUMNS),
    }
    return (json.dumps(info, indent=1, sort_keys=True) + "\n").encode()


def _csv_line(values: Iterable[object]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


def _table_header() -> bytes:
    return _csv_line(TABLE_COLUMNS)


def _table_row(dataset: DatasetInfo, take: TakeInfo) -> bytes:
    return _csv_line(
        (
            take.id,
            dataset.split_of(take.id),
            _flac_name(dataset, take),
            take.audio.sha256,
            take.job_id,
            take.sample_index,
            take.rig,
            take.qc_verdict.value,
            take.audio.sample_rate,
            take.audio.channels,
            take.audio.frames,
            *(take.tone[p.apr_index] for p in TONE_PARAMETERS),
            take.tone.hex(),
        )
    )


def _table_chunks(catalog: Catalog, plan: TarPlan) -> Iterator[bytes]:
    pending = [_table_header()]
    pending_bytes = len(pending[0])
    takes = _skip(iter_selection(catalog, plan.dataset, plan.split), plan.start)
    for take in takes:
        row = _table_row(plan.dataset, take)
        pending.append(row)
        pending_bytes += len(row)
        if pending_bytes >= TABLE_CHUNK:
            yield b"".join(pending)
            pending, pending_bytes = [], 0
    if pending:
        yield b"".join(pending)


# -- NPZ feature shards ---------------------------------------------------------------------
#: Takes per shard unless asked otherwise: about 11 MB of thesis STFT features.
SHARD_SIZE = 256
MAX_SHARD_SIZE = 4096
#: The features of a shard unless asked otherwise: the thesis's STFT.
FEATURES = "stft"


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """How a selection is cut into shards: the first take id of each, and the digest."""

    dataset: DatasetInfo
    split: str | None
    shard_size: int
    takes: int
    first_ids: tuple[int, ...]
    digest: str

    @property
    def shards(self) -> int:
        return len(self.first_ids)


def plan_shards(
    catalog: Catalog, dataset: DatasetInfo, split: str | None = None, shard_size: int = SHARD_SIZE
) -> ShardPlan:
    """Walk the selection once (take rows only) and note where each shard starts."""
    check_split(dataset, split)
    if not 1 <= shard_size <= MAX_SHARD_SIZE:
        raise ValueError(f"shard_size must be within 1..{MAX_SHARD_SIZE}, got {shard_size}")
    digest = _Digest(dataset.id, dataset.name, split)
    first_ids: list[int] = []
    takes = 0
    for take in iter_selection(catalog, dataset, split):
        if takes % shard_size == 0:
            first_ids.append(take.id)
        digest.add(take)
        takes += 1
    return ShardPlan(dataset, split, shard_size, takes, tuple(first_ids), digest.hexdigest())


def shard_takes(catalog: Catalog, plan: ShardPlan, index: int) -> list[TakeInfo]:
    """The takes of shard ``index`` (one indexed query from its first take id)."""
    if not 0 <= index < plan.shards:
        raise IndexError(
            f"dataset {plan.dataset.name!r} has {plan.shards} shards of {plan.shard_size}; "
            f"there is no shard {index}"
        )
    takes = iter_selection(catalog, plan.dataset, plan.split, after_id=plan.first_ids[index] - 1)
    return [take for take, _ in zip(takes, range(plan.shard_size), strict=False)]


def shard_arrays(
    catalog: Catalog,
    store: AudioStore,
    dataset: DatasetInfo,
    takes: list[TakeInfo],
    config: FeatureConfig,
) -> dict[str, np.ndarray]:
    """The arrays of one shard (:data:`daq.feature_cache.SHARD_ARRAYS`); features see each
    take from its first note-on, as the trainer's do."""
    features = np.empty((len(takes), *config.shape), dtype=config.dtype)
    pre_rolls: dict[int, float] = {}
    for row, take in enumerate(takes):
        audio, rate = store.read(take.audio.key)
        if rate != config.sample_rate:
            raise ValueError(
                f"take {take.id} is sampled at {rate} Hz but the {config.kind} features expect "
                f"{config.sample_rate} Hz; ask for features with sample_rate={rate}"
            )
        if take.job_id not in pre_rolls:
            pre_rolls[take.job_id] = _pre_roll_s(catalog, take.job_id)
        start = note_on_frame(pre_rolls[take.job_id], rate)
        features[row] = config.compute(feature_input(audio, start))
    return feature_cache.pack(
        [t.id for t in takes],
        [t.audio.sha256 for t in takes],
        [dataset.split_of(t.id) for t in takes],
        feature_cache.tone_table(t.tone for t in takes),
        features,
    )


def _pre_roll_s(catalog: Catalog, job_id: int) -> float:
    """The job's recorded pre-roll (none for a job without a capture spec)."""
    capture = catalog.get_job(job_id, include_deleted=True).spec.get("capture")
    return 0.0 if capture is None else CaptureSpec.model_validate(capture).pre_roll_s


class ShardCache:
    """Built shards on disk: one shard set (:mod:`daq.feature_cache`) per selection digest,
    shard size and feature config, each shard built when first asked for.

    Entries are never removed here (delete the directory to reclaim the space).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def directory(self, plan: ShardPlan, config: FeatureConfig) -> Path:
        selection = f"{plan.split or 'all'}-{plan.shard_size}-{plan.digest[:16]}"
        name = f"{selection}-{config.kind}-{config.hash}-v{feature_cache.FORMAT}"
        return self.root / f"dataset-{plan.dataset.id}" / name

    def path(self, plan: ShardPlan, config: FeatureConfig, index: int) -> Path:
        return self.directory(plan, config) / feature_cache.shard_name(index)

    def get(
        self,
        catalog: Catalog,
        store: AudioStore,
        plan: ShardPlan,
        config: FeatureConfig,
        index: int,
    ) -> Path:
        """The shard's file, built first if it is not cached yet."""
        path = self.path(plan, config, index)
        if path.is_file():
            return path
        arrays = shard_arrays(
            catalog, store, plan.dataset, shard_takes(catalog, plan, index), config
        )
        saved = path.parent / feature_cache.INDEX_NAME
        if not saved.is_file():
            write_atomically(saved, json.dumps(describe_shards(plan, config), indent=1).encode())
        feature_cache.write_shard(path, arrays)
        return path


# -- what the API and the local CLI both answer --------------------------------------------------
def describe_dataset(dataset: DatasetInfo, counts: dict[str, int] | None = None) -> dict:
    """A dataset as JSON; ``counts`` (takes per split) when it was counted."""
    return {
        "id": dataset.id,
        "name": dataset.name,
        "filter": dataset.filter.to_json(),
        "splits": dataset.splits,
        "seed": dataset.seed,
        "created_by": dataset.created_by,
        "created_at": dataset.created_at.isoformat(),
        "takes": None if counts is None else sum(counts.values()),
        "counts": counts,
    }


def describe_shards(plan: ShardPlan, config: FeatureConfig) -> dict:
    """The shard index: how many, how big, what they hold, and the selection digest."""
    return feature_cache.describe(
        dataset=plan.dataset.name,
        split=plan.split,
        takes=plan.takes,
        shard_size=plan.shard_size,
        selection=plan.digest,
        config=config,
    )


def load_feature_config(kind: str, fields: dict | None = None) -> FeatureConfig:
    """A :mod:`daq.features` config of ``kind`` with ``fields`` changed.

    Raises pydantic's ValidationError for a bad field.
    """
    return parse_feature_config({**(fields or {}), "kind": kind})
