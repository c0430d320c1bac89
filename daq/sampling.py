"""Parameter sources: the tone of sample i is a pure function of (spec, seed, i).

A job is never expanded up front; any worker on any host regenerates sample i exactly, so
random draws come from a numpy Generator seeded by ``SeedSequence((seed, i))`` (no global
state) and Sobol point i is computed directly from scipy's scrambled direction numbers.

Sources: uniform, Sobol, the preset prior (the thesis's multivariate normal fitted to real
tones over the continuous parameters, switches from their observed frequencies, clipped to
range), the tones of ``.syx`` banks (held by the spec, never read from a file here),
one-parameter sweeps and explicit lists. On top of any of them, ``vary`` locks every other
parameter to the base tone and ``fixed`` sets values.
"""

from __future__ import annotations

import hashlib
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources

import numpy as np
from scipy.stats import qmc

from daq.spec import (
    Bank,
    BankSource,
    ListSource,
    PriorSource,
    SamplingSpec,
    SobolSource,
    SweepSource,
    UniformSource,
)
from firmware_protocol.parameters import (
    APR_TONE_LENGTH,
    BY_NAME,
    CONTINUOUS,
    FIRST_PARAMETER_INDEX,
    MAX_VALUE,
    SWITCHES,
    TONE_PARAMETERS,
    ToneParameter,
)
from firmware_protocol.tone import Tone

PRIOR_RESOURCE = "preset_prior.json"


# -- the preset prior ----------------------------------------------------------------------
@dataclass(frozen=True)
class Prior:
    """A normal over the continuous raw values and a categorical per switch."""

    continuous: tuple[str, ...]
    mean: np.ndarray
    covariance: np.ndarray
    switch_counts: dict[str, tuple[int, ...]]
    tones: int
    sources: tuple[dict[str, str], ...] = field(default=())

    @cached_property
    def factor(self) -> np.ndarray:
        """A matrix A with A @ A.T = covariance (eigen-based: tolerates singular data)."""
        eigenvalues, eigenvectors = np.linalg.eigh(self.covariance)
        return eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))

    def switch_frequencies(self, name: str) -> np.ndarray:
        counts = np.asarray(self.switch_counts[name], dtype=float)
        return counts / counts.sum()

    def to_json(self) -> str:
        """Readable and small: one line per field, one per covariance row."""
        data = {
            "description": "JX tone prior: normal over continuous raw values 0..127, "
            "switch position counts (fit by scripts/fit_prior.py)",
            "sources": list(self.sources),
            "tones": self.tones,
            "continuous": list(self.continuous),
            "mean": [round(float(x), 6) for x in self.mean],
            "covariance": [[round(float(x), 6) for x in row] for row in self.covariance],
            "switch_counts": {k: list(v) for k, v in self.switch_counts.items()},
        }
        fields = []
        for key, value in data.items():
            if key == "covariance":
                rows = ",\n  ".join(json.dumps(row) for row in value)
                fields.append(f'"{key}": [\n  {rows}\n ]')
            else:
                fields.append(f"{json.dumps(key)}: {json.dumps(value)}")
        return "{\n " + ",\n ".join(fields) + "\n}"

    @classmethod
    def from_json(cls, text: str, where: str = "prior") -> Prior:
        """Read :meth:`to_json`'s form, checking it covers this table's parameters."""
        try:
            data = json.loads(text)
            prior = cls(
                continuous=tuple(data["continuous"]),
                mean=np.asarray(data["mean"], dtype=float),
                covariance=np.asarray(data["covariance"], dtype=float),
                switch_counts={
                    k: tuple(int(c) for c in v) for k, v in data["switch_counts"].items()
                },
                tones=int(data["tones"]),
                sources=tuple(data.get("sources", ())),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{where}: not a prior statistics file: {error!r}") from None
        expected = tuple(p.name for p in CONTINUOUS)
        d = len(expected)
        if prior.continuous != expected or prior.mean.shape != (d,):
            raise ValueError(f"{where}: continuous parameters differ from the parameter table")
        if prior.covariance.shape != (d, d):
            raise ValueError(f"{where}: covariance must be {d} x {d}")
        for p in SWITCHES:
            counts = prior.switch_counts.get(p.name, ())
            if len(counts) != p.ways or sum(counts) <= 0 or min(counts) < 0:
                raise ValueError(f"{where}: {p.name} needs {p.ways} non-negative counts")
        return prior


def fit_prior(tones: Iterable[Tone], sources: Sequence[dict[str, str]] = ()) -> Prior:
    """Fit the prior to real tones, as the board reads them (switches by threshold);
    identical sounds count once."""
    unique = {t.canonical().data[FIRST_PARAMETER_INDEX:]: t.canonical() for t in tones}
    if len(unique) < 2:
        raise ValueError(f"a prior needs at least 2 distinct tones, got {len(unique)}")
    cont = np.array([[t.value(p) for p in CONTINUOUS] for t in unique.values()], dtype=float)
    counts = {
        p.name: tuple(
            int(c) for c in np.bincount([p.position(t.value(p)) for t in unique.values()],
                                        minlength=p.ways)
        )
        for p in SWITCHES
    }  # fmt: skip
    return Prior(
        continuous=tuple(p.name for p in CONTINUOUS),
        mean=cont.mean(axis=0),
        covariance=np.cov(cont, rowvar=False),
        switch_counts=counts,
        tones=len(unique),
        sources=tuple(sources),
    )


def bank_sources(banks: Iterable[tuple[str, bytes]]) -> list[dict[str, str]]:
    """File name and sha256 of each ``(name, bytes)`` bank, recorded in a prior so it can be
    traced."""
    return [{"file": name, "sha256": hashlib.sha256(data).hexdigest()} for name, data in banks]


@lru_cache(maxsize=1)
def default_prior() -> Prior:
    """The prior shipped with jx-daq, fitted to 13 real JX-8P banks."""
    text = resources.files("daq.data").joinpath(PRIOR_RESOURCE).read_text(encoding="utf-8")
    return Prior.from_json(text, where=f"daq/data/{PRIOR_RESOURCE}")


@lru_cache(maxsize=16)
def _prior_from_banks(banks: tuple[Bank, ...]) -> Prior:
    tones = [tone for bank in banks for tone in bank.tones]
    return fit_prior(tones, bank_sources((bank.name, bank.data) for bank in banks))


# -- sources -------------------------------------------------------------------------------
def _generator(seed: int, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, index))))


