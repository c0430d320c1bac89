"""The operator dashboard: server-rendered pages at ``/dashboard``, for people at a browser.

Log in with an API token (kept in an HttpOnly, SameSite=Strict session cookie: see
:mod:`daq.api.session`). Pages: jobs with live progress and ETA and a form to submit one; a
job with its per-rig breakdown, pause / resume / cancel, and its takes with their tones,
spectrograms and audio players; datasets with their selection, split sizes, per-parameter
histograms and takes filtered by parameter ranges; rigs with status, heartbeat, latency and
drift over time.

The dashboard is a client of the JSON API, not a second implementation of it: pages read
what they show from the API (called in-process with the session's token), its scripts poll
the API and pause or cancel through it with the cookie, and the job form is forwarded to
``POST /api/v1/jobs``. So roles, validation and response shapes live in the API alone; besides
checking the session's token, the catalog reads here are rig calibration history and a
dataset's parameter histograms and filtered takes, which the API does not offer.

It is a sub-application mounted on the API's app rather than routes of it: its pages answer
a missing token with the login page (the API answers 401), and are no API operations.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

import httpx
import jinja2
from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.templating import Jinja2Templates

from daq.api import session
from daq.api.histogram import Histogram, histogram
from daq.api.schemas import TakeOut
from daq.api.sparkline import Sparkline, sparkline
from daq.worker import DRIFT, LATENCY
from db.catalog import Catalog
from db.records import ParameterRange, TokenInfo, encode_cursor
from db.schema import FINAL_JOB_STATES, JobState, Role
from firmware_protocol.parameters import TONE_PARAMETERS

PREFIX = "/dashboard"
API_PREFIX = "/api/v1"
HERE = FilePath(__file__).resolve().parent
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.PAUSED)
#: Rows per page of finished jobs, and of a job's takes.
JOBS_PAGE = 50
TAKES_PAGE = 50
#: Calibrations drawn in a rig's sparklines.
HISTORY = 60
MAX_FORM_BYTES = 1 << 20
#: Roles that may pause, resume and cancel (the API decides; this only hides buttons).
OPERATORS = frozenset({Role.ADMIN, Role.OPERATOR})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
EXAMPLE_JOB = """\
# A small job: 10 samples from the preset prior, A4 held 1 s.
name = "dashboard example: 10 samples, 1 s"
count = 10
seed = 1
rigs = "any"

[source]
kind = "prior"

[capture]
hold_s = 1.0
notes = { key = 69, velocity = 100 }
"""
EXAMPLE_RESYNTHESIS = """\
# Trainers may submit resynthesis jobs: an explicit list of tones.
name = "resynthesis"
rigs = "any"

[source]
kind = "list"
tones = [{ "VCF FREQ" = 64, "VCF RES" = 20 }, { "VCF FREQ" = 90 }]

[capture]
hold_s = 1.0
"""

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: the session's token, and the secret the session cookie holds."""

    token: TokenInfo
    secret: str

    @property
    def csrf(self) -> str:
        return session.csrf_token(self.secret)

    @property
    def can_operate(self) -> bool:
        return self.token.role in OPERATORS


class LoginRequired(Exception):
    """No session cookie, or one whose token is unknown or revoked."""


def _catalog(request: Request) -> Catalog:
    return request.app.state.api.state.catalog


def _viewer(request: Request) -> Viewer:
    secret = session.cookie_secret(request)
    token = _catalog(request).authenticate(secret) if secret else None
    if token is None:
        raise LoginRequired
    return Viewer(token, secret)


ViewerDep = Annotated[Viewer, Depends(_viewer)]


# -- rendering -------------------------------------------------------------------------------
def _when(value: str | datetime | None) -> str:
    """An API timestamp as people read it (UTC, to the second)."""
    if value is None:
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float | None) -> str:
    """Seconds as a short human duration (the page script formats updates the same way)."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _tone(parameters: dict[str, int]) -> list[tuple[str, str]]:
    """A take's tone as (parameter name, value as the panel reads it: a switch's label)."""
    return [(p.name, p.label(parameters[p.key])) for p in TONE_PARAMETERS if p.key in parameters]


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["duration"] = _duration
    env.filters["tone"] = _tone
    env.globals["final_states"] = [s.value for s in FINAL_JOB_STATES]
    return Jinja2Templates(env=env)


TEMPLATES = _templates()


def _base(request: Request) -> str:
    """The dashboard's path prefix (its mount point, behind any proxy root path)."""
    return request.scope.get("root_path", "")


