"""A frozen dataset in the formats other people's training code reads: WebDataset shards and
a Hugging Face ``datasets`` audio folder.

* **WebDataset**: shard ``i`` (``shard-000000.tar`` ..) is a tar holding, for each take of
  ``i * shard_size ..`` in take-id order, ``<take id>.flac`` (the stored file, bytes
  unchanged) and ``<take id>.json`` (:func:`take_json`: the tone's raw values by parameter
  name, switch labels, the tone's name, the split, where the note starts, the capture's
  provenance). Shards are cut as the NPZ shards are (:func:`daq.export.plan_shards`) and
  streamed one take at a time, so memory stays bounded; their bytes are a pure function of
  the catalog (fixed tar headers), so a pulled shard can be compared or re-fetched.
* **Hugging Face audio folder**: ``<split>/<take id>.flac`` with a ``metadata.jsonl`` per
  split (``file_name`` plus the JSON above) and a ``README.md`` whose YAML names each split's
  files, which ``datasets.load_dataset(folder)`` reads as an ``audiofolder``. It is written
  from the WebDataset shards, so a pull over HTTP and one beside
  the catalog produce it from the same bytes (:class:`HfFolderWriter`, :func:`iter_samples`).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from daq import export
from daq.spec import CaptureSpec
from db.catalog import Catalog
from db.records import TakeInfo
from db.store import AudioStore
from firmware_protocol.tone import Tone

#: Shard file names; ``{index:06d}`` as WebDataset's brace notation expects.
SHARD_NAME = "shard-{index:06d}.tar"
#: Hugging Face split names (``datasets`` refuses others, e.g. with a '-').
HF_SPLIT_NAME = re.compile(r"\w+(\.\w+)*")
HF_METADATA = "metadata.jsonl"


def take_json(take: TakeInfo, split: str, job: dict[str, Any]) -> dict[str, Any]:
    """What a trainer needs to know about one take besides its audio."""
    tone = Tone(take.tone)
    capture = job["capture"]
    return {
        "take_id": take.id,
        "split": split,
        "tone": tone.values(),
        "labels": tone.labels(),
        "tone_name": tone.name,
        "tone_hex": take.tone.hex(),
        "sha256": take.audio.sha256,
        "sample_rate": take.audio.sample_rate,
        "channels": take.audio.channels,
        "frames": take.audio.frames,
        "note_on_frame": round(capture.pre_roll_s * take.audio.sample_rate),
        "job_id": take.job_id,
        "job_seed": job["seed"],
        "sample_index": take.sample_index,
        "rig": take.rig,
        "qc_verdict": take.qc_verdict.value,
    }


class _Jobs:
    """Each job's seed and capture spec, read once (they never change once submitted)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._jobs: dict[int, dict[str, Any]] = {}

    def __getitem__(self, job_id: int) -> dict[str, Any]:
        if job_id not in self._jobs:
            job = self.catalog.get_job(job_id)
            capture = CaptureSpec.model_validate(job.spec.get("capture") or {})
            self._jobs[job_id] = {"seed": job.seed, "capture": capture}
        return self._jobs[job_id]


# -- WebDataset -------------------------------------------------------------------------------
def describe_webdataset(plan: export.ShardPlan) -> dict[str, Any]:
    """The shard index: how many shards, their names in brace notation, and the digest."""
    last = max(plan.shards - 1, 0)
    return {
        "dataset": plan.dataset.name,
        "split": plan.split,
        "takes": plan.takes,
        "shard_size": plan.shard_size,
        "shards": plan.shards,
        "selection": plan.digest,
        "urls": f"shard-{{{0:06d}..{last:06d}}}.tar",
        "members": {
            "<take id>.flac": "the take's 24-bit FLAC, as stored (sha256 in the json)",
            "<take id>.json": "tone (raw values by parameter name), labels, split, ...",
        },
    }


