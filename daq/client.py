"""A small HTTP client for the jx-daq API (httpx), for the CLI and for scripts.

``ApiClient.from_settings()`` reads the server and the token from ``JXDAQ_API_URL`` /
``JXDAQ_API_TOKEN`` (or ``api_url`` / ``api_token`` in the settings TOML). Every failure is
an :class:`ApiError` whose message is one line a person can act on: the server unreachable,
the token refused, or the server's own ``detail`` (for a 422, each bad field and why).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from daq.export_formats import shard_file_name
from daq.settings import Settings, get_settings

API_PREFIX = "/api/v1"


class ApiError(Exception):
    """A request that did not succeed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _detail(response: httpx.Response) -> str:
    """The server's explanation, as one line."""
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text.strip() or response.reason_phrase
    if isinstance(detail, list):  # FastAPI validation errors: [{loc, msg}, ...]
        return "; ".join(
            f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg')}"
            for error in detail
        )
    return str(detail)


@dataclass(frozen=True, slots=True)
class TarResponse:
    """An export under way: where it starts, how long the whole archive is, its bytes."""

    offset: int
    size: int
    etag: str
    takes: int
    chunks: Iterator[bytes]
    #: The archive still has the ETag the caller holds (``if_none_match``): nothing to send.
    unchanged: bool = False


