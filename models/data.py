"""Training data: the takes of a frozen catalog dataset, their cached features and targets.

A frozen dataset (``catalog.freeze_dataset``) fixes which takes belong to it and which split
each one is in (``DatasetInfo.split_of``). Here that becomes:

* a :class:`TakeSource`: the dataset's take records (tone, audio key, capture setup, split)
  and each take's audio. :class:`CatalogSource` reads a catalog and an audio store directly;
  a remote trainer's source (the API's dataset export stream) implements the same protocol;
* :class:`FrozenDataset`: the records plus the features of *every* take, computed once into
  a shard set (:mod:`daq.feature_cache`, the format of the API's shard export too) in take-id
  order and reused by every split, every run and every model that uses the same feature config;
* :class:`SplitDataset`: one split as a PyTorch map-style dataset yielding
  ``(features [frames, bins], target vector [params])``; ``__getitems__`` reads a whole batch
  from the memory-mapped shards at once (the DataLoader calls it when it exists).

Features see the take from its first note-on (the stored audio starts ``capture.pre_roll_s``
earlier), cut or zero-padded to the feature config's ``duration_s``; multichannel takes are
averaged to mono. Targets are the tone's raw catalog values as ``TargetSpec.encode`` gives
them: continuous parameters as raw/127 in [0, 1], switches as their position (a class index).

The cache key names the dataset and hashes its take ids, audio keys and note-on offsets, so
two catalogs with a dataset of the same name never share an entry, and a cache outlives
nothing it was not computed from.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from daq import feature_cache
from daq.capture import render_seed
from daq.feature_cache import FeatureShards
from daq.features import THESIS_STFT, FeatureConfig, feature_input, note_on_frame
from daq.spec import CaptureSpec
from db.catalog import Catalog
from db.records import DatasetInfo, TakeFilter, TakeInfo
from db.store import AudioStore, sha_of_key
from firmware_protocol.tone import Tone
from models.progress import progress_bars
from models.targets import TargetSpec

#: Bump when how audio becomes a feature input changes (the note-on cut, the mono mix).
DATA_CODE_VERSION = 1
PAGE = 1000


@dataclass(frozen=True, slots=True)
class TakeRecord:
    """What training and evaluation need to know about one take (its audio aside)."""

    take_id: int
    split: str
    tone: Tone
    audio_key: str
    sample_rate: int
    job_id: int
    job_seed: int
    sample_index: int
    rig: str
    capture: CaptureSpec

    @property
    def note_on_frame(self) -> int:
        """Where the first note starts in the stored audio (after the pre-roll)."""
        return note_on_frame(self.capture.pre_roll_s, self.sample_rate)

    @property
    def render_seed(self) -> int:
        """The emulator seed the take was rendered with, if it came from the emulated rig."""
        return render_seed(self.job_seed, self.sample_index)


class TakeSource(Protocol):
    """Where a frozen dataset's takes come from (a local catalog, or later the API)."""

    @property
    def dataset(self) -> str:
        """The frozen dataset's name."""
        ...

    @property
    def split_names(self) -> tuple[str, ...]:
        """The dataset's splits, in the order they were frozen."""
        ...

    def records(self) -> list[TakeRecord]:
        """Every take of the dataset in take-id order, each with its split."""
        ...

    def audio(self, record: TakeRecord) -> np.ndarray:
        """The take's audio from its first note-on: mono float32."""
        ...


class CatalogSource:
    """A frozen dataset read straight from a catalog and its audio store."""

    def __init__(self, catalog: Catalog, store: AudioStore, dataset: str) -> None:
        self.catalog = catalog
        self.store = store
        self.info: DatasetInfo = catalog.get_dataset(dataset)  # NotFound names the dataset

    @property
    def dataset(self) -> str:
        return self.info.name

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(self.info.splits)

    def records(self) -> list[TakeRecord]:
        return take_records(self.catalog, self.info.filter, self.info.split_of)

    def audio(self, record: TakeRecord) -> np.ndarray:
        audio, _ = self.store.read(record.audio_key)
        return feature_input(audio, record.note_on_frame)


def take_records(
    catalog: Catalog, filters: TakeFilter, split_of: Callable[[int], str] = lambda _: ""
) -> list[TakeRecord]:
    """Records of the takes ``filters`` selects, in take-id order (e.g. a resynthesis job's)."""
    jobs: dict[int, tuple[int, CaptureSpec]] = {}
    records = []
    for take in _takes(catalog, filters):
        if take.job_id not in jobs:
            job = catalog.get_job(take.job_id, include_deleted=True)  # its takes' provenance
            jobs[take.job_id] = job.seed, CaptureSpec.model_validate(job.spec["capture"])
        seed, capture = jobs[take.job_id]
        records.append(
            TakeRecord(
                take_id=take.id,
                split=split_of(take.id),
                tone=Tone(take.tone),
                audio_key=take.audio.key,
                sample_rate=take.audio.sample_rate,
                job_id=take.job_id,
                job_seed=seed,
                sample_index=take.sample_index,
                rig=take.rig,
                capture=capture,
            )
        )
    return records