def webdataset_shard(
    catalog: Catalog, store: AudioStore, plan: export.ShardPlan, index: int
) -> Iterator[bytes]:
    """Shard ``index``'s tar, one take (json + flac) at a time."""
    jobs = _Jobs(catalog)
    for take in export.shard_takes(catalog, plan, index):
        split = plan.dataset.split_of(take.id)
        mtime = int(take.recorded_at.timestamp())
        info = json.dumps(take_json(take, split, jobs[take.job_id]), sort_keys=True).encode()
        flac = store.read_bytes(take.audio.key)
        yield _member(f"{take.id:012d}.json", info, mtime) + _member(
            f"{take.id:012d}.flac", flac, mtime
        )
    yield export.TRAILER


def _member(name: str, content: bytes, mtime: int) -> bytes:
    header = export.tar_header(name, len(content), mtime)
    return header + content + export.tar_padding(len(content))


def shard_file_name(index: int) -> str:
    return SHARD_NAME.format(index=index)


# -- Hugging Face audio folder ----------------------------------------------------------------
def check_hf_split_names(dataset: str, splits: Iterable[str]) -> None:
    """Refuse split names ``datasets`` would refuse, naming them."""
    bad = [split for split in splits if not HF_SPLIT_NAME.fullmatch(split)]
    if bad:
        raise ValueError(
            f"dataset {dataset!r}: split names {', '.join(map(repr, bad))} are not valid "
            "Hugging Face split names (letters, digits, '_' and '.'); use --format webdataset"
        )


def iter_samples(chunks: Iterable[bytes]) -> Iterator[tuple[dict[str, Any], bytes]]:
    """(json, flac bytes) of each take in a WebDataset shard's bytes, read as they stream."""
    pending: dict[str, bytes] = {}
    current = None
    with tarfile.open(fileobj=_ChunkReader(chunks), mode="r|") as archive:
        for member in archive:
            handle = archive.extractfile(member)
            if handle is None:
                continue
            key, _, extension = member.name.partition(".")
            if key != current and pending:
                raise ValueError(
                    f"shard member {member.name}: take {current} has only {list(pending)}"
                )
            current = key
            pending[extension] = handle.read()
            if set(pending) == {"json", "flac"}:
                yield json.loads(pending.pop("json")), pending.pop("flac")
    if pending:
        raise ValueError(f"shard ends inside take {current}: it has only {list(pending)}")


class _ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (tarfile's stream mode reads it)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class HfFolderWriter:
    """Writes takes into an audio folder: the files, one metadata.jsonl per split, and a
    README.md whose YAML names each split's files (so any split name loads as itself).
    Splits without takes are left out (``datasets`` refuses a split without files)."""

    def __init__(self, root: Path, dataset: str, split_names: Iterable[str]) -> None:
        self.root, self.dataset = root, dataset
        self.split_names = list(split_names)
        self._metadata: dict[str, IO[str]] = {}

    def __enter__(self) -> HfFolderWriter:
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    def add(self, info: dict[str, Any], flac: bytes) -> None:
        split = info["split"]
        if split not in self._metadata:
            (self.root / split).mkdir()
            self._metadata[split] = open(self.root / split / HF_METADATA, "w")  # noqa: SIM115
        name = f"{info['take_id']:012d}.flac"
        (self.root / split / name).write_bytes(flac)
        self._metadata[split].write(json.dumps({"file_name": name, **info}) + "\n")

    def __exit__(self, *_: object) -> None:
        for handle in self._metadata.values():
            handle.close()
        configs = "".join(
            f'      - split: {split}\n        path: "{split}/*"\n'
            for split in self.split_names
            if split in self._metadata
        )
        (self.root / "README.md").write_text(
            "---\nconfigs:\n  - config_name: default\n    data_files:\n"
            f"{configs}---\n# {self.dataset}\n\n"
            "A jx-daq dataset: Roland Super JX takes (24-bit FLAC) with their tones.\n"
            'Load it with `datasets.load_dataset("<this folder>")`; each split\'s\n'
            "metadata.jsonl has the columns (tone: raw values by parameter name).\n"
        )
