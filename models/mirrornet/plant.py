"""The plant: what plays proposed tones (the emulator's batch renderer, or a rig via jobs)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from daq.capture import render_seed
from daq.emulator.render import render
from daq.jobs import submit_job
from daq.spec import JobSpec
from db.catalog import Catalog
from db.records import TakeFilter, TakeInfo
from db.schema import FINAL_JOB_STATES, JobState, QcCode, SampleState
from db.store import AudioStore
from firmware_protocol.tone import Tone
from models.mirrornet.melody import Melody


# -- the plant -----------------------------------------------------------------------------
class PlantError(RuntimeError):
    """The plant could not play what was asked (a failed job, a take that never came)."""


class Plant(Protocol):
    """Whatever turns tones into sound: the emulator, or a rig through the capture service."""

    sample_rate: int

    def render(self, tones: Sequence[Tone], melody: Melody, seed: int = 0) -> np.ndarray:
        """float32 [len(tones), melody.samples(sample_rate)]: each tone playing ``melody``.

        Item ``i`` uses noise seed ``render_seed(seed, i)``, the capture service's rule for
        sample ``i`` of a job with that seed, so an emulated rig plays the same audio.
        """
        ...


@dataclass(frozen=True)
class EmulatorPlant:
    """The emulator's batch renderer: the plant without any I/O, thousands of takes a second."""

    sample_rate: int = 44100

    def render(self, tones: Sequence[Tone], melody: Melody, seed: int = 0) -> np.ndarray:
        seeds = [render_seed(seed, i) for i in range(len(tones))]
        return render(tones, melody.notes, melody.hold_s, melody.release_s, self.sample_rate, seeds)


class RigPlant:
    """A rig through the capture service: each call is one capture job, waited for.

    The job has an explicit-list source (the tones, every parameter spelled out), the
    melody as its notes, the whole release recorded (``tail.silence_db = None``) and
    ``seed`` as its seed; whichever worker serves ``rigs`` captures it (this class starts
    none). Takes come back from the store with the pre-roll cut, so an emulated rig returns
    the :class:`EmulatorPlant`'s audio to within FLAC's 24-bit step. A take that failed QC as
    silent comes back as silence (what the synth did); any other failure is a
    :class:`PlantError`.
    """

    def __init__(
        self,
        catalog: Catalog,
        store: AudioStore,
        *,
        rigs: str | list[str] = "any",
        sample_rate: int = 44100,
        pre_roll_s: float = 0.1,
        timeout_s: float = 600.0,
        poll_s: float = 0.1,
    ) -> None:
        self.catalog, self.store = catalog, store
        self.rigs, self.sample_rate, self.pre_roll_s = rigs, sample_rate, pre_roll_s
        self.timeout_s, self.poll_s = timeout_s, poll_s

    def job_spec(self, tones: Sequence[Tone], melody: Melody, seed: int) -> JobSpec:
        return JobSpec.model_validate(
            {
                "name": f"mirrornet: {len(tones)} proposals",
                "source": {"kind": "list", "tones": [tone.values() for tone in tones]},
                "count": len(tones),
                "seed": seed,
                "rigs": self.rigs,
                "capture": {
                    "sample_rate": self.sample_rate,
                    "channels": 1,
                    "pre_roll_s": self.pre_roll_s,
                    "hold_s": melody.hold_s,
                    "tail": {"silence_db": None, "max_s": melody.release_s},
                    "notes": [
                        {
                            "key": n.key,
                            "velocity": n.velocity,
                            "start_s": n.start_s,
                            "duration_s": n.duration_s,
                        }
                        for n in melody.notes
                    ],
                },
            }
        )

    def render(self, tones: Sequence[Tone], melody: Melody, seed: int = 0) -> np.ndarray:
        job = submit_job(self.catalog, self.job_spec(tones, melody, seed), "mirrornet")
        self._wait(job.id)
        samples = melody.samples(self.sample_rate)
        pre_roll = round(self.pre_roll_s * self.sample_rate)
        out = np.zeros((len(tones), samples), np.float32)
        captured = set()
        for take in self._takes(job.id):
            audio, rate = self.store.read(take.audio.key)
            if rate != self.sample_rate:
                raise PlantError(
                    f"job {job.id}: take {take.id} is at {rate} Hz, not {self.sample_rate}"
                )
            clip = audio.reshape(audio.shape[0], -1)[pre_roll : pre_roll + samples, 0]
            out[take.sample_index, : len(clip)] = clip
            captured.add(take.sample_index)
        for sample in self.catalog.list_samples(job.id, SampleState.FAILED, limit=len(tones)):
            if sample.last_error_code != QcCode.SILENT:
                raise PlantError(f"job {job.id}: sample {sample.index} failed: {sample.last_error}")
            captured.add(sample.index)
        missing = sorted(set(range(len(tones))) - captured)
        if missing:
            raise PlantError(f"job {job.id}: no take of samples {missing[:10]}")
        return out

    def _wait(self, job_id: int) -> None:
        deadline = time.monotonic() + self.timeout_s
        while (state := self.catalog.get_job(job_id).state) not in FINAL_JOB_STATES:
            if time.monotonic() > deadline:
                self.catalog.set_job_state(
                    job_id, JobState.CANCELLED, "mirrornet timed out", by="mirrornet"
                )
                raise PlantError(
                    f"job {job_id}: not captured within {self.timeout_s:g} s; "
                    f"is a worker running for rigs {self.rigs!r}?"
                )
            time.sleep(self.poll_s)
        if state != JobState.COMPLETED:
            raise PlantError(f"job {job_id} ended {state}, not completed")

    def _takes(self, job_id: int) -> Iterable[TakeInfo]:
        cursor = None
        while True:
            page = self.catalog.query_takes(TakeFilter(job_id=job_id), after=cursor, limit=100)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