class _Draw(ABC):
    """A source that draws values for the free parameters: ``values(seed, idx) -> (n, k)``."""

    def __init__(self, free: Sequence[ToneParameter]) -> None:
        self.free = tuple(free)
        # Unit interval -> raw byte: 128 levels for a continuous value, one per position.
        self.levels = np.array([p.ways or MAX_VALUE + 1 for p in self.free], dtype=np.int64)
        self.steps = np.array([p.step if p.is_switch else 1 for p in self.free], dtype=np.int64)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        position = np.minimum((u * self.levels).astype(np.int64), self.levels - 1)
        return position * self.steps

    @abstractmethod
    def values(self, seed: int, indexes: np.ndarray) -> np.ndarray:
        """Raw bytes, one row per index, one column per free parameter."""


class _Uniform(_Draw):
    def values(self, seed: int, indexes: np.ndarray) -> np.ndarray:
        u = np.empty((len(indexes), len(self.free)))
        for row, i in enumerate(indexes):
            u[row] = _generator(seed, int(i)).random(len(self.free))
        return self.from_unit(u)


class _SobolPoints:
    """Any point of one scrambled Sobol sequence, computed directly from its index.

    Point k is the digital shift XOR the direction numbers picked by the bits of gray(k):
    exactly what scipy's engine computes step by step. scipy keeps the scrambled direction
    numbers and shift as ``_sv`` and ``_shift``; tests compare these points with the engine's
    own ``random()`` and ``fast_forward()``, so a change inside scipy cannot pass unnoticed.
    """

    def __init__(self, d: int, seed: int) -> None:
        engine = qmc.Sobol(d, scramble=True, rng=seed)
        self.directions = engine._sv.T.copy()  # (bits, d): one row per bit of gray(k)
        self.shift = engine._shift.copy()
        self.bits = engine.bits
        self.limit = 2**engine.bits

    def points(self, indexes: np.ndarray) -> np.ndarray:
        if len(indexes) and int(indexes.max()) >= self.limit:
            raise IndexError(f"the Sobol source has 2**{self.bits} points (0..{self.limit - 1})")
        gray = indexes ^ (indexes >> 1)
        chosen = ((gray[:, None] >> np.arange(self.bits)) & 1).astype(bool)  # (n, bits)
        picked = np.where(chosen[:, :, None], self.directions[None, :, :], 0)
        acc = self.shift ^ np.bitwise_xor.reduce(picked, axis=1)
        return acc * 2.0**-self.bits


