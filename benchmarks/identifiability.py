"""Why the networks barely learn the thesis's parameters: controlled experiments (issue 12).

Tones are drawn as ``jxdaq bench`` draws them (the preset prior, the thesis's 26 parameters,
A4 held 4 s) and rendered directly by the emulator, then read as the recommended model reads
them (compact log-mel, pooled over time). Each experiment prints its figure as a ratio of
test MSE to predicting the training mean (1.0: nothing learnt):

* ``--labels``: stored takes re-rendered from their target vectors (labels exact?);
* ``aliases``: exact aliases between DCO RANGE and TUNE (no rendering);
* ``free``: only k parameters vary (the others fixed at one prior-drawn preset), k = 1, 2, 4,
  ..., 26; gradient-boosted trees on pooled statistics (:mod:`models.trees`). Where the ratio
  climbs with k, single parameters stop being identifiable from the sound;
* ``neighbour``: with all 26 free, the tone of each test take's nearest training take in
  standardised feature space; a ratio near 1 means that similar features do not mean similar
  parameters (the mapping is many-to-one in this setup);
* ``flat``: each parameter swept over its range with the other 25 known: how often a step
  is inaudible, and the floor that ambiguity alone puts under MSE / mean.

Run: ``nice python benchmarks/identifiability.py --takes 3000 --threads 1`` (minutes).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from daq.emulator.mapping import tune_semitones
from daq.emulator.render import render
from daq.sampling import tones as draw_tones
from firmware_protocol.parameters import THESIS_SUBSET
from firmware_protocol.tone import Tone
from models.bench import THESIS_HOLD_S, THESIS_NOTE, BenchData, dataset_name, thesis_job
from models.data import CatalogSource, FrozenDataset
from models.methods import COMPACT_LOGMEL
from models.targets import TargetSpec
from models.trees import TreeModel, pooled_statistics

#: Order in which parameters are freed: the ones the audibility report calls clearly audible
#: first, so that the first rows ask "can one obvious parameter be recovered at all?".
FREE_ORDER = (
    "VCF FREQ", "ENV1 ATTACK", "DCO1 WF", "VCF RES", "VCF ENV", "DCO2 WF", "ENV1 SUSTAIN",
    "DCO1 RANGE", "DCO2 RANGE", "DCO XMOD", "VCA LEVEL", "LFO RATE", "DCO1 TUNE", "DCO2 TUNE",
    "DCO1 ENV", "DCO2 ENV",
)  # fmt: skip


def features_of(tone_list: list[Tone], seed: int = 0) -> np.ndarray:
    """Compact log-mel [n, frames, bands] of each tone playing the thesis's note."""
    out = []
    for start in range(0, len(tone_list), 256):
        chunk = tone_list[start : start + 256]
        seeds = [seed + start + i for i in range(len(chunk))]
        audio = render(chunk, THESIS_NOTE, THESIS_HOLD_S, 0.0, seed=seeds)
        out += [COMPACT_LOGMEL.compute(a) for a in audio]
    return np.stack(out)


def prior_tones(n: int, seed: int) -> list[Tone]:
    return draw_tones(thesis_job(n, seed), seed, range(n))


def with_free(base: Tone, drawn: list[Tone], free: tuple[str, ...]) -> list[Tone]:
    """``drawn`` tones with every parameter but ``free`` set back to ``base``'s."""
    spec = TargetSpec.of(free)
    return [Tone.from_vector(spec.encode(t), spec.parameters, base=base) for t in drawn]


def ratios(spec: TargetSpec, pred: np.ndarray, truth: np.ndarray, train: np.ndarray):
    """(overall MSE / mean's, per-parameter MSE / mean's) on the [0, 1] scale."""
    scale = spec.scale
    err = ((pred - truth) * scale) ** 2
    base = ((train.mean(axis=0) - truth) * scale) ** 2
    per = err.mean(axis=0) / np.maximum(base.mean(axis=0), 1e-12)
    return float(err.mean() / base.mean()), per


def split(n: int) -> tuple[slice, slice]:
    cut = int(n * 0.85)
    return slice(0, cut), slice(cut, n)


