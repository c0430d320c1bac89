"""The dynamic parameters (issue 12 item 7): a probe capture and a model that reads it.

One held note cannot reveal how a tone answers the keyboard: key follow (VCF KEY, ENV1 KEY,
ENV2 KEY) needs notes at different keys, and velocity sensitivity (DCO, MIX, VCF and VCA
DYNA) notes at different velocities. The thesis dropped these seven and named the remedy:
several notes of one tone. A *probe* take plays :data:`PROBE_NOTES` (a plain job-spec melody,
so a real rig captures it like any job): middle C loud, C3 and C5 loud (key follow around
middle C, where the emulator's follow is neutral), then middle C soft (velocity).

The model reads each note on its own: log-mel frames of the note's second (its hold and the
start of its release) pooled as :func:`models.trees.pooled_statistics` pools a whole take;
the first note's vector, then each later note's difference from it, side by side; boosted
trees (:class:`models.trees.TreeModel`) learn all 44 parameters from that. The same model
given only the first note's vector is the one-note baseline: what a probe adds is the
difference between the two on the dynamic parameters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from daq.features import LogMelFeatures
from daq.spec import JobSpec
from models.bench import BenchData
from models.data import CatalogSource, FrozenDataset
from models.evaluate import Scores
from models.targets import TargetSpec
from models.trees import TreeModel, pooled_statistics

#: The parameters one note cannot reveal (the thesis's dropped "dynamic" ones).
DYNAMIC = ("DCO DYNA", "MIX DYNA", "VCF KEY", "VCF DYNA", "VCA DYNA", "ENV1 KEY", "ENV2 KEY")
#: (MIDI key, velocity) of each probe note, one per second.
PROBE_NOTES: tuple[tuple[int, int], ...] = ((60, 127), (48, 127), (72, 127), (60, 40))
#: Each note is held this long and starts this far after the one before it.
NOTE_S, STEP_S = 0.8, 1.0
PROBE_HOLD_S = STEP_S * len(PROBE_NOTES)
#: Full-band log-mel at a 23 ms hop, half precision: 5 s of take in 18 KB.
PROBE_FEATURES = LogMelFeatures(
    duration_s=PROBE_HOLD_S + 1.0, n_fft=2048, hop=1024, n_mels=48, dtype="float16"
)


def probe_job(takes: int, seed: int) -> JobSpec:
    """``takes`` tones from the preset prior, every one of the 44 parameters varying, each
    played as the probe melody."""
    notes = [
        {"key": key, "velocity": velocity, "start_s": i * STEP_S, "duration_s": NOTE_S}
        for i, (key, velocity) in enumerate(PROBE_NOTES)
    ]
    return JobSpec.model_validate(
        {
            "name": f"probe: prior, all 44 parameters, {len(notes)} notes, {takes} takes",
            "source": {"kind": "prior"},
            "count": takes,
            "seed": seed,
            "capture": {"hold_s": PROBE_HOLD_S, "notes": notes},
        }
    )


def note_frames(config: LogMelFeatures = PROBE_FEATURES) -> list[slice]:
    """The frames of each probe note: from its note-on to the next note's (the last one to
    the end of the features, its release included)."""
    frames = config.shape[0]
    starts = [round(i * STEP_S * config.sample_rate / config.hop) for i in range(len(PROBE_NOTES))]
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], frames], strict=True)]


def probe_statistics(features: np.ndarray, notes: int | None = None) -> np.ndarray:
    """float32 [n, notes * stats] of ``features`` [n, frames, bands]: the first note's frames
    pooled, then each later note's pooled frames *minus* the first note's (what key and
    velocity changed: trees split on one feature at a time, so differences are given, not left
    to be found). ``notes``: how many probe notes to read (default: all)."""
    spans = note_frames()[: notes or None]
    first = pooled_statistics(features[:, spans[0]])
    later = [pooled_statistics(features[:, span]) - first for span in spans[1:]]
    return np.concatenate([first, *later], axis=1)


@dataclass
class ProbeResult:
    """Test scores of the probe model and of the same model hearing the first note only."""

    takes: dict[str, int]
    probe: Scores
    one_note: Scores
    seconds: float

    def rows(self) -> list[dict[str, object]]:
        """Per parameter: MSE of the mean, of one note and of the probe; and their ratios."""
        one = {r["parameter"]: r for r in self.one_note.parameter_rows()}
        return [
            {
                "parameter": row["parameter"],
                "dynamic": row["parameter"] in DYNAMIC,
                "mean_mse": row["mean_mse"],
                "one_note_mse": one[row["parameter"]]["mse"],
                "probe_mse": row["mse"],
                "one_note_ratio": one[row["parameter"]]["mse_ratio"],
                "probe_ratio": row["mse_ratio"],
            }
            for row in self.probe.parameter_rows()
        ]


def run_probe(
    data: BenchData,
    takes: int,
    *,
    seed: int = 0,
    budget_s: float = 120.0,
    max_iter: int = 300,
    targets: TargetSpec | None = None,
    cache_root: str = "var/features",
    log: Callable[[str], None] = print,
) -> ProbeResult:
    """Capture (or reuse) ``takes`` probe takes, fit the probe and the one-note model on the
    training split within ``budget_s`` each (at most ``max_iter`` boosting rounds per
    parameter; ``targets``: default all 44), and score both on the test split."""
    started = time.perf_counter()
    name = data.dataset(f"probe-{takes}-s{seed}", probe_job(takes, seed), log)
    frozen = FrozenDataset.open(
        CatalogSource(data.catalog, data.store, name), PROBE_FEATURES, cache_root
    )
    spec = targets or TargetSpec.of()
    train, test = frozen.split("train", spec), frozen.split("test", spec)
    features = {split: frozen.features[split.rows] for split in (train, test)}
    scores = []
    for notes in (None, 1):
        x_train, x_test = (probe_statistics(features[s], notes) for s in (train, test))
        model = TreeModel(spec, max_iter=max_iter, seed=seed)
        model.fit(x_train, train.targets, budget_s=budget_s)
        scores.append(Scores.of(model.outputs(x_test, test.targets), train.targets, spec))
        log(f"fitted {'the probe' if notes is None else 'one note'}: {x_train.shape[1]} statistics")
    sizes = frozen.split_sizes()
    return ProbeResult(sizes, scores[0], scores[1], time.perf_counter() - started)
