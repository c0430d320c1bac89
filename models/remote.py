"""Training data for a trainer far from the catalog: a dataset's export tar, pulled over HTTP.

:func:`pull_source` downloads a frozen dataset's tar (:func:`daq.pull.pull_tar`: resumable,
through the API's ``export.tar`` or a local catalog, same bytes either way) and opens it as a
:class:`TarSource`. The tar's ``dataset.json`` and ``parameters.csv`` hold everything a
:class:`models.data.TakeRecord` is made of (:mod:`daq.export`), so a ``TarSource`` yields the
records a :class:`models.data.CatalogSource` yields for the same dataset, and
:class:`models.data.FrozenDataset` caches their features under the same key.

The tar is never extracted: opening it indexes its members (headers only, seeking over the
data), and :meth:`TarSource.audio` reads one FLAC at a time from its offset, checking its
sha256 against the table, so a damaged download is named (file, member, take) instead of
surfacing as a decoder's traceback.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from daq.features import feature_input
from daq.pull import DatasetSource, Progress, pull_tar
from daq.spec import CaptureSpec
from db.store import key_for
from firmware_protocol.tone import Tone
from models.data import TakeRecord

DATASET_JSON = "dataset.json"
PARAMETERS_CSV = "parameters.csv"


class DamagedExport(ValueError):
    """A pulled tar that cannot be read as a dataset export (cut short, corrupt, too old)."""


@dataclass(frozen=True, slots=True)
class _Member:
    """Where one FLAC lies in the tar, and what its bytes must hash to."""

    name: str
    offset: int
    size: int
    sha256: str


class TarSource:
    """A frozen dataset read from its export tar (:mod:`daq.export`), one FLAC at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        members, self._info, table = self._index()
        self._jobs: dict[int, dict] = {int(k): v for k, v in self._info["jobs"].items()}
        self._rows = list(csv.DictReader(io.StringIO(table)))
        self._members: dict[int, _Member] = {}
        for row in self._rows:
            name = row["file"]
            if name not in members:
                raise self._damaged(f"member {name} (take {row['take_id']}) is missing")
            offset, size = members[name]
            self._members[int(row["take_id"])] = _Member(name, offset, size, row["sha256"])

    def _index(self) -> tuple[dict[str, tuple[int, int]], dict, str]:
        """(member name -> (data offset, size)), dataset.json and parameters.csv."""
        members: dict[str, tuple[int, int]] = {}
        last = None
        try:
            with tarfile.open(self.path, "r:") as archive:
                for member in archive:  # tarfile checks that each member's data is all there
                    last = member.name
                    members[member.name] = member.offset_data, member.size
                info = json.loads(self._read(archive, DATASET_JSON))
                table = self._read(archive, PARAMETERS_CSV).decode()
        except tarfile.ReadError as error:
            where = (
                f"it is cut short or damaged from member {last} on" if last else "it is not a tar"
            )
            raise self._damaged(f"{where} ({error})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise self._damaged(
                f"its {DATASET_JSON} or {PARAMETERS_CSV} is corrupt ({error})"
            ) from None
        if not {"jobs", "split_names"} <= set(info) or "tone_hex" not in table.partition("\n")[0]:
            raise self._damaged(
                "it was exported by an older server, without the take records a trainer needs"
            )
        return members, info, table

    def _read(self, archive: tarfile.TarFile, name: str) -> bytes:
        try:
            handle = archive.extractfile(name)
        except KeyError:
            raise self._damaged(f"member {name} is missing") from None
        assert handle is not None  # a regular file: export writes nothing else
        return handle.read()

    def _damaged(self, what: str) -> DamagedExport:
        return DamagedExport(f"{self.path}: {what}; delete it and pull the dataset again")

    @property
    def dataset(self) -> str:
        return self._info["name"]

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(self._info["split_names"])

    def records(self) -> list[TakeRecord]:
        captures: dict[int, CaptureSpec] = {}
        records = []
        for row in self._rows:
            job_id = int(row["job_id"])
            if job_id not in captures:
                captures[job_id] = self._capture(job_id)
            records.append(
                TakeRecord(
                    take_id=int(row["take_id"]),
                    split=row["split"],
                    tone=Tone(bytes.fromhex(row["tone_hex"])),
                    audio_key=key_for(row["sha256"]),
                    sample_rate=int(row["sample_rate"]),
                    job_id=job_id,
                    job_seed=int(self._jobs[job_id]["seed"]),
                    sample_index=int(row["sample_index"]),
                    rig=row["rig"],
                    capture=captures[job_id],
                )
            )
        return records

    def _capture(self, job_id: int) -> CaptureSpec:
        job = self._jobs.get(job_id)
        if job is None:
            raise self._damaged(f"{DATASET_JSON} does not describe job {job_id}")
        if job.get("capture") is None:
            raise ValueError(
                f"dataset {self.dataset!r}: job {job_id} has no capture spec, so where its "
                "takes' notes start is unknown"
            )
        return CaptureSpec.model_validate(job["capture"])

    def audio(self, record: TakeRecord) -> np.ndarray:
        member = self._members[record.take_id]
        with open(self.path, "rb") as handle:
            handle.seek(member.offset)
            data = handle.read(member.size)
        if hashlib.sha256(data).hexdigest() != member.sha256:
            raise self._damaged(
                f"member {member.name} (take {record.take_id}) does not match its sha256"
            )
        audio, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        return feature_input(audio, record.note_on_frame)


def pull_source(
    source: DatasetSource, name: str, directory: Path, progress: Progress | None = None
) -> TarSource:
    """Dataset ``name`` pulled into ``directory`` (resuming a partial pull) and opened."""
    return TarSource(pull_tar(source, name, directory, progress=progress))
