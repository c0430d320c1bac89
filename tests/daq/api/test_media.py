"""Spectrograms of takes: a PNG whose brightest row is the tone's pitch; sizes are bounded."""

from __future__ import annotations

import io

import numpy as np
from api_support import TAKES, record_takes
from PIL import Image

from daq.api.media import row_frequencies
from db.schema import Role

READ = Role.TRAINER


def test_the_spectrogram_is_a_png_whose_brightest_row_is_the_tone_s_pitch(sqlite_api):
    _, (take_id,) = record_takes(sqlite_api, [{}], frequency=1000.0)
    answer = sqlite_api.as_(
        Role.TRAINER,
        "GET",
        f"{TAKES}/{take_id}/spectrogram.png",
        params={"width": 300, "height": 200},
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(answer.content))
    assert image.format == "PNG" and image.size == (300, 200)
    brightness = np.asarray(image.convert("L"), dtype=float).mean(axis=1)
    frequencies = row_frequencies(200, 44100)
    peak = frequencies[int(brightness.argmax())]
    assert 900 < peak < 1100, peak
    too_big = sqlite_api.as_(
        READ, "GET", f"{TAKES}/{take_id}/spectrogram.png", params={"width": 100000}
    )
    assert too_big.status_code == 422
