"""Datasets: freeze a selection of takes with deterministic splits, and export it as a stream.

* ``POST /datasets`` freezes a take filter (as JSON) with split fractions and a seed; a take's
  split is a pure function of (seed, take id), so it never changes.
* ``GET /datasets/{name}/export.tar`` streams a tar of FLAC files with ``dataset.json`` and
  ``parameters.csv`` first (see :mod:`daq.export`). Its bytes are deterministic, so an
  interrupted download resumes with ``Range: bytes=N-`` (with ``If-Range: <ETag>``, a
  changed dataset answers the whole archive instead); ``?start=K`` instead skips the first K
  takes and makes a smaller, complete tar.
* ``GET /datasets/{name}/shards`` describes NPZ shards of features; ``/shards/{i}.npz``
  serves one, built on first request and cached on disk (:mod:`daq.feature_cache`, the
  trainer's format too). Feature configs are those of :mod:`daq.features` (numpy and scipy,
  no torch).
* ``GET /datasets/{name}/webdataset`` describes WebDataset shards (``<take id>.flac`` +
  ``<take id>.json``, see :mod:`daq.export_formats`); ``/webdataset/shard-000000.tar`` ..
  streams one, straight from the store (``webdataset.WebDataset`` reads these URLs).

Reading needs an operator, trainer or admin token; freezing a trainer or admin token.
"""

from __future__ import annotations

import json
import pathlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
from anyio import to_thread
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from daq import export, export_formats
from daq.api.deps import CatalogDep, StoreDep, require
from daq.api.errors import documented
from daq.spec import RIG_NAME
from db.catalog import Catalog
from db.records import DatasetInfo, ParameterRange, TakeFilter, TokenInfo
from db.schema import QcVerdict, Role

router = APIRouter(prefix="/datasets", tags=["datasets"])

Reader = Depends(require(Role.OPERATOR, Role.TRAINER))
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
DatasetName = Annotated[str, Path(pattern=NAME_PATTERN, description="the dataset's name")]
SplitQuery = Annotated[
    str | None,
    Query(pattern=export.SPLIT_NAME.pattern, description="one split; default: every take"),
]
FeatureKind = Literal["stft", "logmel", "auditory"]
#: Shard plans kept per process (one per dataset, split and shard size asked recently).
PLANS_KEPT = 64
#: What one feature shard may hold (what one example may cost is the feature config's rule).
MAX_SHARD_BYTES = 2**30
#: Bytes per write to the socket: fewer, larger pieces cost less per byte (measured: 64 KiB
#: pieces, Starlette's default, halve the shard rate on loopback).
SEND_CHUNK = 1024 * 1024


# -- bodies ----------------------------------------------------------------------------------
class TakeFilterIn(BaseModel):
    """Which takes: every field narrows; leave it out for 'any'."""

    model_config = ConfigDict(extra="forbid")

    job_id: int | None = Field(None, ge=1, le=2**31 - 1)
    rig: str | None = Field(None, pattern=f"^{RIG_NAME.pattern}$")
    qc_verdicts: list[QcVerdict] | None = Field(None, min_length=1)
    recorded_after: datetime | None = Field(None, description="inclusive; aware or UTC")
    recorded_before: datetime | None = Field(None, description="exclusive; aware or UTC")
    parameters: dict[str, tuple[int, int]] = Field(
        default_factory=dict, description="parameter key -> [low, high], raw 0..127 inclusive"
    )
    include_broken: bool = False


class DatasetIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "name": "prior-a4-v1",
                    "filter": {"job_id": 1, "qc_verdicts": ["pass"]},
                    "splits": {"train": 0.8, "validation": 0.1, "test": 0.1},
                    "seed": 0,
                }
            ]
        },
    )

    name: str = Field(pattern=NAME_PATTERN, description="unique; letters, digits, '.', '_', '-'")
    filter: TakeFilterIn = Field(default_factory=TakeFilterIn)
    splits: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1},
        min_length=1,
        max_length=16,
        description="split name -> fraction; fractions >= 0 summing to 1",
    )
    seed: int = Field(0, ge=0, le=2**63 - 1, description="the split assignment's seed")


