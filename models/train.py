"""The training loop for any ``Dataset`` of ``(features, targets)``.

``fit`` is deterministic for a seed (on CPU; cuDNN kernels may differ slightly on CUDA), runs on
CUDA when present and on the CPU otherwise, stops early when the validation parameter MSE stops
improving, and keeps in its output directory:

* ``last.pt``: model, optimizer, epoch, early-stopping state and every RNG state, written
  atomically after each epoch, so ``fit(..., resume=True)`` continues exactly where it stopped
  (the same result as a run that was never interrupted);
* ``best.pt``: the weights of the best validation epoch (loaded back into the model at the end);
  "best" and early stopping go by the validation *parameter MSE* (the thesis's measure, which
  the benchmark reports), not the validation loss: with the mixed head the switches'
  cross-entropy overfits epochs before the parameters stop improving (issue 12: the bench
  kept epoch 6 of 60 that way);
  both checkpoints also say what they hold (model name, head, targets, input shape and the
  caller's ``meta``, e.g. the dataset and the feature config), so :func:`load_model` rebuilds
  the network from the file alone;
* ``metrics.csv`` and ``curves.png``: one row per epoch (every epoch), and the curves drawn
  from it (at most once a minute during training, and at the end).

Seed *before* building the model (``seed_everything(config.seed)``) so that the initial weights
are part of what the seed fixes.
"""

from __future__ import annotations

import csv
import io
import math
import os
import random
import time
from collections.abc import Callable, Sized
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)
from torch.utils.data import DataLoader, Dataset

from models.evaluate import run_split, to_device
from models.nets import HEADS, ParameterNet, build_model
from models.progress import progress_bars
from models.targets import TargetSpec

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
METRICS_CSV = "metrics.csv"
CURVES_PNG = "curves.png"
#: Redraw the curves during training at most this often (drawing takes about a second).
CURVES_INTERVAL_S = 60.0