def _page(
    request: Request,
    template: str,
    viewer: Viewer | None,
    status_code: int = status.HTTP_200_OK,
    **context: Any,
) -> HTMLResponse:
    base = _base(request)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "viewer": viewer,
            "base": base,
            "api": base.removesuffix(PREFIX) + API_PREFIX,
            **context,
        },
        status_code=status_code,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


# -- the API, in-process ---------------------------------------------------------------------
async def _call(
    request: Request, viewer: Viewer, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """Call the JSON API as the viewer: the same roles, validation and answers as a client."""
    transport = httpx.ASGITransport(app=request.app.state.api)
    headers = {"Authorization": f"Bearer {viewer.secret}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://dashboard", headers=headers
    ) as client:
        return await client.request(method, API_PREFIX + path, **kwargs)


def _body_detail(answer: httpx.Response) -> Any:
    """The ``detail`` of an API error body (a sentence, or a 422's list), if it has one."""
    try:
        return answer.json().get("detail")
    except (ValueError, AttributeError):
        return None


def _detail(answer: httpx.Response) -> str:
    detail = _body_detail(answer)
    return detail if isinstance(detail, str) else f"the API answered {answer.status_code}"


async def _get(request: Request, viewer: Viewer, path: str, **params: Any) -> Any:
    given = {name: value for name, value in params.items() if value is not None}
    answer = await _call(request, viewer, "GET", path, params=given)
    if answer.status_code == status.HTTP_401_UNAUTHORIZED:
        raise LoginRequired
    if not answer.is_success:
        raise HTTPException(answer.status_code, _detail(answer))
    return answer.json()


# -- forms -----------------------------------------------------------------------------------
async def _form(request: Request, viewer: Viewer | None) -> dict[str, str]:
    """A same-origin urlencoded form (with the session's CSRF token when logged in)."""
    if not session.same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin form posts are refused")
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"forms must be application/x-www-form-urlencoded, not {kind or 'no content type'}",
        )
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"the form is over {MAX_FORM_BYTES} bytes"
        )
    try:
        fields = parse_qs(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=10
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unreadable form: {error}") from None
    form = {name: values[0] for name, values in fields.items()}
    if viewer is not None and not session.csrf_ok(viewer.secret, form.get(session.CSRF_FIELD)):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or stale: reload the page"
        )
    return form


def _parse_spec(text: str) -> dict[str, Any]:
    """A job spec typed into the form: JSON (an object) or TOML."""
    if text.lstrip().startswith("{"):
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not valid JSON: {error}") from None
        if not isinstance(spec, dict):
            raise ValueError("the spec must be a JSON object")
        return spec
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"not valid TOML: {error}") from None


def _spec_errors(answer: httpx.Response) -> list[tuple[str, str]]:
    """(field, message) for each problem the API found in a submitted spec."""
    detail = _body_detail(answer)
    if isinstance(detail, list):
        return [
            (".".join(str(p) for p in error.get("loc", [])[1:]) or "spec", str(error.get("msg")))
            for error in detail
        ]
    return [("spec", _detail(answer))]


def _safe_next(target: str | None, base: str) -> str:
    """Where to go after logging in: a dashboard page only (no open redirects)."""
    if target and target.startswith(f"{base}/") and "\\" not in target:
        return target
    return f"{base}/jobs"


# -- pages -----------------------------------------------------------------------------------
@router.get("/")
def home(request: Request) -> RedirectResponse:
    return _redirect(f"{_base(request)}/jobs")


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return _page(request, "login.html", None, next=next or "", error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request, None)
    secret = form.get("token", "").strip()
    token = await run_in_threadpool(_catalog(request).authenticate, secret) if secret else None
    error = None
    if token is None:
        error = "That token is unknown or revoked."
    elif token.role == Role.RIG:
        error = "Rig tokens are for workers; log in with a person's token."
    if error is not None:
        return _page(
            request, "login.html", None, status.HTTP_401_UNAUTHORIZED, next=form.get("next", ""),
            error=error,
        )  # fmt: skip
    response = _redirect(_safe_next(form.get("next"), _base(request)))
    response.set_cookie(
        session.COOKIE,
        secret,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request, viewer: ViewerDep) -> RedirectResponse:
    await _form(request, viewer)
    response = _redirect(f"{_base(request)}/login")
    response.delete_cookie(session.COOKIE, path="/")
    return response


def _example(viewer: Viewer) -> str:
    return EXAMPLE_RESYNTHESIS if viewer.token.role == Role.TRAINER else EXAMPLE_JOB