class DatasetOut(BaseModel):
    id: int
    name: str
    filter: dict[str, Any] = Field(description="the frozen take filter, max_take_id included")
    splits: dict[str, float]
    seed: int
    created_by: str | None
    created_at: datetime
    takes: int | None = Field(description="takes in the dataset (null in lists)")
    counts: dict[str, int] | None = Field(description="takes per split (null in lists)")

    @classmethod
    def from_info(cls, dataset: DatasetInfo, counts: dict[str, int] | None = None) -> DatasetOut:
        return cls(**export.describe_dataset(dataset, counts))


class FeaturesOut(BaseModel):
    kind: str
    hash: str = Field(description="names the feature config in caches")
    config: dict[str, Any]
    shape: list[int] = Field(description="[frames, bins] of one take")
    dtype: str


class ShardIndexOut(BaseModel):
    format: int = Field(description="of the shard set (daq.feature_cache.FORMAT)")
    dataset: str
    split: str | None
    takes: int
    shard_size: int
    shards: int
    selection: str = Field(description="digest of the takes; pass it back with each shard")
    features: FeaturesOut
    arrays: dict[str, str] = Field(description="what each NPZ shard holds")


class WebDatasetIndexOut(BaseModel):
    dataset: str
    split: str | None
    takes: int
    shard_size: int
    shards: int
    selection: str = Field(description="digest of the takes; pass it back with each shard")
    urls: str = Field(description="the shards' names in WebDataset's brace notation")
    members: dict[str, str] = Field(description="what each take contributes to a shard")


# -- helpers ---------------------------------------------------------------------------------
def _invalid(where: tuple[str | int, ...], message: str, value: Any) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": where, "msg": message, "type": "value_error", "input": value}]
    )


def _take_filter(body: TakeFilterIn, catalog: Catalog) -> TakeFilter:
    ranges = []
    for key, (low, high) in body.parameters.items():
        try:
            ranges.append(ParameterRange(key, low, high))
        except (KeyError, ValueError) as error:
            message = error.args[0] if isinstance(error, KeyError) else str(error)
            raise _invalid(("body", "filter", "parameters", key), message, [low, high]) from None
    if body.rig is not None and body.rig not in {rig.name for rig in catalog.list_rigs()}:
        raise _invalid(("body", "filter", "rig"), f"rig {body.rig!r} is not registered", body.rig)
    return TakeFilter(
        job_id=body.job_id,
        rig=body.rig,
        qc_verdicts=tuple(body.qc_verdicts) if body.qc_verdicts else None,
        recorded_after=_utc(body.recorded_after, "recorded_after"),
        recorded_before=_utc(body.recorded_before, "recorded_before"),
        parameters=tuple(ranges),
        include_broken=body.include_broken,
    )


