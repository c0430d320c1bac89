"""Take routes: filtered keyset queries, metadata, FLAC / WAV audio and spectrogram PNGs."""

from __future__ import annotations

import hashlib
import io
import wave
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile
from api_support import RIG, TAKES, record_takes

from db.records import encode_cursor
from db.schema import QcVerdict, Role, utcnow

READ = Role.TRAINER


def all_pages(api, params: dict, limit: int) -> list[dict]:
    items, cursor = [], None
    while True:
        page = api.as_(
            READ,
            "GET",
            TAKES,
            params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_takes_are_filtered_by_job_rig_verdict_time_and_parameter_ranges(api):
    _, low = record_takes(api, [{"VCF FREQ": v, "VCF RES": 5} for v in (10, 50, 90)])
    other_job, high = record_takes(
        api, [{"VCF FREQ": v, "VCF RES": 100} for v in (20, 60)], rig="board-b"
    )
    _, warned = record_takes(api, [{"VCF FREQ": 64}], verdict=QcVerdict.WARN)
    everything = low + high + warned

    def ids(**params):
        return [t["id"] for t in all_pages(api, params, limit=2)]

    assert ids() == everything
    assert ids(job=other_job) == high
    assert ids(rig="board-b") == high
    assert ids(qc="warn") == warned
    assert ids(qc=["pass", "warn"]) == everything
    assert ids(p_vcf_freq="10..60") == [low[0], low[1], high[0], high[1]]
    assert ids(p_vcf_freq="50") == [low[1]]
    assert ids(p_vcf_freq="0..127", p_vcf_res="100..127") == high
    future = (utcnow() + timedelta(hours=1)).isoformat()
    assert ids(recorded_after=future) == []
    assert ids(recorded_before=future) == everything
    assert ids(recorded_before=future.removesuffix("+00:00")) == everything  # naive is UTC


def test_bad_filters_are_422s_naming_the_parameter_and_unknown_rigs_404(api):
    for params, name in [
        ({"p_vcf_freq": "90..10"}, "p_vcf_freq"),
        ({"p_vcf_freq": "0..200"}, "p_vcf_freq"),
        ({"p_vcf_freq": "a..b"}, "p_vcf_freq"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"qc": "great"}, "qc"),
        ({"rig": "no spaces"}, "rig"),
    ]:
        answer = api.as_(READ, "GET", TAKES, params=params)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.json()["detail"][0]["loc"][:2] == ["query", name], answer.json()
    unknown = api.as_(READ, "GET", TAKES, params={"rig": "nowhere"})
    assert unknown.status_code == 404 and "nowhere" in unknown.json()["detail"]


def test_a_take_s_metadata_names_its_tone_audio_and_qc(sqlite_api):
    job_id, (take_id,) = record_takes(sqlite_api, [{"VCF FREQ": 77, "DCO1 WF": 96}])
    take = sqlite_api.as_(READ, "GET", f"{TAKES}/{take_id}").json()
    assert (take["job_id"], take["rig"], take["qc_verdict"]) == (job_id, RIG, "pass")
    assert take["tone"]["parameters"]["vcf_freq"] == 77
    assert take["tone"]["parameters"]["dco1_wf"] == 96
    assert len(bytes.fromhex(take["tone"]["apr_hex"])) == 59
    assert take["audio"]["sample_rate"] == 44100 and take["audio"]["duration_s"] == 0.5
    missing = sqlite_api.as_(READ, "GET", f"{TAKES}/424242")
    assert missing.status_code == 404 and "take 424242" in missing.json()["detail"]


@pytest.mark.parametrize("channels", [1, 2])
def test_audio_comes_as_the_stored_flac_or_as_an_equal_wav(sqlite_api, channels):
    _, (take_id,) = record_takes(sqlite_api, [{}], channels=channels)
    take = sqlite_api.catalog.get_take(take_id)
    flac = sqlite_api.as_(READ, "GET", f"{TAKES}/{take_id}/audio")
    assert flac.status_code == 200 and flac.headers["content-type"] == "audio/flac"
    assert hashlib.sha256(flac.content).hexdigest() == take.audio.sha256
    stored, rate = soundfile.read(io.BytesIO(flac.content), dtype="int32", always_2d=True)

    wav = sqlite_api.as_(READ, "GET", f"{TAKES}/{take_id}/audio", params={"format": "wav"})
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    assert int(wav.headers["content-length"]) == len(wav.content)
    with wave.open(io.BytesIO(wav.content)) as reader:  # the standard library can read it
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (
            channels,
            3,
            44100,
        )
        assert reader.getnframes() == take.audio.frames
    converted, wav_rate = soundfile.read(io.BytesIO(wav.content), dtype="int32", always_2d=True)
    assert wav_rate == rate
    np.testing.assert_array_equal(converted, stored)  # bit-exact 24-bit samples

    etag = flac.headers["etag"]
    cached = sqlite_api.as_(
        READ, "GET", f"{TAKES}/{take_id}/audio", headers={"If-None-Match": etag}
    )
    assert cached.status_code == 304 and cached.content == b""
    bad = sqlite_api.as_(READ, "GET", f"{TAKES}/{take_id}/audio", params={"format": "mp3"})
    assert bad.status_code == 422


def test_audio_that_fails_its_hash_is_a_500_saying_which_take_and_how_to_repair(sqlite_api):
    _, (take_id,) = record_takes(sqlite_api, [{}])
    take = sqlite_api.catalog.get_take(take_id)
    path = f"{sqlite_api.store.root}/{take.audio.key}"
    with open(path, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\xff\xff\xff\xff")
    answer = sqlite_api.as_(READ, "GET", f"{TAKES}/{take_id}/audio")
    assert answer.status_code == 500
    assert "corrupt" in answer.json()["detail"] and "verify --repair" in answer.json()["detail"]


def test_missing_audio_is_a_500_naming_the_take_and_nothing_of_the_server_s_disk(sqlite_api):
    _, (take_id,) = record_takes(sqlite_api, [{}])
    take = sqlite_api.catalog.get_take(take_id)
    Path(sqlite_api.store.root, take.audio.key).unlink()
    for route in ("audio", "spectrogram.png"):
        answer = sqlite_api.as_(READ, "GET", f"{TAKES}/{take_id}/{route}")
        assert answer.status_code == 500
        detail = answer.json()["detail"]
        assert f"take {take_id}" in detail and "missing" in detail, detail
        assert str(sqlite_api.store.root) not in answer.text and "/tmp" not in answer.text


def test_cursors_past_the_database_s_integers_are_422s_not_500s(api):
    huge_take = encode_cursor(2**70)
    answer = api.as_(READ, "GET", TAKES, params={"cursor": huge_take})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", "cursor"]
    for url in ("/api/v1/jobs", "/api/v1/jobs/1/samples"):
        assert api.as_(READ, "GET", url, params={"cursor": "3000000000"}).status_code == 422
    assert api.as_(READ, "GET", "/api/v1/jobs", params={"cursor": "999999999"}).status_code == 200
