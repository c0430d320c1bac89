"""The dynamic parameters: what a probe take (several notes of one tone) reveals that one note
does not (issue 12 item 7, :mod:`models.probe`).

Prints, first, how much the emulator lets each dynamic parameter move the features
(:func:`models.audibility.audibility`: median change per step over tones from the job's
source) under the probe protocol and under one note; then captures (or reuses) probe takes on
the accelerated emulated rig, fits boosted trees to all 44 parameters from the probe's
per-note statistics and from the first note's alone, and prints per-parameter test MSE against
the mean's.

    .venv/bin/python benchmarks/dynamic_probe.py [--takes 3000] [--budget-s 300] [--root DIR]
        [--dynamic-only]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from models.audibility import audibility
from models.bench import BenchData, hardware
from models.probe import DYNAMIC, PROBE_FEATURES, probe_job, run_probe
from models.targets import TargetSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=3000)
    parser.add_argument("--budget-s", type=float, default=300.0, help="per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", help="catalog, audio and features (default: temporary)")
    parser.add_argument(
        "--dynamic-only", action="store_true", help="fit the seven dynamic parameters only"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{hardware()}; load average {os.getloadavg()[0]:.1f}")

    probe = probe_job(16, args.seed)
    one_note = probe.model_copy(
        update={"capture": probe.capture.model_copy(update={"notes": probe.capture.notes[:1]})}
    )
    heard = {
        label: {a.parameter: a for a in audibility(job, PROBE_FEATURES) if a.parameter in DYNAMIC}
        for label, job in (("probe", probe), ("one note", one_note))
    }
    print("\naudibility (median feature change per step, dB; emulator, 16 prior tones)")
    print(f"{'parameter':<12} {'one note':>9} {'probe':>9}")
    for name in DYNAMIC:
        print(
            f"{name:<12} {heard['one note'][name].median_db:>9.3f} "
            f"{heard['probe'][name].median_db:>9.3f}"
        )

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root or tmp)
        data = BenchData.open(root)
        try:
            result = run_probe(
                data,
                args.takes,
                seed=args.seed,
                budget_s=args.budget_s,
                targets=TargetSpec.of(DYNAMIC) if args.dynamic_only else None,
                cache_root=str(root / "features"),
            )
        finally:
            data.close()
    print(f"\n{result.takes} takes, {result.seconds:.0f} s in all")
    header = ("mean MSE", "one note", "probe", "1n/mean", "pr/mean")
    print(f"{'parameter':<14} " + " ".join(f"{h:>9}" for h in header))
    rows = result.rows()
    for row in sorted(rows, key=lambda r: (not r["dynamic"], r["parameter"])):
        mark = "*" if row["dynamic"] else " "
        print(
            f"{mark}{row['parameter']:<13} {row['mean_mse']:>9.4f} {row['one_note_mse']:>9.4f} "
            f"{row['probe_mse']:>9.4f} {row['one_note_ratio']:>9.2f} {row['probe_ratio']:>9.2f}"
        )
    for label, chosen in (("dynamic (*)", True), ("the others", False)):
        picked = [r for r in rows if r["dynamic"] == chosen]
        if not picked:
            continue
        one = np.mean([r["one_note_ratio"] for r in picked])
        pr = np.mean([r["probe_ratio"] for r in picked])
        print(f"mean MSE / mean's, {label}: one note {one:.2f}, probe {pr:.2f}")
    print(
        f"thesis measure over the targets: probe {result.probe.thesis_mse:.4f}, "
        f"one note {result.one_note.thesis_mse:.4f}, "
        f"mean {float(result.probe.mean_mse.mean()):.4f}"
    )


if __name__ == "__main__":
    main()