def _utc(value: datetime | None, name: str) -> datetime | None:
    """Times without a zone are UTC."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise _invalid(("body", "filter", name), "time is out of range", str(value)) from None


def _dataset(catalog: Catalog, name: str, split: str | None = None) -> DatasetInfo:
    dataset = catalog.get_dataset(name)  # NotFound -> 404
    try:
        export.check_split(dataset, split)
    except ValueError as error:
        raise _invalid(("query", "split"), str(error), split) from None
    return dataset


def _feature_config(kind: str, overrides: str | None, shard_size: int) -> export.FeatureConfig:
    """The asked-for feature config, refused (422) where it breaks a bound of
    :mod:`daq.features` or one shard would not fit a server."""
    where: tuple[str, ...] = ("query", "feature_config")
    try:
        fields = json.loads(overrides) if overrides else {}
    except json.JSONDecodeError as error:
        raise _invalid(where, f"not JSON: {error}", overrides) from None
    if not isinstance(fields, dict):
        raise _invalid(where, "must be a JSON object", overrides)
    try:
        config: Any = export.load_feature_config(kind, fields)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise _invalid((*where, *first["loc"][1:]), first["msg"], first.get("input")) from None
    frames, bins = config.shape
    shard_bytes = frames * bins * np.dtype(config.dtype).itemsize * shard_size
    if shard_bytes > MAX_SHARD_BYTES:
        message = f"a shard would hold {shard_bytes / 2**20:.0f} MiB; at most 1024 MiB"
        raise _invalid(("query", "shard_size"), message, shard_size)
    return config


class _Plans:
    """Recent shard plans, so a shard request does not walk the selection again."""

    def __init__(self) -> None:
        self._plans: OrderedDict[tuple[int, str | None, int], export.ShardPlan] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, catalog: Catalog, dataset: DatasetInfo, split: str | None, size: int, fresh: bool
    ) -> export.ShardPlan:
        key = (dataset.id, split, size)
        with self._lock:
            plan = None if fresh else self._plans.get(key)
        if plan is None:
            plan = export.plan_shards(catalog, dataset, split, size)
        with self._lock:
            self._plans[key] = plan
            self._plans.move_to_end(key)
            while len(self._plans) > PLANS_KEPT:
                self._plans.popitem(last=False)
        return plan


def _plans(request: Request) -> _Plans:
    state = request.app.state
    if not hasattr(state, "shard_plans"):
        state.shard_plans = _Plans()
    return state.shard_plans


def _shard_plan(
    request: Request,
    catalog: Catalog,
    dataset: DatasetInfo,
    split: str | None,
    shard_size: int,
    selection: str | None,
    index: int,
) -> export.ShardPlan:
    """The plan shard ``index`` is cut from: 409 if the selection the client's index named has
    changed since, 404 past the last shard."""
    plans = _plans(request)
    plan = plans.get(catalog, dataset, split, shard_size, fresh=False)
    if selection is not None and plan.digest != selection:
        plan = plans.get(catalog, dataset, split, shard_size, fresh=True)
        if plan.digest != selection:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"dataset {dataset.name!r} changed since its shard index was read (a take was "
                "repaired away); read the index again",
            )
    if not 0 <= index < plan.shards:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"dataset {dataset.name!r} has {plan.shards} shards of {shard_size}; "
            f"there is no shard {index}",
        )
    return plan


def _shard_cache(request: Request) -> export.ShardCache:
    return export.ShardCache(request.app.state.settings.var_dir / "export-cache")


class _ShardFile(FileResponse):
    chunk_size = SEND_CHUNK


def _coalesced(chunks: Iterator[bytes], size: int = SEND_CHUNK) -> Iterator[bytes]:
    """The same bytes in pieces of at least ``size`` (the last one may be shorter)."""
    pending: list[bytes] = []
    pending_bytes = 0
    for chunk in chunks:
        pending.append(chunk)
        pending_bytes += len(chunk)
        if pending_bytes >= size:
            yield b"".join(pending)
            pending, pending_bytes = [], 0
    if pending:
        yield b"".join(pending)


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


#: Positions with more digits are past any archive (and ``int()`` refuses thousands of digits).
_MAX_DIGITS = 18


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a single-range ``Range`` header; None: send everything.
    A range no byte of the archive satisfies (``bytes=-0`` too) is a 416."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None  # absent, several ranges or another unit: RFC 9110 lets us ignore it
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(size - _position(last), 0), size
    else:
        start = _position(first)
        end = size if last == "" else min(_position(last) + 1, size)
    if start >= size or end <= start:
        raise HTTPException(
            status.HTTP_416_RANGE_NOT_SATISFIABLE,
            f"range {header[:60]!r} is outside the archive's {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


# -- routes ----------------------------------------------------------------------------------
@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetOut,
    responses=documented(409),
    summary="Freeze a dataset",
)
def freeze(
    body: DatasetIn,
    catalog: CatalogDep,
    token: Annotated[TokenInfo, Depends(require(Role.TRAINER))],
) -> DatasetOut:
    """Freeze the takes matching ``filter`` now (later takes never join) with deterministic
    splits; 409 if the name is taken, 422 naming the field for a bad filter or split."""
    for split in body.splits:
        if not export.SPLIT_NAME.fullmatch(split):
            message = "a split name is 1..32 letters, digits, '_' or '-'"
            raise _invalid(("body", "splits", split), message, split)
    filters = _take_filter(body.filter, catalog)
    if catalog.list_datasets_named(body.name):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"dataset {body.name!r} already exists; datasets are frozen, pick a new name",
        )
    try:
        dataset = catalog.freeze_dataset(
            body.name, filters, body.splits, seed=body.seed, created_by=token.name
        )
    except ValueError as error:  # fractions, or a concurrent freeze of the same name
        if "already exists" in str(error):
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        raise _invalid(("body", "splits"), str(error), body.splits) from None
    return DatasetOut.from_info(dataset, export.split_counts(catalog, dataset))


@router.get("", response_model=list[DatasetOut], responses=documented(), dependencies=[Reader])
def list_datasets(catalog: CatalogDep) -> list[DatasetOut]:
    """Every dataset, oldest first (without counts: ask for one dataset to count it)."""
    return [DatasetOut.from_info(dataset) for dataset in catalog.list_datasets()]


@router.get(
    "/{name}",
    response_model=DatasetOut,
    responses=documented(404),
    dependencies=[Reader],
    summary="A dataset with its counts per split",
)
def get_dataset(name: DatasetName, catalog: CatalogDep) -> DatasetOut:
    dataset = _dataset(catalog, name)
    return DatasetOut.from_info(dataset, export.split_counts(catalog, dataset))


@router.get(
    "/{name}/export.tar",
    response_class=Response,
    responses={
        **documented(404),
        200: {
            "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}},
            "description": "dataset.json, parameters.csv, then <split>/<take id>.flac",
        },
        206: {"description": "The bytes a Range header asked for"},
        304: {"description": "The archive still has the ETag given in If-None-Match"},
        416: {"description": "The range is outside the archive"},
    },
    dependencies=[Reader],
    summary="Export a dataset as a tar of FLAC files and a parameters table",
)
def export_tar(
    name: DatasetName,
    catalog: CatalogDep,
    store: StoreDep,
    split: SplitQuery = None,
    start: Annotated[int, Query(ge=0, description="skip the first takes of the selection")] = 0,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Streamed member by member: memory stays bounded whatever the dataset's size. The same
    request always gets the same bytes, so ``Range: bytes=N-`` resumes a download; send
    ``If-Range`` with the ETag to get the whole archive if the dataset changed, and
    ``If-None-Match`` to learn (304) that a copy pulled before is still current."""
    dataset = _dataset(catalog, name, split)
    plan = export.plan_tar(catalog, store, dataset, split, start)
    etag = f'"{plan.etag}"'
    if if_none_match is not None and etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    wanted = _byte_range(range_header, plan.size) if if_range in (None, etag) else None
    first, end = wanted or (0, plan.size)
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - first),
        "Content-Disposition": f'attachment; filename="{name}-{split or "all"}.tar"',
        "X-Dataset-Takes": str(plan.takes),
    }
    if wanted is not None:
        headers["Content-Range"] = f"bytes {first}-{end - 1}/{plan.size}"
    return StreamingResponse(
        _coalesced(export.tar_stream(catalog, store, plan, first, end)),
        status_code=status.HTTP_206_PARTIAL_CONTENT if wanted else status.HTTP_200_OK,
        media_type="application/x-tar",
        headers=headers,
    )