@lru_cache(maxsize=8)
def _sobol_points(d: int, seed: int) -> _SobolPoints:
    return _SobolPoints(d, seed)


class _Sobol(_Draw):
    def values(self, seed: int, indexes: np.ndarray) -> np.ndarray:
        if not self.free:
            return np.zeros((len(indexes), 0), dtype=np.int64)
        return self.from_unit(_sobol_points(len(self.free), seed).points(indexes))


class _PriorDraw(_Draw):
    def __init__(self, free: Sequence[ToneParameter], prior: Prior) -> None:
        super().__init__(free)
        self.mean, self.factor_t = prior.mean, prior.factor.T.copy()
        position = {name: i for i, name in enumerate(prior.continuous)}
        self.cont_out = np.array([j for j, p in enumerate(self.free) if not p.is_switch], int)
        self.cont_rows = np.array([position[p.name] for p in self.free if not p.is_switch], int)
        self.switch_out = np.array([j for j, p in enumerate(self.free) if p.is_switch], int)
        switches = [self.free[j] for j in self.switch_out]
        # Cumulative frequencies; the last bound of each switch (and the padding) is exactly
        # 1.0 so a draw u < 1 can never land past its last position.
        self.cumulative = np.ones((len(switches), max(p.ways for p in SWITCHES) - 1))
        for row, p in enumerate(switches):
            self.cumulative[row, : p.ways - 1] = np.cumsum(prior.switch_frequencies(p.name))[:-1]
        self.switch_steps = np.array([p.step for p in switches], dtype=np.int64)

    def values(self, seed: int, indexes: np.ndarray) -> np.ndarray:
        d, s = len(self.mean), len(self.switch_steps)
        z = np.empty((len(indexes), d))
        u = np.empty((len(indexes), s))
        for row, i in enumerate(indexes):
            rng = _generator(seed, int(i))
            z[row] = rng.standard_normal(d)
            u[row] = rng.random(s)
        continuous = (self.mean + z @ self.factor_t)[:, self.cont_rows]
        out = np.empty((len(indexes), len(self.free)), dtype=np.int64)
        out[:, self.cont_out] = np.minimum(np.maximum(np.rint(continuous), 0), MAX_VALUE)
        # Position = how many bounds lie at or below u.
        positions = (u[:, :, None] >= self.cumulative[None, :, :]).sum(axis=2)
        out[:, self.switch_out] = positions * self.switch_steps
        return out


def _sweep_values(source: SweepSource) -> list[int]:
    """Raw bytes of the sweep: explicit values, or an even range with both ends included."""
    parameter = BY_NAME[source.parameter]
    if source.values is not None:
        steps = source.values
    else:
        start = 0 if source.start is None else source.start
        stop = source.top() if source.stop is None else source.stop
        count = source.steps or abs(stop - start) + 1
        steps = [int(v) for v in np.rint(np.linspace(start, stop, count))]
    return [parameter.canonical(v) if parameter.is_switch else v for v in steps]


def _as_array(tone: Tone) -> np.ndarray:
    return np.frombuffer(tone.data, dtype=np.uint8)