class TrainConfig(BaseModel):
    """How to train; stored in every checkpoint and checked again on resume."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: PositiveInt = 100
    batch_size: PositiveInt = 64
    learning_rate: PositiveFloat = 1e-3
    #: adam (the thesis's) or adamw (decoupled weight decay).
    optimizer: Literal["adam", "adamw"] = "adam"
    weight_decay: NonNegativeFloat = 0.0
    #: constant (the thesis's) or onecycle: warm up over the first 30 % of the run, then
    #: anneal (cosine) to 1/10^4 of the peak; stepped per batch (see ``_schedule``).
    schedule: Literal["constant", "onecycle"] = "constant"
    patience: PositiveInt = 10
    min_delta: NonNegativeFloat = 0.0
    max_grad_norm: PositiveFloat | None = None
    #: Stop after the first epoch that ends past this many seconds of training.
    budget_s: PositiveFloat | None = None
    seed: int = 0
    device: str | None = None
    num_workers: NonNegativeInt = 0


#: Fields a resumed run may change: they do not alter what an epoch computes.
RESUMABLE_CHANGES = frozenset({"epochs", "patience", "device", "num_workers", "budget_s"})


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str | None = None) -> torch.device:
    """``name`` if given, else CUDA when present, else the CPU."""
    if name is not None:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# -- training -------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    best_epoch: int
    best_val_mse: float
    epochs_run: int
    stopped_early: bool
    history: list[dict[str, float]]
    out_dir: Path


@dataclass
class _State:
    """What early stopping and the history need to carry across a resume."""

    epoch: int = 0
    best_epoch: int = 0
    best_val_mse: float = math.inf
    bad_epochs: int = 0
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


def fit(
    model: ParameterNet,
    train_set: Dataset,
    val_set: Dataset,
    out_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    meta: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``model`` on ``train_set``, early-stopped on ``val_set``; see the module doc.

    ``meta`` (JSON-able) is stored in the checkpoints; a resumed run must pass the same.
    """
    config = config or TrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not len(_sized(train_set)) or not len(_sized(val_set)):
        raise ValueError("training and validation sets must both hold examples")
    card = _describe(model, tuple(train_set[0][0].shape), meta or {})
    device = resolve_device(config.device)
    model.to(device)
    kind = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    optimizer = kind(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    shuffle = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        shuffle=True,
        generator=shuffle,
        num_workers=config.num_workers,
        worker_init_fn=_seed_worker,
        pin_memory=device.type == "cuda",
    )
    val_loader = DataLoader(val_set, batch_size=config.batch_size, num_workers=config.num_workers)
    state = _State()
    schedule = _schedule(optimizer, config, len(train_loader), state)
    if resume:
        restored = _restore(
            out / LAST_CHECKPOINT, config, card, model, optimizer, schedule, shuffle, device
        )
        state.__dict__.update(restored.__dict__)  # the schedule's clock reads this state
    elif (out / LAST_CHECKPOINT).exists():
        raise FileExistsError(f"{out} already holds a run; resume it or choose another directory")
    stopped_early = False
    last_plot = time.monotonic()
    with progress_bars(progress) as bars:
        epochs = bars.add_task("epochs", total=config.epochs, completed=state.epoch)
        batches = bars.add_task("batches", total=len(train_loader))
        for epoch in range(state.epoch + 1, config.epochs + 1):
            over_budget = config.budget_s is not None and state.seconds >= config.budget_s
            if state.bad_epochs >= config.patience or over_budget:
                stopped_early = True
                break
            started = time.perf_counter()
            bars.reset(batches, total=len(train_loader))

            def advance(loss: float) -> None:
                bars.update(batches, advance=1, description=f"epoch {epoch} loss {loss:.4f}")  # noqa: B023

            train_loss = _train_epoch(
                model, train_loader, optimizer, schedule, device, config, advance
            )
            result = run_split(model, val_loader, device=device)
            state.epoch = epoch
            state.seconds += time.perf_counter() - started
            state.history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": result.loss,
                    "val_parameter_mse": result.thesis_mse(model.spec),
                    "val_switch_accuracy": result.mean_switch_accuracy(model.spec),
                    "seconds": time.perf_counter() - started,
                }
            )
            score = state.history[-1]["val_parameter_mse"]
            if score < state.best_val_mse - config.min_delta:
                state.best_val_mse, state.best_epoch, state.bad_epochs = score, epoch, 0
                _save(out / BEST_CHECKPOINT, {**card, "epoch": epoch, "model": model.state_dict()})
            else:
                state.bad_epochs += 1
            checkpoint = _checkpoint(config, card, model, optimizer, schedule, shuffle, state)
            _save(out / LAST_CHECKPOINT, checkpoint)
            write_metrics_csv(out / METRICS_CSV, state.history)
            if time.monotonic() - last_plot > CURVES_INTERVAL_S:
                plot_curves(out / CURVES_PNG, state.history)
                last_plot = time.monotonic()
            bars.update(epochs, completed=epoch, description=f"best val {state.best_val_mse:.4f}")
    if state.history:
        plot_curves(out / CURVES_PNG, state.history)
    if (out / BEST_CHECKPOINT).exists():
        model.load_state_dict(_load(out / BEST_CHECKPOINT, device)["model"])
    return TrainResult(
        state.best_epoch, state.best_val_mse, state.epoch, stopped_early, state.history, out
    )


def _sized(dataset: Dataset) -> Sized:
    if not isinstance(dataset, Sized):
        raise TypeError(f"{type(dataset).__name__} has no length; fit needs map-style datasets")
    return dataset