class ApiClient:
    """One server, one token; a connection pool shared by every call (close it when done)."""

    def __init__(
        self, url: str, token: str = "", *, timeout: float = 60.0, transport: Any = None
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url + API_PREFIX, headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ApiClient | None:
        """The configured server's client, or None when no API URL is configured."""
        settings = settings or get_settings()
        if not settings.api_url:
            return None
        return cls(settings.api_url, settings.api_token)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------
    @contextmanager
    def _send(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        request = self._http.build_request(method, path, **kwargs)
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as error:
            raise ApiError(f"cannot reach the jx-daq API at {self.url}: {error}") from None
        try:
            if response.status_code >= 400:
                response.read()
                raise ApiError(
                    f"{method} {path}: {response.status_code} {_detail(response)}",
                    response.status_code,
                )
            yield response
        except httpx.HTTPError as error:
            raise ApiError(f"{method} {path}: the transfer broke off: {error}") from None
        finally:
            response.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        with self._send(method, path, **kwargs) as response:
            response.read()
            return response.json()

    def health(self) -> dict[str, Any]:
        try:
            response = self._http.get(self.url + "/health")
        except httpx.HTTPError as error:
            raise ApiError(f"cannot reach the jx-daq API at {self.url}: {error}") from None
        return response.json()

    # -- jobs -----------------------------------------------------------------------------
    def submit_job(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", "/jobs", json=spec)

    def list_jobs(self, states: list[str] | None = None) -> list[dict[str, Any]]:
        """Every job (all pages), in submission order."""
        jobs: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1000, "state": states or []}
            if cursor is not None:
                params["cursor"] = cursor
            page = self._json("GET", "/jobs", params=params)
            jobs += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return jobs

    def get_job(self, job_id: int) -> dict[str, Any]:
        return self._json("GET", f"/jobs/{job_id}")

    def change_job(self, job_id: int, action: str, reason: str | None = None) -> dict[str, Any]:
        """``action``: pause, resume or cancel."""
        body = {"reason": reason} if reason else None
        return self._json("POST", f"/jobs/{job_id}/{action}", json=body)

    def set_priority(self, job_id: int, priority: int) -> dict[str, Any]:
        return self._json("PATCH", f"/jobs/{job_id}", json={"priority": priority})

    def delete_job(self, job_id: int, takes: str) -> dict[str, Any]:
        """Delete a job that is over (admin); ``takes``: remove or keep."""
        return self._json("DELETE", f"/jobs/{job_id}", params={"takes": takes})

    # -- datasets -------------------------------------------------------------------------
    def freeze_dataset(
        self, name: str, filters: dict[str, Any], splits: dict[str, float], seed: int = 0
    ) -> dict[str, Any]:
        body = {"name": name, "filter": filters, "splits": splits, "seed": seed}
        return self._json("POST", "/datasets", json=body)

    def get_dataset(self, name: str) -> dict[str, Any]:
        return self._json("GET", f"/datasets/{name}")

    def list_datasets(self) -> list[dict[str, Any]]:
        return self._json("GET", "/datasets")

    @contextmanager
    def export_tar(
        self,
        name: str,
        split: str | None = None,
        offset: int = 0,
        etag: str | None = None,
        if_none_match: str | None = None,
    ) -> Iterator[TarResponse]:
        """The archive from byte ``offset`` if its ETag is still ``etag``, else from 0;
        nothing (``unchanged``) if its ETag is still ``if_none_match``."""
        headers = {"Range": f"bytes={offset}-", "If-Range": etag} if offset and etag else {}
        if if_none_match:
            headers["If-None-Match"] = if_none_match
        params = {"split": split} if split else {}
        with self._send(
            "GET", f"/datasets/{name}/export.tar", params=params, headers=headers
        ) as response:
            if response.status_code == 304:
                yield TarResponse(0, 0, response.headers["ETag"], 0, iter(()), unchanged=True)
                return
            start, size = 0, int(response.headers["Content-Length"])
            if response.status_code == 206:
                span, _, total = response.headers["Content-Range"].partition("/")
                start, size = int(span.split()[1].split("-")[0]), int(total)
            yield TarResponse(
                offset=start,
                size=size,
                etag=response.headers["ETag"],
                takes=int(response.headers.get("X-Dataset-Takes", 0)),
                chunks=response.iter_bytes(),
            )

    def shard_index(self, name: str, **query: Any) -> dict[str, Any]:
        """``query``: split, shard_size, features, feature_config (JSON text)."""
        params = {k: v for k, v in query.items() if v is not None}
        return self._json("GET", f"/datasets/{name}/shards", params=params)

    def shard(self, name: str, index: int, **query: Any) -> Iterator[bytes]:
        """One NPZ shard's bytes, in pieces; ``query`` as for the index, plus selection."""
        params = {k: v for k, v in query.items() if v is not None}
        with self._send("GET", f"/datasets/{name}/shards/{index}.npz", params=params) as response:
            yield from response.iter_bytes()

    def webdataset_index(self, name: str, **query: Any) -> dict[str, Any]:
        """``query``: split, shard_size."""
        params = {k: v for k, v in query.items() if v is not None}
        return self._json("GET", f"/datasets/{name}/webdataset", params=params)

    def webdataset_shard(self, name: str, index: int, **query: Any) -> Iterator[bytes]:
        """One WebDataset shard's bytes, in pieces; ``query`` as for the index, plus selection."""
        params = {k: v for k, v in query.items() if v is not None}
        path = f"/datasets/{name}/webdataset/{shard_file_name(index)}"
        with self._send("GET", path, params=params) as response:
            yield from response.iter_bytes()

    def webdataset_urls(self, name: str, **query: Any) -> list[str]:
        """``webdataset.WebDataset(urls)`` input: one ``pipe:curl`` URL per shard, sending
        this client's bearer token (WebDataset's own http opener sends no headers).

        The token is on curl's command line: on a shared host, other users can see it."""
        index = self.webdataset_index(name, **query)
        params = {k: v for k, v in query.items() if v is not None}
        params["selection"] = index["selection"]
        header = shlex.quote(f"Authorization: Bearer {self._token}")
        urls = []
        for i in range(index["shards"]):
            path = f"{API_PREFIX}/datasets/{name}/webdataset/{shard_file_name(i)}"
            url = httpx.URL(self.url + path, params=params)
            urls.append(f"pipe:curl -sfL -H {header} {shlex.quote(str(url))}")
        return urls
