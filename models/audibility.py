"""Audibility before capture: how much each parameter of a job moves the features.

For tones drawn from the job's own source, each tone is rendered by the emulator exactly as
the job's capture setup plays it (notes, hold, release tail; the features span all of it,
whatever ``duration_s`` the feature config says), then again with one parameter
moved by one *step*, and the features of the two are compared. A step is one switch position,
or ``CONTINUOUS_STEP`` raw values (1/16 of the range) of a continuous parameter. The change is
the mean absolute difference of the features in dB (a log-mel band at -60 dB or below counts
as -60 dB, the floor of hearing here). The median over tones is the parameter's audibility;
below ``threshold_db`` the protocol cannot reveal it, and no model trained on its takes can
learn it: fix it in the job (or drop it from the targets) before spending days of capture.

This explains the per-parameter table of ``jxdaq bench``: a parameter flagged here stays at
the mean's error whatever the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daq.emulator.render import Note, render
from daq.features import FeatureConfig, LogMelFeatures, parse_feature_config
from daq.sampling import Sampler
from daq.spec import JobSpec
from firmware_protocol.parameters import BY_NAME, ToneParameter
from firmware_protocol.tone import Tone

#: Raw values a continuous parameter moves by in one step (of 0..127).
CONTINUOUS_STEP = 8
#: Below this median change (dB) a parameter is called inaudible.
THRESHOLD_DB = 0.2
FLOOR_DB = -60.0


@dataclass(frozen=True)
class Audibility:
    parameter: str
    median_db: float
    inaudible_share: float  #: share of tones where the step moved the features < threshold
    audible: bool


def _db(features: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Features as levels in dB, floored at ``FLOOR_DB``: log-mel holds natural logs of
    power; the STFT and the auditory spectrogram hold magnitudes."""
    if isinstance(config, LogMelFeatures):
        level = 10.0 * features / np.log(10.0)
    else:
        level = 20.0 * np.log10(np.maximum(features, 1e-12))
    return np.maximum(level, FLOOR_DB)


def stepped(tone: Tone, parameter: ToneParameter) -> Tone:
    """``tone`` with ``parameter`` moved by one step (down where up would leave the range)."""
    value = tone[parameter.name]
    if parameter.is_switch:
        position = round(tone.to_vector((parameter,))[0])
        return Tone.from_vector([float((position + 1) % parameter.ways)], (parameter,), base=tone)
    up = value + CONTINUOUS_STEP
    return tone.replace(**{parameter.key: up if up <= 127 else value - CONTINUOUS_STEP})


def audibility(
    spec: JobSpec,
    config: FeatureConfig,
    tones: int = 16,
    threshold_db: float = THRESHOLD_DB,
) -> list[Audibility]:
    """The audibility of every parameter the job varies (see the module doc)."""
    sampler = Sampler(spec)
    count = tones if sampler.length is None else min(tones, sampler.length)
    drawn = sampler.tones(spec.seed, range(count))
    varied = spec.vary if spec.vary is not None else list(BY_NAME)
    parameters = [BY_NAME[name] for name in varied if name not in spec.fixed]
    capture = spec.capture
    melody = [Note(n.key, n.velocity, n.start_s, n.duration_s) for n in capture.notes]
    window = capture.hold_s + capture.tail.max_s
    config = parse_feature_config({**config.model_dump(mode="json"), "duration_s": window})
    rate = config.sample_rate

    def features(batch: list[Tone]) -> np.ndarray:
        audio = render(batch, melody, capture.hold_s, capture.tail.max_s, rate, 0)
        return np.stack([_db(config.compute(clip), config) for clip in audio])

    reference = features(drawn)
    out = []
    for parameter in parameters:
        moved = features([stepped(tone, parameter) for tone in drawn])
        change = np.abs(moved - reference).mean(axis=(1, 2))
        median = float(np.median(change))
        out.append(
            Audibility(
                parameter.name,
                median,
                float((change < threshold_db).mean()),
                median >= threshold_db,
            )
        )
    return out