def _schedule(
    optimizer: torch.optim.Optimizer, config: TrainConfig, batches: int, state: _State
) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning rate's factor per batch. One-cycle: linear warm-up from 1/25 to 1 over
    the first 30 % of the run, then a cosine down to 1/10^4. The run's progress is the share
    of its steps done or, under a budget, of its budget spent, whichever is further, so that
    the schedule ends when the budget does even where the machine's pace changes."""
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    total = config.epochs * batches
    clock = _Clock(state)

    def factor(step: int) -> float:
        progress = step / total
        if config.budget_s is not None:
            progress = max(progress, clock.seconds() / config.budget_s)
        progress = min(progress, 1.0)
        if progress < ONE_CYCLE_WARM_UP:
            return 0.04 + 0.96 * progress / ONE_CYCLE_WARM_UP
        rest = (progress - ONE_CYCLE_WARM_UP) / (1 - ONE_CYCLE_WARM_UP)
        return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * rest))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


ONE_CYCLE_WARM_UP = 0.3


class _Clock:
    """Training seconds so far: those of finished epochs plus the running one's."""

    def __init__(self, state: _State) -> None:
        self.state = state
        self.epoch_started = time.perf_counter()
        self.epoch = state.epoch

    def seconds(self) -> float:
        if self.state.epoch != self.epoch:  # a new epoch began
            self.epoch, self.epoch_started = self.state.epoch, time.perf_counter()
        return self.state.seconds + time.perf_counter() - self.epoch_started


def _train_epoch(
    model: ParameterNet,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device,
    config: TrainConfig,
    on_batch: Callable[[float], None],
) -> float:
    model.train()
    total, count = 0.0, 0
    for batch, (features, target) in enumerate(loader):
        features, target = to_device(features, device), to_device(target, device)
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(model(features), target)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at batch {batch}")
        loss.backward()
        if config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        schedule.step()
        total += loss.item() * len(target)
        count += len(target)
        on_batch(loss.item())
    return total / count


def _seed_worker(worker_id: int) -> None:
    """DataLoader workers get torch seeds from the loader; give numpy and random the same."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


# -- checkpoints ----------------------------------------------------------------------------------


def _rng_states(shuffle: torch.Generator) -> dict:
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "position": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "gauss": float(numpy_state[4]),
        },
        "python": list(random.getstate()[1]),
        "shuffle": shuffle.get_state(),
    }


def _set_rng_states(states: dict, shuffle: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy_state = states["numpy"]
    keys = numpy_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(
        ("MT19937", keys, numpy_state["position"], numpy_state["has_gauss"], numpy_state["gauss"])
    )
    random.setstate((3, tuple(states["python"]), None))
    shuffle.set_state(states["shuffle"])


def _describe(model: ParameterNet, input_shape: tuple[int, ...], meta: dict[str, Any]) -> dict:
    """What a checkpoint holds, enough for :func:`load_model` to rebuild the network."""
    if len(input_shape) != 2:
        raise ValueError(f"examples must be features [frames, bins], got shape {input_shape}")
    head = next(name for name, kind in HEADS.items() if type(model.head) is kind)
    return {
        "model_name": model.name,
        "head": head,
        "targets": list(model.spec.names),
        "input_shape": list(input_shape),
        "meta": meta,
    }


def load_model(
    path: str | Path, device: str | torch.device | None = None
) -> tuple[ParameterNet, dict[str, Any]]:
    """The network saved in a checkpoint of :func:`fit` (``best.pt`` or ``last.pt``), in eval
    mode on ``device`` (default: the CPU), and the checkpoint's ``meta``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    device = torch.device(device or "cpu")
    try:
        saved = _load(path, device)
    except Exception as error:  # torch raises many kinds for a file that is not a checkpoint
        raise ValueError(f"{path} is not a readable checkpoint: {error}") from None
    missing = [
        k for k in ("model_name", "head", "targets", "input_shape", "model") if k not in saved
    ]
    if missing:
        raise ValueError(f"{path} is not a jx-daq checkpoint (no {', '.join(missing)})")
    model = build_model(
        saved["model_name"], *saved["input_shape"], TargetSpec.of(saved["targets"]), saved["head"]
    )
    model.load_state_dict(saved["model"])
    return model.to(device).eval(), saved.get("meta", {})


