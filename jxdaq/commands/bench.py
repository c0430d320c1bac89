"""``jxdaq bench``: capture (or reuse) the thesis's setup on the emulated rig, train every
named model within a budget, and print and write one results table (:mod:`models.bench`).

torch and :mod:`models` are imported inside the command, so ``jxdaq --help`` and every other
command work on machines without the training extra.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()

#: Where the real tones come from unless told: the JX-8P banks beside the project.
REAL_BANKS = Path("../shared/data/jx8p-banks")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _features(text: str):
    """A feature config from a kind name or JSON with ``kind``: one line if it is refused."""
    from pydantic import ValidationError

    from daq.features import parse_feature_config

    try:
        fields = json.loads(text) if text.lstrip().startswith("{") else {"kind": text}
        return parse_feature_config(fields)
    except (json.JSONDecodeError, TypeError) as error:
        raise _fail(f"--features is not a kind or a JSON object: {error}") from None
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _fail(f"--features {where}: {first['msg']}") from None


@app.command()
def bench(
    out: Annotated[Path, typer.Option(help="Directory for results.json and each model's report")],
    takes: Annotated[int, typer.Option(min=10, help="Takes of the thesis's setup")] = 1000,
    models: Annotated[
        str, typer.Option(help="Comma-separated model names, or recommended")
    ] = "recommended",
    budget_s: Annotated[float, typer.Option(min=1.0, help="Training seconds per model")] = 600.0,
    real_banks: Annotated[
        str, typer.Option(help="Directory of .syx banks whose tones are resynthesised; none: skip")
    ] = str(REAL_BANKS),
    features: Annotated[
        str | None,
        typer.Option(
            help="Features for every model instead of its own: stft, logmel, auditory, or JSON "
            'with "kind" and fields'
        ),
    ] = None,
    resynthesis: Annotated[int, typer.Option(min=0, help="Test takes to resynthesise")] = 100,
    seed: int = 0,
    threads: Annotated[int, typer.Option(min=1, help="torch threads on the CPU")] = 2,
    data: Annotated[
        Path | None, typer.Option(help="Captured data and feature cache (default: var_dir/bench)")
    ] = None,
) -> None:
    """Every named model on one table: test MSE beside the mean, switch accuracy beside the
    mode, resynthesis of real tones beside the mean tone, examples/s, wall time, hardware."""
    import torch

    from daq.settings import get_settings
    from models.bench import run_bench, table
    from models.methods import METHODS

    names = [n.strip() for n in models.split(",") if n.strip()]
    unknown = [n for n in names if n != "recommended" and n not in METHODS]
    if not names or unknown:
        known = ", ".join([*METHODS, "recommended"])
        raise _fail(
            f"--models {models!r}: unknown {', '.join(unknown) or 'nothing'}; known: {known}"
        )
    config = None if features is None else _features(features)
    banks = None if real_banks == "none" else Path(real_banks)
    if banks is not None and not banks.is_dir():
        raise _fail(f"--real-banks {banks}: not a directory (none skips real tones)")
    torch.set_num_threads(threads)
    root = data or get_settings().var_dir / "bench"
    try:
        results = run_bench(
            names,
            takes,
            budget_s,
            out,
            data_root=root,
            real_banks=banks,
            features=config,
            resynthesis=resynthesis,
            seed=seed,
            log=typer.echo,
        )
    except (ValueError, OSError) as error:
        raise _fail(str(error)) from None
    typer.echo(table(results))
    typer.echo(f"wrote {out / 'results.json'}")


@app.command()
def audibility(
    spec: Annotated[Path, typer.Argument(help="A job spec (TOML) whose protocol to judge")],
    features: Annotated[
        str, typer.Option(help="stft, logmel, auditory, or JSON with kind and fields")
    ] = "logmel",
    tones: Annotated[int, typer.Option(min=1, help="Tones drawn from the job's source")] = 16,
    threshold_db: Annotated[float, typer.Option(min=0.0, help="Audible from this median")] = 0.2,
) -> None:
    """How much one step of each parameter the job varies moves the features, over tones of
    its source played as it plays them; names the parameters the protocol cannot reveal."""
    from daq.spec import load_spec
    from models.audibility import CONTINUOUS_STEP, audibility

    try:
        job = load_spec(spec)
    except (OSError, ValueError) as error:
        raise _fail(f"{spec}: {error}") from None
    config = _features(features)
    rows = audibility(job, config, tones, threshold_db)
    typer.echo(
        f"{job.name}: {config.kind} features, {tones} tones, one step = one switch position or "
        f"{CONTINUOUS_STEP} raw values"
    )
    typer.echo("| parameter | median change (dB) | tones below threshold | audible |")
    typer.echo("|---|---|---|---|")
    for row in sorted(rows, key=lambda r: r.median_db):
        typer.echo(
            f"| {row.parameter} | {row.median_db:.3f} | {row.inaudible_share:.0%} "
            f"| {'yes' if row.audible else 'NO'} |"
        )
    silent = [r.parameter for r in rows if not r.audible]
    typer.echo(
        f"inaudible in this protocol (below {threshold_db:g} dB): {', '.join(silent)}"
        if silent
        else "every varied parameter is audible in this protocol"
    )
