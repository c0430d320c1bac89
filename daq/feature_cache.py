"""Feature shards on disk: the one format of the API's shard export, a pull and the trainer.

A shard set is a directory holding ``index.json`` (:func:`describe`: which takes, how they are
cut, which feature config) and shards ``000000.npz``, ``000001.npz`` ..; shard ``i`` holds
rows ``i * shard_size ..`` as the arrays of :data:`SHARD_ARRAYS` (take ids, audio sha256,
split, the 44 raw tone values and the features). The API serves these shard files as they are,
a pull stores them as they came, and the trainer builds its cache in the same form, so
:class:`FeatureShards` reads any of them.

Each shard is written whole under a temporary name, fsynced and renamed
(:func:`db.store.atomic_file`): a file under its final name is always complete, a build that
dies keeps the shards it finished (the next one makes only the missing ones), and concurrent
builders of one shard write the same bytes. The NPZ is uncompressed, so its ``features``
member lies contiguous in the file: :class:`FeatureShards` memory-maps it, and a batch costs
only the pages it touches.
"""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from daq.features import FeatureConfig, parse_feature_config
from db.store import atomic_file, write_atomically
from firmware_protocol.parameters import TONE_PARAMETERS

#: Bump when the layout of a shard set changes; a set of another format is rebuilt.
FORMAT = 2
#: What a trainer's shard holds: few files, and one shard's arrays fit in memory as it is built.
SHARD_BYTES = 64 * 2**20
INDEX_NAME = "index.json"
SHARD_ARRAYS = {
    "take_id": "int64 [n]",
    "sha256": "bytes [n]: sha256 of each take's FLAC",
    "split": "str [n]",
    "parameters": "str [44]: tone parameter keys, the columns of tone",
    "tone": "uint8 [n, 44]: raw tone values",
    "features": "[n, frames, bins] in the feature config's dtype, from each take's first note-on",
}
_MEMBERS = {f"{name}.npy" for name in SHARD_ARRAYS}
#: A zip local file header: signature, 5 shorts, 3 ints, then name and extra field lengths.
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def shard_name(index: int) -> str:
    return f"{index:06d}.npz"