def _checkpoint(
    config: TrainConfig,
    card: dict,
    model: ParameterNet,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    shuffle: torch.Generator,
    state: _State,
) -> dict:
    return {
        **card,
        "config": config.model_dump(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "state": asdict(state),
        "rng": _rng_states(shuffle),
    }


def _restore(
    path: Path,
    config: TrainConfig,
    card: dict,
    model: ParameterNet,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    shuffle: torch.Generator,
    device: torch.device,
) -> _State:
    if not path.exists():
        raise FileNotFoundError(f"nothing to resume: {path} does not exist")
    saved = _load(path, device)
    changed = {
        name
        for name, value in config.model_dump().items()
        if saved["config"].get(name) != value and name not in RESUMABLE_CHANGES
    }
    if config.schedule == "onecycle" and saved["config"].get("epochs") != config.epochs:
        changed.add("epochs (a one-cycle schedule spans them)")
    if changed:
        raise ValueError(
            f"cannot resume {path} with a different {', '.join(sorted(changed))}; "
            f"only {', '.join(sorted(RESUMABLE_CHANGES))} may change"
        )
    if saved["model_name"] != model.name or saved["targets"] != list(model.spec.names):
        raise ValueError(
            f"{path} holds a {saved['model_name']} for {len(saved['targets'])} targets, "
            f"not a {model.name} for {len(model.spec)}"
        )
    if saved.get("head", card["head"]) != card["head"]:
        raise ValueError(f"{path} holds a model with a {saved['head']} head, not {card['head']}")
    meta, saved_meta = card["meta"], saved.get("meta", {})
    different = sorted(
        k for k in meta.keys() | saved_meta.keys() if meta.get(k) != saved_meta.get(k)
    )
    if different:
        raise ValueError(f"cannot resume {path} with a different {', '.join(different)}")
    if "best_val_mse" not in saved["state"]:
        raise ValueError(
            f"{path} chose its best epoch by validation loss (an older jx-daq); training now "
            "chooses by validation parameter MSE: start a new run rather than resume it"
        )
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    schedule.load_state_dict(saved["schedule"])
    _set_rng_states(saved["rng"], shuffle)
    return _State(**saved["state"])


def _save(path: Path, payload: dict) -> None:
    """Atomically: a crash leaves the previous checkpoint, never half a new one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load(path: Path, device: torch.device) -> dict:
    return torch.load(path, map_location=device, weights_only=True)


# -- reports --------------------------------------------------------------------------------------


def write_metrics_csv(path: Path, history: list[dict[str, float]]) -> None:
    """All epochs so far (rewritten whole, atomically, so it always matches ``last.pt``)."""
    if not history:
        return
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text.getvalue())
    os.replace(tmp, path)


def plot_curves(path: Path, history: list[dict[str, float]]) -> None:
    """Loss curves and validation parameter metrics as a PNG (Agg canvas: no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=(10, 4))
    figure.subplots_adjust(left=0.08, right=0.92, wspace=0.35, bottom=0.13)
    FigureCanvasAgg(figure)
    losses, parameters = figure.subplots(1, 2)
    losses.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    losses.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    losses.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    losses.legend()
    parameters.plot(epochs, [r["val_parameter_mse"] for r in history], "o-", color="C2")
    parameters.set(xlabel="epoch", ylabel="normalised parameter MSE", title="validation")
    accuracy = [r["val_switch_accuracy"] for r in history]
    if not all(math.isnan(a) for a in accuracy):
        twin = parameters.twinx()
        twin.plot(epochs, accuracy, "s--", color="C3")
        twin.set(ylabel="switch accuracy", ylim=(0, 1))
    tmp = path.with_name(path.stem + ".tmp.png")
    figure.savefig(tmp, dpi=100)
    os.replace(tmp, path)
