"""Reference results: the thesis's layouts beside the mean, the trees and the recommended model.

The thesis (F. Vecoven, Liège 2020; ``../shared/RESEARCH.md``) reported validation MSEs of
0.026-0.029 for its LSTMs and CNNs on 10^5 simulated sounds. This script runs its layouts on
the thesis's setup captured from the emulated rig, through ``jxdaq bench`` (one table for
every method; see :mod:`models.bench`), and prints the thesis's figure beside each row.

    nice -n 19 .venv/bin/python benchmarks/reference_thesis.py --takes 1000 --budget-s 300 \
        --models lstm1 cnn1 trees convpool

``--root DIR`` keeps the capture, feature cache and runs (default ``var/bench``): run again and
the capture and features are reused.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from models.bench import run_bench, table
from models.methods import THESIS_TRAINING

#: Thesis table 6.7: validation MSE on the medium (10^5) and large (10^6) datasets.
THESIS_VAL_MSE = {
    "cnn1": (0.02856, 0.02933),
    "cnn2": (0.03055, 0.02874),
    "cnn3": (0.02701, 0.02811),
    "lstm1": (0.02721, 0.02618),
    "lstm2": (0.02671, 0.02643),
    "lstm3": (0.02866, 0.02671),
    "lcnn1": (0.04244, 0.04108),
    "lcnn2": (0.04153, 0.04109),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=1000)
    parser.add_argument("--models", nargs="+", default=["lstm1", "cnn1", "trees", "convpool"])
    parser.add_argument("--budget-s", type=float, default=300.0, help="training seconds per model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", type=Path, default=Path("var/bench"))
    parser.add_argument("--real-banks", type=Path, default=Path("../shared/data/jx8p-banks"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = run_bench(
        args.models,
        args.takes,
        args.budget_s,
        args.root / "reference-thesis",
        data_root=args.root / "data",
        real_banks=args.real_banks,
        seed=args.seed,
    )
    print(table(results))
    print(
        f"\nthesis layouts trained as the thesis did (batch {THESIS_TRAINING.batch_size}, Adam "
        f"{THESIS_TRAINING.learning_rate:g}, at most {THESIS_TRAINING.epochs} epochs); the "
        "thesis's own validation MSE (10^5 / 10^6 takes of its simulator):"
    )
    for name in args.models:
        if name in THESIS_VAL_MSE:
            medium, large = THESIS_VAL_MSE[name]
            ours = results["models"][name]["test_mse"]
            print(f"  {name}: thesis {medium:.4f} / {large:.4f}; here {ours:.4f}")


if __name__ == "__main__":
    main()
