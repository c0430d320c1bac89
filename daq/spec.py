"""What an operator submits: the job spec (parameter source, notes, durations, count, rigs).

The REST API and ``jxdaq job submit spec.toml`` both validate through :func:`validate_spec`,
so a bad spec is rejected the same way everywhere, with the field and the allowed values
named. Types are strict (JSON and TOML alike): ``count = true``, ``"5"`` or ``5.0`` is an
error, never a number. Tone values are raw bytes 0..127 as in a tone dump, or a switch label
(``"saw"``); sweeps step switches by position.

A job is self-contained: a ``.syx`` bank is held in the spec as its bytes (:class:`Bank`),
read once at submit from where the caller allows (:mod:`daq.banks`: any path for the CLI,
relative to the spec file; the banks directory for the API) or uploaded with it. Sample i
is then a pure function of the spec, whatever happens to the file later. What a spec may
hold is bounded (the ``MAX_*`` limits below), so no spec can make a job row, a page or a
sampler grow without end.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import re
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

from daq.banks import MAX_BANK_NAME, MAX_SYX_BYTES, BankFiles, LocalFiles, bank_tones
from db.records import JOB_FACTS
from firmware_protocol.parameters import BY_NAME, MAX_VALUE, TONE_PARAMETERS, ToneParameter, lookup
from firmware_protocol.tone import INIT_TONE, Tone

#: scipy's Sobol engine (default 30 bits) yields at most 2**30 points.
SOBOL_MAX_POINTS = 2**30
MAX_SEED = 2**63 - 1
#: The catalog counts a job's samples in a 32-bit integer column.
MAX_COUNT = 2**31 - 1
#: A job's priority, at submit and when changed: higher runs first.
MIN_PRIORITY, MAX_PRIORITY = -100, 100
Priority = Annotated[int, Field(ge=MIN_PRIORITY, le=MAX_PRIORITY, description="higher runs first")]
# What one spec may hold (each breach is an error naming the field and the limit):
#: tones of a list source, and values or steps of a sweep;
MAX_ENUMERATED = 10_000
#: .syx banks of a source (each at most daq.banks.MAX_SYX_BYTES);
MAX_BANKS = 16
#: notes of a melody;
MAX_NOTES = 128
#: characters of a job's name;
MAX_NAME = 200
#: rig names a job may be limited to;
MAX_RIGS = 64
#: values in one tone table (fixed, base values, a list tone), parameters in ``vary``.
MAX_VALUES = len(TONE_PARAMETERS)

ToneValue = StrictInt | str
ToneValues = Annotated[dict[str, ToneValue], Field(max_length=MAX_VALUES)]

#: Names (of jobs, tokens, banks) and reasons are printable text: no control characters
#: (PostgreSQL refuses NUL; the others garble logs and pages). The one rule, for the API too.
PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    found = _CONTROL.search(text)
    if found:
        raise ValueError(
            f"control character U+{ord(found.group()):04X} at position {found.start()} "
            "is not allowed"
        )
    return text


Printable = Annotated[str, AfterValidator(_printable)]


class SpecError(ValueError):
    """A job spec that cannot be used, with every problem and where it is."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


