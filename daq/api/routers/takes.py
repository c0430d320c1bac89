"""Takes: keyset-paginated queries, one take's metadata, its audio (FLAC or WAV) and its
spectrogram (PNG).

A query narrows by job, rig, QC verdict, recording time and tone parameter ranges, given as
``p_<parameter key>=LOW..HIGH`` (raw values 0..127, inclusive; ``p_vcf_freq=64`` is one
value). Pages walk take ids upwards: pass ``next_cursor`` back as ``cursor``.

Audio is content-addressed, so its ETag is its sha256 and a client's cached copy is
answered with 304.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from daq.api import media
from daq.api.deps import CatalogDep, StoreDep, require
from daq.api.errors import documented
from daq.api.schemas import Page, TakeOut
from daq.spec import RIG_NAME
from db.reads import MAX_PAGE
from db.records import ParameterRange, TakeFilter, decode_cursor
from db.schema import QcVerdict, Role
from firmware_protocol.parameters import MAX_VALUE, TONE_PARAMETERS

router = APIRouter(
    prefix="/takes",
    tags=["takes"],
    dependencies=[Depends(require(Role.OPERATOR, Role.TRAINER))],
)

MAX_ID = 2**63 - 1  # take ids are 64-bit
TakeId = Annotated[int, Path(ge=1, le=MAX_ID, description="the take's id")]
RANGE_PATTERN = r"^\d{1,3}(\.\.\d{1,3})?$"
IMMUTABLE = "private, max-age=31536000, immutable"


def _invalid(where: tuple[str, str], message: str, value: Any) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": where, "msg": message, "type": "value_error", "input": value}]
    )


async def _parameter_ranges(**ranges: str | None) -> tuple[ParameterRange, ...]:
    out = []
    for name, text in ranges.items():
        if text is None:
            continue
        low, _, high = text.partition("..")
        try:
            out.append(ParameterRange(name.removeprefix("p_"), int(low), int(high or low)))
        except ValueError as error:
            raise _invalid(("query", name), str(error), text) from None
    return tuple(out)


# One declared query parameter per tone parameter, so the OpenAPI schema lists them all.
_parameter_ranges.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter(
            f"p_{p.key}",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                str | None,
                Query(
                    pattern=RANGE_PATTERN,
                    description=f"{p.name}: raw value range LOW..HIGH within 0..{MAX_VALUE}",
                    examples=["10..90"],
                ),
            ],
        )
        for p in TONE_PARAMETERS
    ]
)


def _utc(value: datetime | None, name: str) -> datetime | None:
    """Times without a zone are UTC."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise _invalid(("query", name), "time is out of range", value.isoformat()) from None


async def take_filter(
    parameters: Annotated[tuple[ParameterRange, ...], Depends(_parameter_ranges)],
    job: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="job id")] = None,
    rig: Annotated[str | None, Query(pattern=f"^{RIG_NAME.pattern}$")] = None,
    qc: Annotated[list[QcVerdict] | None, Query(description="QC verdicts (repeat)")] = None,
    recorded_after: Annotated[datetime | None, Query(description="inclusive")] = None,
    recorded_before: Annotated[datetime | None, Query(description="exclusive")] = None,
    include_broken: bool = False,
) -> TakeFilter:
    """The query string as a catalog :class:`TakeFilter` (the datasets router reuses it).
    Async, as the dependencies that do no I/O are: FastAPI runs a plain ``def`` dependency on
    its thread pool, a hop that costs more than the work."""
    return TakeFilter(
        job_id=job,
        rig=rig,
        qc_verdicts=tuple(qc) if qc else None,
        recorded_after=_utc(recorded_after, "recorded_after"),
        recorded_before=_utc(recorded_before, "recorded_before"),
        parameters=parameters,
        include_broken=include_broken,
    )