async def _jobs_page(
    request: Request,
    viewer: Viewer,
    cursor: str | None = None,
    *,
    spec_text: str,
    errors: list[tuple[str, str]] | None = None,
    status_code: int = status.HTTP_200_OK,
) -> HTMLResponse:
    active = await _get(request, viewer, "/jobs", state=list(ACTIVE_STATES), limit=100)
    running = [await _get(request, viewer, f"/jobs/{job['id']}") for job in active["items"]]
    finished = await _get(
        request, viewer, "/jobs", state=list(FINAL_JOB_STATES), limit=JOBS_PAGE, cursor=cursor
    )
    return _page(
        request,
        "jobs.html",
        viewer,
        status_code,
        active=running,
        finished=finished,
        spec_text=spec_text,
        errors=errors or [],
    )


@router.get("/jobs")
async def jobs_page(
    request: Request,
    viewer: ViewerDep,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,10}$")] = None,
) -> HTMLResponse:
    return await _jobs_page(request, viewer, cursor, spec_text=_example(viewer))


@router.post("/jobs")
async def submit_job(request: Request, viewer: ViewerDep) -> Response:
    """Forward the form's spec to ``POST /api/v1/jobs``; its errors are shown by the form."""
    form = await _form(request, viewer)
    text = form.get("spec", "")
    try:
        spec = _parse_spec(text)
    except ValueError as error:
        return await _jobs_page(
            request, viewer, spec_text=text, errors=[("spec", str(error))],
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )  # fmt: skip
    answer = await _call(
        request,
        viewer,
        "POST",
        "/jobs",
        content=json.dumps(spec, default=str),
        headers={"Content-Type": "application/json"},
    )
    if answer.status_code == status.HTTP_201_CREATED:
        return _redirect(f"{_base(request)}/jobs/{answer.json()['id']}")
    if answer.status_code == status.HTTP_401_UNAUTHORIZED:
        raise LoginRequired
    return await _jobs_page(
        request, viewer, spec_text=text, errors=_spec_errors(answer),
        status_code=answer.status_code,
    )  # fmt: skip


JobId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Cursor = Annotated[str | None, Query(max_length=64)]


def _live_cursor(takes: dict[str, Any], cursor: str | None) -> str:
    """Where the next takes of a job start: after the last one shown."""
    items = takes["items"]
    return encode_cursor(items[-1]["id"]) if items else (cursor or "")


@router.get("/jobs/{job_id}")
async def job_page(
    request: Request, viewer: ViewerDep, job_id: JobId, cursor: Cursor = None
) -> HTMLResponse:
    job = await _get(request, viewer, f"/jobs/{job_id}")
    takes = await _get(request, viewer, "/takes", job=job_id, limit=TAKES_PAGE, cursor=cursor)
    return _page(
        request,
        "job.html",
        viewer,
        job=job,
        takes=takes["items"],
        more=takes["next_cursor"],
        live_cursor=_live_cursor(takes, cursor),
        takes_page=TAKES_PAGE,
        spec_json=json.dumps(job["spec"], indent=2),
    )


@router.get("/jobs/{job_id}/takes")
async def take_rows(
    request: Request,
    viewer: ViewerDep,
    job_id: JobId,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=TAKES_PAGE)] = TAKES_PAGE,
) -> HTMLResponse:
    """The job's takes after ``cursor`` as table rows, for the job page's script to append;
    ``X-Next-Cursor`` says where the next call starts, ``X-More`` that more are there now."""
    takes = await _get(request, viewer, "/takes", job=job_id, limit=limit, cursor=cursor)
    response = _page(request, "take_rows.html", viewer, takes=takes["items"])
    response.headers["X-Next-Cursor"] = _live_cursor(takes, cursor)
    response.headers["X-More"] = "1" if takes["next_cursor"] else "0"
    return response


def _history(catalog: Catalog, rig: str, kind: str) -> Sparkline | None:
    found = catalog.list_calibrations(rig, kind, limit=HISTORY)
    return sparkline([(c.created_at, c.value) for c in reversed(found) if c.value is not None])


@router.get("/rigs")
async def rigs_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    rigs = await _get(request, viewer, "/rigs")
    catalog = _catalog(request)

    def histories() -> dict[str, dict[str, Sparkline | None]]:
        return {
            rig["name"]: {kind: _history(catalog, rig["name"], kind) for kind in (DRIFT, LATENCY)}
            for rig in rigs
        }

    return _page(
        request, "rigs.html", viewer, rigs=rigs, history=await run_in_threadpool(histories)
    )