def _an_integer(value: object) -> object:
    """Strict types let a bool or a float through a ``Literal`` of ints (True == 1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Input should be an integer, got {type(value).__name__}")
    return value


# -- tone values -------------------------------------------------------------------------
def parameter_named(name: str) -> ToneParameter:
    """The tone parameter called ``name``, or an error that suggests the closest names."""
    try:
        return lookup(name)
    except KeyError:
        close = difflib.get_close_matches(name.upper(), BY_NAME, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise ValueError(
            f"unknown tone parameter {name!r}{hint}; known: {', '.join(BY_NAME)}"
        ) from None


def raw_value(parameter: ToneParameter, value: int | str) -> int:
    """A raw byte 0..127, or a switch label turned into its stock byte."""
    if isinstance(value, str):
        if value in parameter.labels:
            return parameter.canonical(parameter.labels.index(value))
        labels = f"labels {', '.join(parameter.labels)} or " if parameter.labels else ""
        raise ValueError(
            f"{parameter.name} = {value!r} is not a value; allowed {labels}{parameter.allowed()}"
        )
    if not 0 <= value <= MAX_VALUE:
        raise ValueError(
            f"{parameter.name} = {value} is out of range; allowed {parameter.allowed()}"
        )
    return value


def raw_values(values: Mapping[str, int | str]) -> dict[str, int]:
    """``{name or key: value}`` checked and keyed by panel name."""
    out: dict[str, int] = {}
    for key, value in values.items():
        parameter = parameter_named(key)
        if parameter.name in out:
            raise ValueError(f"{parameter.name} is given twice (as {key!r} too)")
        out[parameter.name] = raw_value(parameter, value)
    return out


#: Base64 characters of the largest bank.
_MAX_BASE64 = 4 * -(-MAX_SYX_BYTES // 3)


class Bank(_Model):
    """A ``.syx`` bank as a job holds it: a name for people, the file's bytes (base64) and,
    computed from them, their sha256. Submit it as ``{name, base64}`` (a ``sha256`` given
    too must match the bytes), or as a string: a file the submitter may name (the CLI: a
    path; the API: a file in the server's banks directory), read once, at submit.
    """

    name: Printable = Field(max_length=MAX_BANK_NAME, description="the file's name")
    base64: str = Field(
        max_length=_MAX_BASE64,
        description=f"the .syx file's bytes, base64 (at most {MAX_SYX_BYTES} bytes)",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_named(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, str):
            files: BankFiles | None = (info.context or {}).get("banks")  # validate_spec's
            if files is None:
                raise ValueError(
                    "a bank named by a file cannot be read here: upload it as {name, base64}"
                )
            name, content = files.read(data)
            return {"name": name, "base64": base64.b64encode(content).decode("ascii")}
        if isinstance(data, Mapping) and "sha256" in data:
            data = dict(data)
            claimed = data.pop("sha256")
            digest = _sha256(data["base64"]) if isinstance(data.get("base64"), str) else None
            if digest is not None and claimed != digest:
                raise ValueError("sha256 does not match the bank's bytes")
        return data

    @field_validator("base64")
    @classmethod
    def _decodes(cls, text: str) -> str:
        try:
            base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not base64 (RFC 4648, with padding)") from None
        return text

    @model_validator(mode="after")
    def _has_tones(self) -> Bank:
        _ = self.tones
        return self

    @cached_property
    def data(self) -> bytes:
        return base64.b64decode(self.base64)

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def tones(self) -> tuple[Tone, ...]:
        """Every tone of the bank in file order."""
        return bank_tones(self.data, self.name)

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "tone_count": len(self.tones)}


def _sha256(text: str) -> str | None:
    try:
        return hashlib.sha256(base64.b64decode(text, validate=True)).hexdigest()
    except (binascii.Error, ValueError):
        return None  # the field's own check names the problem


class BaseTone(_Model):
    """The tone that sweeps, explicit lists and locked parameters start from."""

    bank: Bank | None = Field(None, description="a .syx bank; default: the INIT tone")
    index: int = Field(0, ge=0, description="position of the tone in the bank, from 0")
    values: ToneValues = Field(default_factory=dict)

    @field_validator("values")
    @classmethod
    def _values_in_range(cls, values: dict[str, int | str]) -> dict[str, int]:
        return raw_values(values)

    @model_validator(mode="after")
    def _index_in_bank(self) -> BaseTone:
        if self.bank is not None:
            count = len(self.bank.tones)
            if self.index >= count:
                raise ValueError(
                    f"index {self.index} is past the end of {self.bank.name} "
                    f"({count} tones: allowed 0..{count - 1})"
                )
        return self

    def tone(self) -> Tone:
        """The base tone itself: the bank's tone (or INIT) with ``values`` on top."""
        tone = INIT_TONE if self.bank is None else self.bank.tones[self.index]
        return Tone.from_values(self.values, base=tone)


# -- parameter sources -------------------------------------------------------------------
class UniformSource(_Model):
    """Every free parameter uniform over its range (switches uniform over positions)."""

    kind: Literal["uniform"]


class SobolSource(_Model):
    """A scrambled Sobol sequence over the free parameters: even coverage for small jobs."""

    kind: Literal["sobol"]


class PriorSource(_Model):
    """The preset prior: a normal fitted to real tones (default: the shipped JX-8P banks)."""

    kind: Literal["prior"]
    banks: list[Bank] = Field(
        default_factory=list, max_length=MAX_BANKS, description="fit from these .syx banks"
    )


class BankSource(_Model):
    """Every tone of one or more ``.syx`` banks, in file order."""

    kind: Literal["bank"]
    banks: list[Bank] = Field(min_length=1, max_length=MAX_BANKS)


class SweepSource(_Model):
    """One parameter through a list or an even range of values, the rest from the base tone.

    Values are raw 0..127 for continuous parameters and positions 0..N-1 for switches. A
    range runs from ``start`` to ``stop`` inclusive in ``steps`` values (default: every one).
    """

    kind: Literal["sweep"]
    parameter: str
    values: list[StrictInt] | None = Field(None, min_length=1, max_length=MAX_ENUMERATED)
    start: StrictInt | None = None
    stop: StrictInt | None = None
    steps: StrictInt | None = Field(None, ge=2, le=MAX_ENUMERATED)

    @field_validator("parameter")
    @classmethod
    def _known(cls, name: str) -> str:
        return parameter_named(name).name

    @model_validator(mode="after")
    def _values_in_range(self) -> SweepSource:
        top = self.top()
        if self.values is not None:
            if any(v is not None for v in (self.start, self.stop, self.steps)):
                raise ValueError("give either values or start/stop/steps, not both")
            bad = [v for v in self.values if not 0 <= v <= top]
            if bad:
                raise ValueError(f"values {bad} out of range for {self.parameter}; {self._unit()}")
        for field in ("start", "stop"):
            value = getattr(self, field)
            if value is not None and not 0 <= value <= top:
                raise ValueError(f"{field} = {value} is out of range; {self._unit()}")
        return self

    def top(self) -> int:
        """The largest sweep value: the last switch position, or 127."""
        parameter = BY_NAME[self.parameter]
        return parameter.ways - 1 if parameter.is_switch else MAX_VALUE

    def _unit(self) -> str:
        parameter = BY_NAME[self.parameter]
        if parameter.is_switch:
            return f"allowed positions 0..{self.top()} ({', '.join(parameter.labels)})"
        return f"allowed 0..{MAX_VALUE}"


class ListSource(_Model):
    """Explicit tones as value dicts on the base tone: how trainers ask for resynthesis."""

    kind: Literal["list"]
    tones: list[ToneValues] = Field(min_length=1, max_length=MAX_ENUMERATED)

    @field_validator("tones")
    @classmethod
    def _values_in_range(cls, tones: list[dict[str, int | str]]) -> list[dict[str, int]]:
        checked = []
        for i, values in enumerate(tones):
            try:
                checked.append(raw_values(values))
            except ValueError as error:
                raise ValueError(f"tones[{i}]: {error}") from None
        return checked


ParameterSource = Annotated[
    UniformSource | SobolSource | PriorSource | BankSource | SweepSource | ListSource,
    Field(discriminator="kind"),
]
UNBOUNDED_KINDS = ("uniform", "sobol", "prior")


class SamplingSpec(_Model):
    """Everything that decides sample i's tone (with the seed): see :mod:`daq.sampling`."""

    source: ParameterSource
    base: BaseTone = Field(default_factory=BaseTone)
    fixed: ToneValues = Field(
        default_factory=dict, description="parameter -> value held in every tone"
    )
    vary: list[str] | None = Field(
        None,
        max_length=MAX_VALUES,
        description="vary only these parameters; the others are locked to the base tone",
    )

    @field_validator("fixed")
    @classmethod
    def _fixed_in_range(cls, fixed: dict[str, int | str]) -> dict[str, int]:
        return raw_values(fixed)

    @field_validator("vary")
    @classmethod
    def _vary_known(cls, vary: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if vary is None:
            return None
        names = [parameter_named(name).name for name in vary]
        if not names:
            raise ValueError("vary must name at least one parameter (leave it out to vary all)")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"parameters named twice: {', '.join(twice)}")
        both = sorted(set(names) & set(info.data.get("fixed", ())))
        if both:
            raise ValueError(f"parameters both varied and fixed: {', '.join(both)}")
        return names


# -- notes and durations -----------------------------------------------------------------
#: Slack when checking that notes fit the hold, so that e.g. 0.1 + 0.2 s fits a 0.3 s hold.
TIME_TOLERANCE_S = 1e-9


class Note(_Model):
    """One note of a take; times are from the end of the pre-roll."""

    key: int = Field(69, ge=0, le=127, description="MIDI key; 69 = A4 = 440 Hz")
    velocity: int = Field(100, ge=1, le=127)
    start_s: float = Field(0.0, ge=0.0)
    duration_s: float | None = Field(None, gt=0.0, description="default: to the end of hold")


class TailSpec(_Model):
    """The release tail after the hold: stop at silence or at ``max_s``, whichever first."""

    silence_db: float | None = Field(
        -60.0, ge=-120.0, le=0.0, description="dBFS; None records the whole max_s"
    )
    max_s: float = Field(2.0, ge=0.0, le=60.0)


class CaptureSpec(_Model):
    """How one take is played and recorded."""

    sample_rate: Annotated[Literal[44100, 48000, 96000], BeforeValidator(_an_integer)] = 44100
    channels: Annotated[Literal[1, 2], BeforeValidator(_an_integer)] = 1
    settle_s: float = Field(0.05, ge=0.0, le=10.0, description="after programming the tone")
    pre_roll_s: float = Field(0.1, ge=0.0, le=5.0, description="recorded before the notes")
    hold_s: float = Field(4.0, gt=0.0, le=600.0, description="time the notes play in")
    tail: TailSpec = Field(default_factory=TailSpec)
    notes: list[Note] = Field(default_factory=lambda: [Note()], min_length=1, max_length=MAX_NOTES)

    @field_validator("notes", mode="before")
    @classmethod
    def _one_note_or_melody(cls, notes: object) -> object:
        """``notes = 69`` or one table is a single note; a list is a melody."""
        if isinstance(notes, int) and not isinstance(notes, bool):
            return [{"key": notes}]
        return [notes] if isinstance(notes, Mapping | Note) else notes

    @field_validator("notes")
    @classmethod
    def _within_hold(cls, notes: list[Note], info: ValidationInfo) -> list[Note]:
        hold = info.data.get("hold_s")
        if hold is None:  # hold_s itself was invalid; that error is reported already
            return notes
        resolved = []
        for i, note in enumerate(notes):
            if note.start_s >= hold:
                raise ValueError(
                    f"notes[{i}].start_s = {note.start_s} s is not within the hold "
                    f"(hold_s = {hold} s); allowed 0 <= start_s < hold_s"
                )
            end = note.start_s + (note.duration_s or hold - note.start_s)
            if end > hold + TIME_TOLERANCE_S:
                raise ValueError(
                    f"notes[{i}] ends at {end:g} s, after the hold (hold_s = {hold} s); "
                    f"allowed duration_s <= {hold - note.start_s:g}"
                )
            resolved.append(note.model_copy(update={"duration_s": end - note.start_s}))
        return resolved

    @property
    def max_take_s(self) -> float:
        """The longest a take can be: pre-roll, hold and the whole tail."""
        return self.pre_roll_s + self.hold_s + self.tail.max_s


# -- the job -----------------------------------------------------------------------------
RIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class JobSpec(SamplingSpec):
    """A capture job: which tones, how to play and record them, how many, where."""

    name: Printable = Field("job", max_length=MAX_NAME)
    capture: CaptureSpec = Field(default_factory=CaptureSpec)
    count: int | None = Field(
        None,
        ge=1,
        le=MAX_COUNT,
        validate_default=True,  # an unbounded source needs one
        description="samples in the job (each captured as a take, or failed); default: the "
        "whole of a bank/sweep/list. Always set once validated",
    )
    seed: int = Field(0, ge=0, le=MAX_SEED)
    priority: Priority = 0
    rigs: str | list[str] = Field("any", description=f"rig names (at most {MAX_RIGS}), or 'any'")

    @field_validator("rigs")
    @classmethod
    def _any_or_names(cls, rigs: str | list[str]) -> str | list[str]:
        if isinstance(rigs, str):
            if rigs != "any":
                raise ValueError(f"rigs = {rigs!r}: give 'any' or a list of rig names")
            return rigs
        if not rigs:
            raise ValueError("rigs is an empty list: give 'any' or at least one rig name")
        if len(rigs) > MAX_RIGS:
            raise ValueError(f"{len(rigs)} rig names; allowed at most {MAX_RIGS}")
        for i, name in enumerate(rigs):
            if not RIG_NAME.fullmatch(name):
                raise ValueError(
                    f"rigs[{i}] = {name!r}: a rig name is 1..64 letters, digits, '_', '.' or '-'"
                )
        return rigs

    @field_validator("count")
    @classmethod
    def _count_fits_source(cls, count: int | None, info: ValidationInfo) -> int | None:
        sampling_fields = {name: info.data.get(name) for name in SamplingSpec.model_fields}
        if any(value is None for name, value in sampling_fields.items() if name != "vary"):
            return count  # the source itself is invalid; that error is reported already
        from daq.sampling import source_length

        kind = sampling_fields["source"].kind
        length = source_length(SamplingSpec.model_construct(**sampling_fields))
        if length is None and count is None:
            raise ValueError(
                f"count is required for the {kind} source, which never runs out; "
                "give a positive number of samples"
            )
        if kind == "sobol" and (count or 0) > SOBOL_MAX_POINTS:
            raise ValueError(f"count = {count} is past the Sobol limit of 2**30 points")
        if length is not None and count is not None and count > length:
            raise ValueError(
                f"count = {count} is more than the {kind} source holds; allowed 1..{length}"
            )
        return count

    @model_validator(mode="after")
    def _whole_source_by_default(self) -> Self:
        """No count: the whole of the (bounded) source, so a validated spec always says it."""
        if self.count is None:
            from daq.sampling import source_length

            length = source_length(self)
            assert length is not None  # guaranteed by _count_fits_source
            object.__setattr__(self, "count", length)
        return self

    def body(self) -> dict[str, Any]:
        """The spec without the job's own facts (:data:`db.records.JOB_FACTS`: name, count,
        seed, priority, rigs), which a job stores once, as its row's columns."""
        return self.model_dump(mode="json", exclude=set(JOB_FACTS))


def format_errors(error: ValidationError) -> str:
    """One line per problem: ``capture.notes.0.key: Input should be ... (got 200)``."""
    lines = []
    for e in error.errors(include_url=False):
        where = ".".join(str(part) for part in e["loc"]) or "spec"
        message = e["msg"].removeprefix("Value error, ")
        shown = e.get("input")
        got = f" (got {shown!r})" if e["type"] != "value_error" and _is_scalar(shown) else ""
        lines.append(f"  {where}: {message}{got}")
    return "\n".join(lines)


def _is_scalar(value: object) -> bool:
    return isinstance(value, int | float | str | bool)


def validate_spec(data: object, banks: BankFiles | None = None) -> JobSpec:
    """The one validation of a submitted spec (API and CLI): ``banks`` reads the ``.syx``
    files the spec names (none: banks must be uploaded in it). Raises ``ValidationError``."""
    return JobSpec.model_validate(data, context={"banks": banks})


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate a TOML job spec; every error names the file and the field. Bank
    paths in it are relative to its folder."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SpecError(f"{path}: cannot read the spec: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SpecError(f"{path}: not valid TOML: {error}") from None
    try:
        return validate_spec(data, LocalFiles(path.parent))
    except ValidationError as error:
        raise SpecError(describe_errors(error, str(path))) from None


def describe_errors(error: ValidationError, where: str) -> str:
    """One line for one problem (``job.toml: source.sweep.steps: Input should be ...``),
    else a count and one line per problem."""
    count = error.error_count()
    if count == 1:
        return f"{where}: {format_errors(error).strip()}"
    return f"{where}: {count} errors in the job spec\n" + format_errors(error)


#: Lists longer than this are shown by their length in a spec's summary.
SUMMARY_ITEMS = 16


def summary(spec: JobSpec) -> dict[str, Any]:
    """The spec as job lists and pages show it: a bank as its name, sha256 and tone count,
    a list of more than :data:`SUMMARY_ITEMS` tones or sweep values as its length. Small
    whatever the spec holds; the spec itself is kept beside it (``Catalog.get_job_spec``).
    Like :meth:`JobSpec.body`, without the job's own facts."""
    data = spec.body()
    if spec.base.bank is not None:
        data["base"]["bank"] = spec.base.bank.summary()
    source, shown = spec.source, data["source"]
    if isinstance(source, BankSource | PriorSource):
        shown["banks"] = [bank.summary() for bank in source.banks]
    if isinstance(source, ListSource) and len(source.tones) > SUMMARY_ITEMS:
        shown["tones"] = f"{len(source.tones)} tones"
    if isinstance(source, SweepSource) and len(source.values or ()) > SUMMARY_ITEMS:
        shown["values"] = f"{len(source.values or ())} values"
    return data