def describe(
    *,
    dataset: str,
    split: str | None,
    takes: int,
    shard_size: int,
    selection: str,
    config: FeatureConfig,
) -> dict[str, Any]:
    """The index of a shard set: how many shards, how big, what they hold, and the digest of
    the selection they were cut from (what the API's shard index answers)."""
    if takes < 0 or shard_size < 1:
        raise ValueError(f"a shard set needs takes >= 0 and shard_size >= 1: {takes}, {shard_size}")
    return {
        "format": FORMAT,
        "dataset": dataset,
        "split": split,
        "takes": takes,
        "shard_size": shard_size,
        "shards": -(-takes // shard_size),
        "selection": selection,
        "features": {
            "kind": config.kind,
            "hash": config.hash,
            "config": config.model_dump(mode="json"),
            "shape": list(config.shape),
            "dtype": config.dtype,
        },
        "arrays": SHARD_ARRAYS,
    }


def tone_table(tones: Iterable[bytes]) -> np.ndarray:
    """The 44 raw values of each tone (APR bytes), in :data:`TONE_PARAMETERS` order."""
    rows = [[tone[p.apr_index] for p in TONE_PARAMETERS] for tone in tones]
    return np.array(rows, dtype=np.uint8).reshape(len(rows), len(TONE_PARAMETERS))


def pack(
    take_ids: Sequence[int],
    sha256s: Sequence[str],
    splits: Sequence[str],
    tones: np.ndarray,
    features: np.ndarray,
) -> dict[str, np.ndarray]:
    """One shard's arrays (:data:`SHARD_ARRAYS`) from its takes' ids, hashes, splits, raw tone
    values [n, 44] and features [n, frames, bins]."""
    return {
        "take_id": np.array(take_ids, dtype=np.int64),
        "sha256": np.array(sha256s, dtype="S64"),
        "split": np.array(splits, dtype="U32"),
        "parameters": np.array([p.key for p in TONE_PARAMETERS], dtype="U32"),
        "tone": np.asarray(tones, dtype=np.uint8).reshape(len(take_ids), len(TONE_PARAMETERS)),
        "features": features,
    }


def write_shard(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """One shard file, whole or not at all; ``arrays`` must be exactly :data:`SHARD_ARRAYS`."""
    if set(arrays) != set(SHARD_ARRAYS):
        raise ValueError(f"a shard holds {sorted(SHARD_ARRAYS)}, not {sorted(arrays)}")
    with atomic_file(path) as handle:
        np.savez(handle, **arrays)


def shard_complete(path: Path) -> bool:
    """Whether a shard file is whole: its zip directory, written last, lists every array.

    Cheaper than an fsync per shard, and it also catches a file cut short by a crash.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return set(archive.namelist()) == _MEMBERS
    except (OSError, zipfile.BadZipFile):
        return False


def build(
    directory: Path,
    index: dict[str, Any],
    make_shard: Callable[[int], dict[str, np.ndarray]],
) -> FeatureShards:
    """The shard set ``index`` describes in ``directory``, making only missing shards.

    A directory holding another index (another format, selection or config) is emptied
    first. ``make_shard(i)`` gives shard ``i``'s arrays.
    """
    directory = Path(directory)
    saved = directory / INDEX_NAME
    if saved.is_file() and json.loads(saved.read_text()) != index:
        for stale in directory.iterdir():
            stale.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    if not saved.is_file():
        write_atomically(saved, json.dumps(index, indent=1).encode())
    for i in range(index["shards"]):
        path = directory / shard_name(i)
        if not path.is_file():
            write_shard(path, make_shard(i))
    return FeatureShards(directory)


def build_features(
    directory: Path,
    *,
    dataset: str,
    selection: str,
    config: FeatureConfig,
    take_ids: Sequence[int],
    sha256s: Sequence[str],
    splits: Sequence[str],
    tones: np.ndarray,
    audio: Callable[[int], np.ndarray],
    on_example: Callable[[int], None] | None = None,
    shard_size: int | None = None,
) -> FeatureShards:
    """The features of every take of a selection as a shard set (what a trainer caches).

    ``audio(i)`` is take ``i``'s feature input (:func:`daq.features.feature_input`); shards
    hold about :data:`SHARD_BYTES` unless ``shard_size`` says otherwise. ``on_example(i)``
    is called after each example computed (for progress bars).
    """
    count = len(take_ids)
    if not count == len(sha256s) == len(splits) == len(tones):
        raise ValueError(
            f"{count} take ids but {len(sha256s)} hashes, {len(splits)} splits, {len(tones)} tones"
        )
    frames, bins = config.shape
    size = shard_size or max(1, SHARD_BYTES // (frames * bins * np.dtype(config.dtype).itemsize))
    index = describe(
        dataset=dataset,
        split=None,
        takes=count,
        shard_size=size,
        selection=selection,
        config=config,
    )

    def make_shard(shard: int) -> dict[str, np.ndarray]:
        rows = range(shard * size, min((shard + 1) * size, count))
        features = np.empty((len(rows), frames, bins), dtype=config.dtype)
        for row, i in enumerate(rows):
            clip = audio(i)  # its own errors name their source
            try:
                features[row] = config.compute(clip)
            except ValueError as error:
                raise ValueError(f"take {take_ids[i]} of {dataset!r}: {error}") from error
            if on_example is not None:
                on_example(i + 1)
        return pack(
            [take_ids[i] for i in rows],
            [sha256s[i] for i in rows],
            [splits[i] for i in rows],
            tones[rows.start : rows.stop],
            features,
        )

    return build(directory, index, make_shard)


def build_from_clips(
    directory: Path, config: FeatureConfig, clips: Sequence[np.ndarray], **options: Any
) -> FeatureShards:
    """Features of bare clips with no takes behind them (benchmarks, experiments): ids
    0.., zero hashes and tones, split ``all``. ``options`` as :func:`build_features` takes."""
    n = len(clips)
    return build_features(
        directory,
        dataset="clips",
        selection="0" * 64,
        config=config,
        take_ids=range(n),
        sha256s=["0" * 64] * n,
        splits=["all"] * n,
        tones=np.zeros((n, len(TONE_PARAMETERS)), dtype=np.uint8),
        audio=lambda i: clips[i],
        **options,
    )


def is_complete(directory: Path) -> bool:
    """Whether ``directory`` holds a whole shard set of this format."""
    try:
        FeatureShards(directory)
    except FileNotFoundError:
        return False
    return True


class FeatureShards:
    """Read-only array-like [n, frames, bins] over the features of a complete shard set.

    Indexing with an int gives one example; with a slice, a list or an integer array, a
    stacked batch (reads grouped by shard). Copies are returned, so callers may hand them to
    torch without holding the memory maps. Picklable (for DataLoader workers): the maps are
    reopened lazily in each process.
    """

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory)
        try:
            index = json.loads((self.path / INDEX_NAME).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.path} holds no feature shard set") from None
        if index.get("format") != FORMAT:
            raise FileNotFoundError(
                f"{self.path} holds feature shards of format {index.get('format', 1)}, "
                f"not {FORMAT}: build them again"
            )
        missing = [
            shard_name(i)
            for i in range(index["shards"])
            if not (self.path / shard_name(i)).is_file()
        ]
        if missing:
            raise FileNotFoundError(f"{self.path} is incomplete: shard {missing[0]} is missing")
        self.index = index
        self.config = parse_feature_config(index["features"]["config"])
        self.shape: tuple[int, ...] = (index["takes"], *index["features"]["shape"])
        self.dtype = np.dtype(index["features"]["dtype"])
        self._rows_per_shard: int = index["shard_size"]
        self._maps: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_maps": None}

    @property
    def _shards(self) -> list[np.ndarray]:
        if self._maps is None:
            self._maps = [
                _mapped_member(self.path / shard_name(i), "features.npy")
                for i in range(self.index["shards"])
            ]
        return self._maps

    def array(self, name: str) -> np.ndarray:
        """One of the small per-take arrays (``take_id``, ``tone``, ..) of every shard, joined."""
        if name not in SHARD_ARRAYS or name == "features":
            raise KeyError(f"no per-take array {name!r}; index the shard set for features")
        parts = []
        for i in range(self.index["shards"]):
            with np.load(self.path / shard_name(i)) as shard:
                parts.append(shard[name])
        return parts[0] if name == "parameters" else np.concatenate(parts)

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        if isinstance(index, int | np.integer):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"example {i} is out of range for {len(self)} cached examples")
            shard, row = divmod(i % len(self), self._rows_per_shard)
            return np.array(self._shards[shard][row])
        rows = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        if rows.size == 0:
            rows = rows.astype(np.int64)  # an empty list reads as floats
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise TypeError(f"index must be an int, a slice or 1-D integers, not {index!r}")
        if rows.size and not (-len(self) <= rows.min() and rows.max() < len(self)):
            raise IndexError(f"indexes out of range for {len(self)} cached examples")
        rows = rows % len(self)
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        shard_of, row_of = np.divmod(rows, self._rows_per_shard)
        for shard in np.unique(shard_of):
            picked = shard_of == shard
            out[picked] = self._shards[shard][row_of[picked]]
        return out


def _mapped_member(path: Path, member: str) -> np.ndarray:
    """A read-only memory map of one array stored (uncompressed) in an NPZ file."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{path}: {member} is compressed and cannot be memory-mapped")
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            raise ValueError(f"{path}: no zip entry where {member} should start")
        handle.seek(fields[-2] + fields[-1], 1)  # the entry's name and extra field
        version = np.lib.format.read_magic(handle)
        if version not in _HEADER_READERS:
            raise ValueError(f"{path}: {member} has .npy format {version}, not 1.0 or 2.0")
        shape, fortran, dtype = _HEADER_READERS[version](handle)
        offset = handle.tell()
    if fortran or dtype.hasobject:
        raise ValueError(f"{path}: {member} is not a C-ordered plain array")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