ShardSize = Annotated[int, Query(ge=1, le=export.MAX_SHARD_SIZE, description="takes per shard")]
SelectionQuery = Annotated[
    str | None, Query(pattern=r"^[0-9a-f]{64}$", description="the index's selection")
]
FeaturesQuery = Annotated[FeatureKind, Query(description="a daq.features kind")]
FeatureConfigQuery = Annotated[
    str | None,
    Query(
        max_length=2000,
        description='JSON object of feature config fields, e.g. {"duration_s": 2}',
    ),
]


@router.get(
    "/{name}/shards",
    response_model=ShardIndexOut,
    responses=documented(404),
    dependencies=[Reader],
    summary="The NPZ feature shards of a dataset",
)
def shard_index(
    name: DatasetName,
    request: Request,
    catalog: CatalogDep,
    split: SplitQuery = None,
    shard_size: ShardSize = export.SHARD_SIZE,
    features: FeaturesQuery = export.FEATURES,
    feature_config: FeatureConfigQuery = None,
) -> ShardIndexOut:
    """How many shards, what each holds, and the selection digest that names them."""
    config = _feature_config(features, feature_config, shard_size)
    dataset = _dataset(catalog, name, split)
    plan = _plans(request).get(catalog, dataset, split, shard_size, fresh=True)
    return ShardIndexOut(**export.describe_shards(plan, config))