def _check_cursor(cursor: str) -> None:
    """A cursor must be one the catalog made (and so name a take id the database can hold)."""
    try:
        take_id = decode_cursor(cursor)
    except ValueError as error:
        raise _invalid(("query", "cursor"), str(error), cursor) from None
    if not 0 <= take_id <= MAX_ID:
        message = f"cursor {cursor!r} is not one this catalog returned"
        raise _invalid(("query", "cursor"), message, cursor)


@router.get("", response_model=Page[TakeOut], responses=documented(404), summary="Query takes")
def query_takes(
    catalog: CatalogDep,
    filters: Annotated[TakeFilter, Depends(take_filter)],
    cursor: Annotated[str | None, Query(max_length=64, description="a next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Page[TakeOut]:
    """Takes in id order that match every filter given (404 names an unknown rig)."""
    if cursor is not None:
        _check_cursor(cursor)
    page = catalog.query_takes(filters, after=cursor, limit=limit)
    return Page[TakeOut](
        items=[TakeOut.from_info(take) for take in page.items], next_cursor=page.next_cursor
    )


@router.get("/{take_id}", response_model=TakeOut, responses=documented(404), summary="One take")
def get_take(take_id: TakeId, catalog: CatalogDep) -> TakeOut:
    return TakeOut.from_info(catalog.get_take(take_id))


def _not_modified(etag: str, if_none_match: str | None) -> Response | None:
    if if_none_match is not None and etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
    return None


_AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    **documented(404, 500),
    200: {
        "content": {
            "audio/flac": {"schema": {"type": "string", "format": "binary"}},
            "audio/wav": {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "The take's audio",
    },
    304: {"description": "The client's copy (If-None-Match) is current"},
}


@router.get(
    "/{take_id}/audio",
    response_class=Response,
    responses=_AUDIO_RESPONSES,
    summary="A take's audio, FLAC or WAV",
)
def take_audio(
    take_id: TakeId,
    catalog: CatalogDep,
    store: StoreDep,
    format: Annotated[Literal["flac", "wav"], Query(description="flac: as stored")] = "flac",
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """The 24-bit FLAC as stored (hash-checked), or a 24-bit PCM WAV converted on the fly
    and streamed."""
    take = catalog.get_take(take_id)
    etag = f'"{take.audio.sha256}.{format}"'
    if cached := _not_modified(etag, if_none_match):
        return cached
    data = store.read_bytes(take.audio.key)
    headers = {
        "ETag": etag,
        "Cache-Control": IMMUTABLE,
        "Content-Disposition": f'inline; filename="take-{take.id}.{format}"',
    }
    if format == "flac":
        return Response(data, media_type="audio/flac", headers=headers)
    length, chunks = media.wav_stream(data)
    headers["Content-Length"] = str(length)
    return StreamingResponse(chunks, media_type="audio/wav", headers=headers)


@router.get(
    "/{take_id}/spectrogram.png",
    response_class=Response,
    responses={
        **documented(404, 500),
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "Time left to right; log frequency, 20 Hz at the bottom",
        },
        304: {"description": "The client's copy (If-None-Match) is current"},
    },
    summary="A take's spectrogram",
)
def take_spectrogram(
    take_id: TakeId,
    catalog: CatalogDep,
    store: StoreDep,
    width: Annotated[int, Query(ge=16, le=2048)] = 800,
    height: Annotated[int, Query(ge=16, le=1024)] = 256,
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """STFT magnitude over 100 dB, time left to right, log frequency from 20 Hz (bottom)
    to Nyquist (top)."""
    take = catalog.get_take(take_id)
    etag = f'"{take.audio.sha256}.{width}x{height}.png"'
    if cached := _not_modified(etag, if_none_match):
        return cached
    audio, sample_rate = store.read(take.audio.key)
    png = media.spectrogram_png(audio, sample_rate, width, height)
    return Response(png, media_type="image/png", headers={"ETag": etag, "Cache-Control": IMMUTABLE})
