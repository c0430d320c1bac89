"""The learning curve: ``jxdaq bench`` results at several dataset sizes, as a table and a plot.

    .venv/bin/python benchmarks/learning_curve.py var/runs/bench-1000/results.json \
        var/runs/bench-10000/results.json --plot benchmarks/learning-curve.svg

Prints one Markdown row per (size, model): test MSE (thesis measure) beside the mean's, the
ratio, switch accuracy beside the mode's, median spectral convergence on the real bank tones
beside the mean tone's, and what the training cost. The plot (SVG: text, small, diffable)
shows the test MSE of each model and of the mean against the number of training takes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def rows(paths: list[Path]) -> list[tuple[int, str, dict]]:
    out = []
    for path in paths:
        results = json.loads(path.read_text())
        takes = results["dataset"]["takes"]
        for name, row in results["models"].items():
            out.append((takes, name, row))
    return sorted(out, key=lambda r: (r[0], r[1]))


def table(found: list[tuple[int, str, dict]]) -> str:
    def f(value: object, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| takes (train) | model | test MSE | mean | ratio | switch acc. / mode | real SC median "
        "/ mean tone | epochs | examples/s | budget used (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for takes, name, r in found:
        lines.append(
            f"| {takes:,} ({r['train_examples']:,}) | {name} | {f(r['test_mse'])} "
            f"| {f(r['mean_mse'])} | {f(r['mse_ratio'], 3)} | {f(r['switch_accuracy'], 3)} / "
            f"{f(r['mode_accuracy'], 3)} | {f(r['real_sc_median'], 3)} / "
            f"{f(r['mean_tone_real_sc_median'], 3)} | {r['epochs']} | {r['examples_per_s']:.0f} "
            f"| {r['train_s']:.0f} |"
        )
    return "\n".join(lines)


def plot(found: list[tuple[int, str, dict]], path: Path) -> None:
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    FigureCanvasSVG(figure)
    axes = figure.subplots()
    for name in sorted({n for _, n, _ in found}):
        points = [(r["train_examples"], r["test_mse"]) for _, n, r in found if n == name]
        axes.plot(*zip(*points, strict=True), "o-", label=name)
    means = sorted({(r["train_examples"], r["mean_mse"]) for _, _, r in found})
    axes.plot(*zip(*means, strict=True), "k--", label="predict the mean")
    axes.set(
        xscale="log",
        xlabel="training takes",
        ylabel="test MSE (thesis measure)",
        title="jxdaq bench: learning curve",
    )
    axes.legend()
    figure.savefig(path, metadata={"Date": None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    found = rows(args.results)
    print(table(found))
    hardware = sorted({r["hardware"] for _, _, r in found})
    print(f"hardware: {'; '.join(hardware)}")
    if args.plot:
        plot(found, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