@router.get(
    "/{name}/shards/{index}.npz",
    response_class=FileResponse,
    responses={
        **documented(404, 409),
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            "description": "One NPZ shard (see the index for its arrays)",
        },
    },
    dependencies=[Reader],
    summary="One NPZ shard of features",
)
async def shard(
    name: DatasetName,
    index: Annotated[int, Path(ge=0, le=2**31 - 1)],
    request: Request,
    catalog: CatalogDep,
    store: StoreDep,
    split: SplitQuery = None,
    shard_size: ShardSize = export.SHARD_SIZE,
    features: FeaturesQuery = export.FEATURES,
    feature_config: FeatureConfigQuery = None,
    selection: SelectionQuery = None,
) -> FileResponse:
    """Takes ``index * shard_size ..`` of the selection; built once, then served from disk.

    A build can take minutes, so it runs on the API's build threads, never on the threads
    that answer every other request."""
    config = _feature_config(features, feature_config, shard_size)

    def build() -> tuple[pathlib.Path, export.ShardPlan]:
        dataset = _dataset(catalog, name, split)
        plan = _shard_plan(request, catalog, dataset, split, shard_size, selection, index)
        try:
            return _shard_cache(request).get(catalog, store, plan, config, index), plan
        except ValueError as error:  # takes at another sample rate than the features expect
            raise _invalid(("query", "feature_config", "sample_rate"), str(error), None) from None

    path, plan = await to_thread.run_sync(build, limiter=request.app.state.builds)
    return _ShardFile(
        path,
        media_type="application/octet-stream",
        filename=f"{name}-{split or 'all'}-{index:06d}.npz",
        headers={"X-Shard-Takes": str(min(shard_size, plan.takes - index * shard_size))},
    )


@router.get(
    "/{name}/webdataset",
    response_model=WebDatasetIndexOut,
    responses=documented(404),
    dependencies=[Reader],
    summary="The WebDataset shards of a dataset",
)
def webdataset_index(
    name: DatasetName,
    request: Request,
    catalog: CatalogDep,
    split: SplitQuery = None,
    shard_size: ShardSize = export.SHARD_SIZE,
) -> WebDatasetIndexOut:
    """How many shards (``shard-{000000..N}.tar`` under this path) and the selection digest."""
    dataset = _dataset(catalog, name, split)
    plan = _plans(request).get(catalog, dataset, split, shard_size, fresh=True)
    return WebDatasetIndexOut(**export_formats.describe_webdataset(plan))


@router.get(
    "/{name}/webdataset/shard-{index}.tar",
    response_class=StreamingResponse,
    responses={
        **documented(404, 409),
        200: {
            "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}},
            "description": "<take id>.json and <take id>.flac of each take of the shard",
        },
    },
    dependencies=[Reader],
    summary="One WebDataset shard",
)
def webdataset_shard(
    name: DatasetName,
    index: Annotated[int, Path(ge=0, le=2**31 - 1)],
    request: Request,
    catalog: CatalogDep,
    store: StoreDep,
    split: SplitQuery = None,
    shard_size: ShardSize = export.SHARD_SIZE,
    selection: SelectionQuery = None,
) -> StreamingResponse:
    """Takes ``index * shard_size ..`` of the selection, streamed one take at a time."""
    dataset = _dataset(catalog, name, split)
    plan = _shard_plan(request, catalog, dataset, split, shard_size, selection, index)
    name = export_formats.shard_file_name(index)
    return StreamingResponse(
        _coalesced(export_formats.webdataset_shard(catalog, store, plan, index)),
        media_type="application/x-tar",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Shard-Takes": str(min(shard_size, plan.takes - index * shard_size)),
        },
    )