def _takes(catalog: Catalog, filters: TakeFilter) -> Iterator[TakeInfo]:
    cursor = None
    while True:
        page = catalog.query_takes(filters, after=cursor, limit=PAGE)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def selection_digest(records: Sequence[TakeRecord]) -> str:
    """What the features are computed from: each take's id, audio and note-on."""
    content = [DATA_CODE_VERSION] + [[r.take_id, r.audio_key, r.note_on_frame] for r in records]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def cache_key(source: TakeSource, records: Sequence[TakeRecord]) -> str:
    """The dataset's name (made safe for a file name) and a digest of what it holds."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", source.dataset).strip("._-")[:60] or "dataset"
    return f"{name}-{selection_digest(records)[:12]}"


class FrozenDataset:
    """A frozen dataset's take records and the cached features of all of them."""

    def __init__(
        self, source: TakeSource, records: list[TakeRecord], features: FeatureShards
    ) -> None:
        if len(records) != len(features):
            raise ValueError(
                f"dataset {source.dataset!r}: {len(records)} takes but {len(features)} cached "
                "feature rows"
            )
        self.source = source
        self.records = records
        self.features = features

    @classmethod
    def open(
        cls,
        source: TakeSource,
        config: FeatureConfig = THESIS_STFT,
        cache_root: str | Path = "var/features",
        *,
        progress: bool = False,
        splits: Sequence[str] = (),
    ) -> FrozenDataset:
        """Records from ``source``; features from the cache, computed first if missing.

        ``splits``: names that must exist, checked before any work is done.
        """
        unknown = [name for name in splits if name not in source.split_names]
        if unknown:
            raise ValueError(
                f"split {unknown[0]!r} of dataset {source.dataset!r} does not exist; it has: "
                f"{', '.join(source.split_names)}"
            )
        records = source.records()
        if not records:
            raise ValueError(f"dataset {source.dataset!r} holds no takes")
        for record in records:
            if record.sample_rate != config.sample_rate:
                raise ValueError(
                    f"dataset {source.dataset!r}: take {record.take_id} is at "
                    f"{record.sample_rate} Hz but the {config.kind} features want "
                    f"{config.sample_rate} Hz"
                )
        key = cache_key(source, records)
        directory = Path(cache_root) / f"{key}--{config.kind}-{config.hash}"
        if feature_cache.is_complete(directory):
            return cls(source, records, FeatureShards(directory))
        with progress_bars(progress) as bars:
            task = bars.add_task(f"{config.kind} features of {source.dataset}", total=len(records))
            features = feature_cache.build_features(
                directory,
                dataset=source.dataset,
                selection=selection_digest(records),
                config=config,
                take_ids=[r.take_id for r in records],
                sha256s=[sha_of_key(r.audio_key) for r in records],
                splits=[r.split for r in records],
                tones=feature_cache.tone_table(r.tone.data for r in records),
                audio=lambda i: source.audio(records[i]),
                on_example=lambda done: bars.update(task, completed=done),
            )
        return cls(source, records, features)

    def describe(self) -> dict[str, object]:
        """What a model trained on this data should remember (``fit``'s ``meta``)."""
        return {
            "dataset": self.source.dataset,
            "features": self.features.config.model_dump(mode="json"),
        }

    def split_sizes(self) -> dict[str, int]:
        sizes = dict.fromkeys(self.source.split_names, 0)
        for record in self.records:
            sizes[record.split] = sizes.get(record.split, 0) + 1
        return sizes

    def split(self, name: str, targets: TargetSpec | None = None) -> SplitDataset:
        """Split ``name`` as a torch dataset with ``targets`` (default: the thesis's 26)."""
        sizes = self.split_sizes()
        if not sizes.get(name):
            held = ", ".join(f"{split} ({n} takes)" for split, n in sizes.items())
            what = "holds no takes" if name in sizes else "does not exist"
            raise ValueError(
                f"split {name!r} of dataset {self.source.dataset!r} {what}; it has: {held}"
            )
        rows = [i for i, r in enumerate(self.records) if r.split == name]
        return SplitDataset(self, name, np.array(rows), targets or TargetSpec.thesis())


class SplitDataset(Dataset):
    """One split: ``(features, target vector)`` pairs as float tensors."""

    def __init__(
        self, dataset: FrozenDataset, name: str, rows: np.ndarray, targets: TargetSpec
    ) -> None:
        self.dataset = dataset
        self.name = name
        self.rows = rows
        self.spec = targets
        self.records = [dataset.records[i] for i in rows]
        self.targets = np.stack([targets.encode(r.tone) for r in self.records])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.dataset.features[int(self.rows[index])]
        return torch.from_numpy(features), torch.from_numpy(self.targets[index])

    def __getitems__(self, indexes: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A batch in one grouped read of the shards (the default collate stacks it)."""
        indexes = np.asarray(indexes)
        features = torch.from_numpy(self.dataset.features[self.rows[indexes]])
        targets = torch.from_numpy(self.targets[indexes])
        return list(zip(features, targets, strict=True))
