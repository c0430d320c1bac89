"""Banks over HTTP: read from the banks directory only, or uploaded; nothing outside it is
opened, and no answer says anything about what lies outside (issue 11, item 7)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
from api_support import JOBS

from daq.banks import MAX_SYX_BYTES
from db.schema import Role
from firmware_protocol.sysex import jx8p_bank
from firmware_protocol.tone import INIT_TONE

pytestmark = pytest.mark.timeout(60)

BANK = jx8p_bank([INIT_TONE, INIT_TONE.replace(vcf_freq=7)])
BANK64 = base64.b64encode(BANK).decode()
SECRET = b"S3CRET, the first byte of which must never be quoted"


@pytest.fixture
def banks(sqlite_api, tmp_path: Path) -> Path:
    """The API's banks directory (var_dir/banks) with one good bank, and secrets beside it."""
    folder = tmp_path / "banks"
    folder.mkdir()
    (folder / "good.syx").write_bytes(BANK)
    (tmp_path / "secret.syx").write_bytes(SECRET)
    (tmp_path / "outside.syx").write_bytes(BANK)
    return folder


def submit(api, *banks: object) -> tuple[int, str, list[dict]]:
    answer = api.as_(Role.OPERATOR, "POST", JOBS, json={"source": {"kind": "bank", "banks": banks}})
    detail = answer.json().get("detail") if answer.status_code == 422 else []
    return answer.status_code, answer.text, detail


def message(api, name: object) -> str:
    status, _, detail = submit(api, name)
    assert status == 422, name
    [error] = detail
    assert error["loc"] == ["body", "source", "bank", "banks", 0]
    return error["msg"]


def test_a_bank_in_the_banks_directory_is_read_once_and_held_by_the_job(sqlite_api, banks):
    status, text, _ = submit(sqlite_api, "good.syx")
    assert status == 201, text
    [stored] = sqlite_api.catalog.list_jobs()
    (banks / "good.syx").unlink()
    spec = sqlite_api.as_(Role.OPERATOR, "GET", f"{JOBS}/{stored.id}/spec").json()
    [held] = spec["source"]["banks"]
    assert base64.b64decode(held["base64"]) == BANK
    assert held["sha256"] == hashlib.sha256(BANK).hexdigest()
    summary = sqlite_api.as_(Role.OPERATOR, "GET", f"{JOBS}/{stored.id}").json()["spec"]
    assert summary["source"]["banks"] == [
        {"name": "good.syx", "sha256": held["sha256"], "tone_count": 2}
    ]


@pytest.mark.parametrize(
    "name",
    [
        "../outside.syx",
        "../../etc/passwd",
        "/etc/passwd",
        str(Path("/work") / "x.syx"),
        "sub/../good.syx",
        "./good.syx",
        ".hidden.syx",
        "good.syx\x00",
        "good.txt",
        "a" * 5_000 + ".syx",
        "",
    ],
)
def test_absolute_parent_and_odd_names_are_refused_before_any_file_is_opened(
    sqlite_api, banks, name
):
    assert "a bank is named by its .syx file inside the server's banks directory" in message(
        sqlite_api, name
    )


def test_symlinks_are_never_followed_and_errors_disclose_nothing(sqlite_api, banks, tmp_path):
    (banks / "leak.syx").symlink_to(tmp_path / "secret.syx")
    (banks / "escape.syx").symlink_to(tmp_path / "outside.syx")  # a valid bank, but outside
    (banks / "zero.syx").symlink_to("/dev/zero")
    (banks / "shadow.syx").symlink_to("/etc/shadow")
    (banks / "sub").symlink_to(tmp_path)
    missing = message(sqlite_api, "missing.syx").replace("missing.syx", "NAME")
    for name in ("leak.syx", "escape.syx", "zero.syx", "shadow.syx", "sub/outside.syx"):
        status, text, _ = submit(sqlite_api, name)
        assert status == 422, name
        said = message(sqlite_api, name).replace(name, "NAME")
        assert said in (missing, "bank 'NAME': not a regular file"), said
        for secret in ("S3CRET", "0x53", str(tmp_path), "secret", "/dev/zero", "shadow.syx'"):
            assert secret not in text.replace("'shadow.syx'", ""), (name, text)
    assert sqlite_api.catalog.list_jobs() == []


def test_existing_and_missing_files_outside_give_the_same_answer(sqlite_api, banks):
    there = message(sqlite_api, "../outside.syx").replace("outside", "X")
    not_there = message(sqlite_api, "../nothing.syx").replace("nothing", "X")
    assert there == not_there


def test_a_fifo_and_a_huge_file_are_refused_at_once(sqlite_api, banks):
    os.mkfifo(banks / "pipe.syx")
    with open(banks / "huge.syx", "wb") as huge:
        huge.truncate(1 << 30)  # 1 GB, sparse
    assert message(sqlite_api, "pipe.syx") == "bank 'pipe.syx': not a regular file"
    assert f"larger than a .syx bank may be ({MAX_SYX_BYTES} bytes)" in message(
        sqlite_api, "huge.syx"
    )
    assert sqlite_api.client.get("/health").status_code == 200


def test_an_uploaded_bank_is_held_like_a_named_one(sqlite_api, banks):
    upload = {"name": "mine.syx", "base64": base64.b64encode(BANK).decode()}
    status, text, _ = submit(sqlite_api, upload)
    assert status == 201, text
    checked = {**upload, "sha256": hashlib.sha256(BANK).hexdigest()}
    assert submit(sqlite_api, checked)[0] == 201


@pytest.mark.parametrize(
    ("upload", "says"),
    [
        ({"name": "x.syx", "base64": "not base64!"}, "not base64"),
        (
            {"name": "x.syx", "base64": base64.b64encode(BANK).decode(), "sha256": "0" * 64},
            "sha256",
        ),
        (
            {"name": "x.syx", "base64": base64.b64encode(bytes(MAX_SYX_BYTES + 3)).decode()},
            "at most",
        ),
        ({"name": "x.syx", "base64": base64.b64encode(b"\xf0\x41").decode()}, "x.syx: byte 2"),
        ({"name": "x\x07.syx", "base64": base64.b64encode(BANK).decode()}, "U+0007"),
    ],
)
def test_a_bad_upload_is_a_422_saying_what_is_wrong(sqlite_api, banks, upload, says):
    status, text, _ = submit(sqlite_api, upload)
    assert status == 422 and says in text, text