class Sampler:
    """A spec compiled once: tones by index, alone or in batches."""

    def __init__(self, spec: SamplingSpec) -> None:
        self.spec = spec
        self.base = spec.base.tone()
        varied = set(spec.vary) if spec.vary is not None else set(BY_NAME)
        free = [p for p in TONE_PARAMETERS if p.name in varied and p.name not in spec.fixed]
        self.free_columns = np.array([p.apr_index for p in free], dtype=np.intp)
        self.fixed_columns = np.array([BY_NAME[n].apr_index for n in spec.fixed], dtype=np.intp)
        self.fixed_values = np.array(list(spec.fixed.values()), dtype=np.uint8)
        self.draw: _Draw | None = None
        self.enumerated: tuple[Tone, ...] = ()
        source = spec.source
        match source:
            case UniformSource():
                self.draw = _Uniform(free)
            case SobolSource():
                self.draw = _Sobol(free)
            case PriorSource(banks=[]):
                self.draw = _PriorDraw(free, default_prior())
            case PriorSource(banks=banks):
                self.draw = _PriorDraw(free, _prior_from_banks(tuple(banks)))
            case BankSource(banks=banks):
                self.enumerated = tuple(tone for bank in banks for tone in bank.tones)
            case SweepSource():
                key = BY_NAME[source.parameter].key
                self.enumerated = tuple(
                    self.base.replace(**{key: v}) for v in _sweep_values(source)
                )
            case ListSource(tones=tones):
                self.enumerated = tuple(Tone.from_values(v, base=self.base) for v in tones)
        self.length = None if self.draw is not None else len(self.enumerated)

    def _check(self, seed: int, indexes: np.ndarray) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if len(indexes) and indexes.min() < 0:
            raise IndexError(f"sample index must be >= 0, got {int(indexes.min())}")
        if self.length is not None and len(indexes) and indexes.max() >= self.length:
            raise IndexError(
                f"sample index {int(indexes.max())} is past the end of the "
                f"{self.spec.source.kind} source ({self.length} tones: 0..{self.length - 1})"
            )

    def bodies(self, seed: int, indexes: Iterable[int]) -> np.ndarray:
        """Tone bodies as an (n, 59) uint8 array: the batch form, no Tone objects."""
        idx = np.fromiter((int(i) for i in indexes), dtype=np.int64)
        self._check(seed, idx)
        base = _as_array(self.base)
        rows = np.tile(base, (len(idx), 1))
        if self.draw is not None:
            rows[:, self.free_columns] = self.draw.values(seed, idx)
        elif self.spec.vary is None:
            rows = self._enumerated_rows(idx)
        else:
            rows[:, self.free_columns] = self._enumerated_rows(idx)[:, self.free_columns]
        rows[:, self.fixed_columns] = self.fixed_values
        return rows

    def _enumerated_rows(self, idx: np.ndarray) -> np.ndarray:
        rows = np.empty((len(idx), APR_TONE_LENGTH), dtype=np.uint8)
        for row, i in enumerate(idx):
            rows[row] = _as_array(self.enumerated[int(i)])
        return rows

    def tones(self, seed: int, indexes: Iterable[int]) -> list[Tone]:
        return [Tone(row.tobytes()) for row in self.bodies(seed, indexes)]

    def tone(self, seed: int, index: int) -> Tone:
        return self.tones(seed, (index,))[0]


_SAMPLING_FIELDS = frozenset(SamplingSpec.model_fields)
_SAMPLERS: dict[str, Sampler] = {}
_SAMPLERS_LOCK = threading.Lock()
_SAMPLERS_KEPT = 32


def sampler(spec: SamplingSpec) -> Sampler:
    """The compiled sampler of a spec, cached by the content of its sampling fields."""
    key = spec.model_dump_json(include=_SAMPLING_FIELDS)
    with _SAMPLERS_LOCK:
        found = _SAMPLERS.get(key)
    if found is None:
        found = Sampler(spec)
        with _SAMPLERS_LOCK:
            if len(_SAMPLERS) >= _SAMPLERS_KEPT:
                del _SAMPLERS[next(iter(_SAMPLERS))]  # oldest first: dicts keep order
            _SAMPLERS[key] = found
    return found


def tone(spec: SamplingSpec, seed: int, index: int) -> Tone:
    """The tone of sample ``index`` of a job with this spec and seed."""
    return sampler(spec).tone(seed, index)


def tones(spec: SamplingSpec, seed: int, indexes: Iterable[int]) -> list[Tone]:
    """Tones of many samples at once: much faster than one call each."""
    return sampler(spec).tones(seed, indexes)


def source_length(spec: SamplingSpec) -> int | None:
    """Samples a source holds: None for uniform/Sobol/prior, which never run out."""
    return sampler(spec).length