@router.get("/datasets")
async def datasets_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    datasets = await _get(request, viewer, "/datasets")
    return _page(request, "datasets.html", viewer, datasets=datasets)


def _ranges(request: Request) -> tuple[tuple[ParameterRange, ...], list[str]]:
    """The page's parameter ranges (``p_<key>=LOW..HIGH``, as the takes API takes them), and
    what was wrong with the others (shown on the page; the takes are then unfiltered by them)."""
    ranges, errors = [], []
    for parameter in TONE_PARAMETERS:
        text = request.query_params.get(f"p_{parameter.key}", "").strip()
        if not text:
            continue
        low, _, high = text.partition("..")
        try:
            if not (low.isdigit() and (high or low).isdigit()):
                raise ValueError(f"{parameter.name}: {text!r} is not LOW..HIGH (e.g. 10..90)")
            ranges.append(ParameterRange(parameter.key, int(low), int(high or low)))
        except ValueError as error:
            errors.append(str(error))
    return tuple(ranges), errors


@router.get("/datasets/{name}")
async def dataset_page(
    request: Request,
    viewer: ViewerDep,
    name: Annotated[str, Path(max_length=200)],
    cursor: Cursor = None,
) -> HTMLResponse:
    """A dataset: its selection and split sizes (from the API), its takes' spread over each
    parameter, and its takes filtered by parameter ranges, with spectrograms and players."""
    described = await _get(request, viewer, f"/datasets/{quote(name, safe='')}")
    ranges, errors = _ranges(request)
    catalog = _catalog(request)

    def read() -> tuple[list[Histogram], list[dict[str, Any]], str | None]:
        selection = catalog.get_dataset(name).filter
        counts = catalog.parameter_histograms(selection)
        shown = replace(selection, parameters=selection.parameters + ranges)
        try:
            page = catalog.query_takes(shown, after=cursor, limit=TAKES_PAGE)
        except ValueError as error:  # a cursor this catalog did not make
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        takes = [TakeOut.from_info(take).model_dump(mode="json") for take in page.items]
        return [histogram(p, counts[p.key]) for p in TONE_PARAMETERS], takes, page.next_cursor

    histograms, takes, more = await run_in_threadpool(read)
    query = [(f"p_{r.parameter}", f"{r.low}..{r.high}") for r in ranges]
    return _page(
        request,
        "dataset.html",
        viewer,
        dataset=described,
        selection_json=json.dumps(described["filter"], indent=2),
        histograms=histograms,
        parameters=TONE_PARAMETERS,
        ranges={r.parameter: f"{r.low}..{r.high}" for r in ranges},
        errors=errors,
        takes=takes,
        more=urlencode([*query, ("cursor", more)]) if more else None,
    )


# -- the sub-application ---------------------------------------------------------------------
async def _to_login(request: Request, _: Exception) -> Response:
    base = _base(request)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET" or not target.startswith(f"{base}/"):
        target = f"{base}/jobs"
    response = _redirect(f"{base}/login?next={quote(target, safe='')}")
    if session.cookie_secret(request):  # unknown or revoked: forget it
        response.delete_cookie(session.COOKIE, path="/")
    return response


async def _error_page(request: Request, error: Exception) -> Response:
    """Any HTTP error of a page (the API's, a refused form, an unknown address) as a page."""
    assert isinstance(error, StarletteHTTPException)
    return _page(request, "error.html", None, error.status_code, message=error.detail)


async def _bad_address(request: Request, error: Exception) -> Response:
    """A mistyped address (a job id that is no number, say): a page that says what was wrong."""
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
    )
    return _page(request, "error.html", None, status.HTTP_404_NOT_FOUND, message=problems)


def _to_dashboard(request: Request) -> RedirectResponse:
    return _redirect(f"{request.scope.get('root_path', '')}{PREFIX}/")


def mount(app: FastAPI) -> None:
    """Serve the dashboard on ``app`` at ``/dashboard`` (and send ``/`` there)."""
    pages = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    pages.state.api = app
    pages.include_router(router)
    pages.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    pages.add_exception_handler(LoginRequired, _to_login)
    pages.add_exception_handler(StarletteHTTPException, _error_page)
    pages.add_exception_handler(RequestValidationError, _bad_address)
    app.mount(PREFIX, pages, name="dashboard")
    app.add_route("/", _to_dashboard, include_in_schema=False)