def trees_ratio(spec: TargetSpec, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    tr, te = split(len(x))
    model = TreeModel(spec, max_iter=200)
    model.fit(x[tr], y[tr])
    return ratios(spec, model.outputs(x[te], y[te]).expected, y[te], y[tr])


def free_experiment(n: int, seed: int) -> None:
    drawn = prior_tones(n, seed)
    base = prior_tones(1, seed + 1)[0]
    rest = tuple(p for p in THESIS_SUBSET if p not in FREE_ORDER)
    order = FREE_ORDER + rest
    print(f"free parameters (others at one preset), {n} tones, trees on pooled log-mel")
    for k in (1, 2, 4, 8, 16, len(order)):
        free = order[:k]
        spec = TargetSpec.of(free)
        tone_list = with_free(base, drawn, free)
        started = time.perf_counter()
        x = pooled_statistics(features_of(tone_list))
        y = np.stack([spec.encode(t) for t in tone_list])
        overall, per = trees_ratio(spec, x, y)
        worst = ", ".join(f"{spec.names[i]} {per[i]:.2f}" for i in np.argsort(-per)[:3])
        print(
            f"  k={k:2d}: MSE/mean {overall:.3f}; first {free[0]} {per[0]:.3f}; "
            f"worst {worst}  ({time.perf_counter() - started:.0f} s)"
        )


def neighbour_experiment(n: int, seed: int) -> None:
    spec = TargetSpec.thesis()
    tone_list = prior_tones(n, seed)
    x = pooled_statistics(features_of(tone_list))
    y = np.stack([spec.encode(t) for t in tone_list])
    tr, te = split(n)
    mu, sd = x[tr].mean(axis=0), x[tr].std(axis=0) + 1e-6
    z = (x - mu) / sd
    d = (z[tr] ** 2).sum(axis=1)[None, :] - 2 * z[te] @ z[tr].T  # + |z_te|^2, same per row
    nearest = d.argmin(axis=1)
    overall, per = ratios(spec, y[tr][nearest], y[te], y[tr])
    print(f"nearest neighbour in standardised pooled log-mel, {n} tones: MSE/mean {overall:.3f}")
    rows = (f"{m} {r:.2f}" for m, r in zip(spec.names, per, strict=True))
    print("  per parameter: " + ", ".join(rows))


def labels_experiment(data_root: Path, takes: int, seed: int) -> None:
    """Are the labels what the audio was rendered from? Re-render a few stored takes from
    their *target vectors* (the take's render seed) and compare with their cached features."""
    bench = BenchData.open(data_root)
    try:
        source = CatalogSource(bench.catalog, bench.store, dataset_name(takes, seed))
        data = FrozenDataset.open(source, COMPACT_LOGMEL, data_root / "features", progress=False)
    finally:
        bench.close()
    spec, train = TargetSpec.thesis(), data.split("train")
    changes, reseeded, others = [], [], []
    previous = None
    for i in range(0, len(train), max(1, len(train) // 8)):
        cached, target = train[i]
        cached = cached.numpy()
        tone, render_seed = spec.decode(target.numpy()), data.records[train.rows[i]].render_seed
        for out, seed_used in ((changes, render_seed), (reseeded, render_seed + 1)):
            audio = render([tone], THESIS_NOTE, THESIS_HOLD_S, 0.0, seed=seed_used)
            out.append(_db(COMPACT_LOGMEL.compute(audio[0]) - cached))
        if previous is not None:
            others.append(_db(previous - cached))
        previous = cached
    print(
        f"labels of {dataset_name(takes, seed)}: {len(changes)} takes re-rendered from their "
        f"targets differ from their cached features by at most {max(changes):.4f} dB "
        f"(with another render seed: at most {max(reseeded):.4f} dB; from another take's "
        f"features: at least {min(others):.1f} dB)"
    )


def _db(difference: np.ndarray) -> float:
    """Mean absolute difference of natural-log features, in dB."""
    return float(np.abs(difference).mean() * 10 / np.log(10))


def aliases_experiment(n: int, seed: int) -> None:
    """Exact aliases, no rendering: a DCO sounds at RANGE + TUNE semitones (RANGE in octaves,
    TUNE -12..+12), so 8' at +12 and 4' at 0 are the same sound. Among prior tones with the
    same sounding offset, the spread of RANGE and TUNE is what no model can resolve: the
    within-group variance over the total is the floor of their MSE / mean."""
    spec = TargetSpec.thesis()
    y = np.stack([spec.encode(t) for t in prior_tones(n, seed)]) * spec.scale
    names = spec.names
    print(f"exact range/tune aliases, {n} prior tones: floor of MSE / mean from the sound alone")
    for dco in ("DCO1", "DCO2"):
        r, t = names.index(f"{dco} RANGE"), names.index(f"{dco} TUNE")
        semis = np.rint(y[:, r] * 3) * 12 + [tune_semitones(int(v)) for v in np.rint(y[:, t] * 127)]
        floors = []
        for column in (r, t):
            within = sum(y[semis == s, column].var() * (semis == s).sum() for s in np.unique(semis))
            floors.append(within / n / y[:, column].var())
        share = [y[:, c].var() / y.var(axis=0).sum() for c in (r, t)]
        print(
            f"  {dco} RANGE {floors[0]:.2f}, {dco} TUNE {floors[1]:.2f} (their shares of the "
            f"mean's MSE: {share[0]:.1%}, {share[1]:.1%})"
        )


def _weighted_var(values: np.ndarray, weight: np.ndarray) -> float:
    if not len(values):
        return 0.0
    mean = (values * weight).sum() / weight.sum()
    return float(((values - mean) ** 2 * weight).sum() / weight.sum())


def flat_experiment(n: int, seed: int, threshold_db: float = 0.05) -> None:
    """Per parameter, with the other 25 known: sweep it over its range on each tone and keep
    the values whose sound is indistinguishable from the true one (mean |change| of the
    log-mel below ``threshold_db``). A predictor that knows everything else can do no better
    than the middle of that set, so the set's variance over the prior's is a floor for that
    parameter's MSE / mean ratio (a floor: ambiguity between parameters comes on top)."""
    spec = TargetSpec.thesis()
    drawn = prior_tones(n, seed)
    y = np.stack([spec.encode(t) for t in drawn])
    base_x = features_of(drawn)
    many = np.stack([spec.encode(t) for t in prior_tones(20000, seed + 2)]) * spec.scale
    prior_var = many.var(axis=0)
    print(
        f"one parameter swept, the others known, {n} tones: share of tones where a step of "
        f"1/16 of the range (a switch: any other position) is inaudible (< {threshold_db} dB), "
        "and the floor of MSE / mean"
    )
    rows = []
    for i, p in enumerate(spec.parameters):
        grid = np.arange(p.ways, dtype=float) if p.is_switch else np.linspace(0, 1, 17)
        swept = np.repeat(y[:, None, :], len(grid), axis=1)
        swept[:, :, i] = grid[None, :]
        pairs = zip(swept, drawn, strict=True)
        tone_list = [spec.decode(v, base=t) for row, t in pairs for v in row]
        x = features_of(tone_list).reshape(n, len(grid), *base_x.shape[1:])
        change = np.abs(x - base_x[:, None]).mean(axis=(2, 3)) * 10 / np.log(10)
        same = change < threshold_db
        values = grid * spec.scale[i]
        # the prior's marginal at each grid point (a bin of the grid's spacing around it)
        edges = np.concatenate([[-np.inf], (values[1:] + values[:-1]) / 2, [np.inf]])
        weight = np.histogram(many[:, i], edges)[0] + 1e-9
        floor = np.mean([_weighted_var(values[row], weight[row]) for row in same])
        near = np.abs(grid[None, :] - y[:, i : i + 1]) <= (1 if p.is_switch else 1 / 16) + 1e-6
        step_flat = ((same & near).sum(axis=1) > 1).mean()
        rows.append((p.name, step_flat, floor / max(prior_var[i], 1e-12)))
    for name, flat, floor in rows:
        print(f"  {name:13s} inaudible step in {flat:5.1%} of tones; floor {floor:.2f}")
    mean_floor = sum(f * v for (_, _, f), v in zip(rows, prior_var, strict=True)) / prior_var.sum()
    print(f"  all 26 (weighted by the prior's variance): floor {mean_floor:.3f} of the mean")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--takes", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--only", choices=("aliases", "free", "neighbour", "flat"), action="append", default=None
    )
    parser.add_argument(
        "--labels", type=Path, help="a jxdaq bench --data root: check its --takes dataset's labels"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.labels is not None:
        labels_experiment(args.labels, args.takes, args.seed)
    chosen = args.only or ["aliases", "free", "neighbour", "flat"]
    if "aliases" in chosen:
        aliases_experiment(max(args.takes, 20000), args.seed)
    if "free" in chosen:
        free_experiment(args.takes, args.seed)
    if "neighbour" in chosen:
        neighbour_experiment(args.takes, args.seed)
    if "flat" in chosen:
        flat_experiment(min(args.takes, 60), args.seed)


if __name__ == "__main__":
    main()
