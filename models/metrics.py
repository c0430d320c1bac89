"""Evaluation metrics: parameter error, switch accuracy, and how alike two sounds are.

Parameter metrics take target vectors (see :mod:`models.targets`) as numpy arrays [n, params].
The parameter MSE is *normalised*: continuous values are already in [0, 1] and switch
positions are scaled to [0, 1] too, which is how the thesis reports its 0.0262.

Audio metrics compare a reference clip with an estimate (a resynthesis) of the same length.
They use magnitude spectrograms with a 2048-point Hann STFT, hop 512, unless told otherwise:
* spectral convergence: ||S - S^||_F / ||S||_F (0 is identical; 1 is as far as silence);
* log-spectral distance: per frame the RMS over bins of 20 log10(S / S^) in dB, averaged
  over frames, with both magnitudes floored at 1e-5 so silence stays finite;
* MFCC distance: mean Euclidean distance between the frames' MFCCs 1..12 (c0, loudness, left
  out, as in the mel-cepstral distortion used for speech).
"""

from __future__ import annotations

import numpy as np

from daq.features import LogMelFeatures, mfcc, stft_magnitude
from models.targets import TargetSpec

MAGNITUDE_FLOOR = 1e-5


def _pair(prediction: np.ndarray, target: np.ndarray, spec: TargetSpec):
    prediction = np.asarray(prediction, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if prediction.shape != target.shape or prediction.ndim != 2 or target.shape[1] != len(spec):
        raise ValueError(
            f"predictions {prediction.shape} and targets {target.shape} must both be "
            f"[examples, {len(spec)}]"
        )
    return prediction, target


def parameter_mse(prediction: np.ndarray, target: np.ndarray, spec: TargetSpec) -> np.ndarray:
    """Normalised squared error per parameter, averaged over examples: [params]."""
    prediction, target = _pair(prediction, target, spec)
    return (((prediction - target) * spec.scale) ** 2).mean(axis=0)


def switch_accuracy(prediction: np.ndarray, target: np.ndarray, spec: TargetSpec) -> np.ndarray:
    """Share of examples whose switch position is right, per switch of ``spec``: [switches]."""
    prediction, target = _pair(prediction, target, spec)
    index = list(spec.switch_index)
    return (np.round(prediction[:, index]) == np.round(target[:, index])).mean(axis=0)


def _clips(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if reference.shape != estimate.shape or reference.ndim != 1:
        raise ValueError(
            f"reference {reference.shape} and estimate {estimate.shape} must be mono clips "
            "of the same length"
        )
    return reference, estimate


def _spectra(reference: np.ndarray, estimate: np.ndarray, n_fft: int, hop: int):
    reference, estimate = _clips(reference, estimate)
    return stft_magnitude(reference, n_fft, hop), stft_magnitude(estimate, n_fft, hop)


def spectral_convergence(
    reference: np.ndarray, estimate: np.ndarray, n_fft: int = 2048, hop: int = 512
) -> float:
    s, s_hat = _spectra(reference, estimate, n_fft, hop)
    norm = np.linalg.norm(s)
    if norm == 0:
        raise ValueError("spectral convergence is undefined for a silent reference")
    return float(np.linalg.norm(s - s_hat) / norm)


def log_spectral_distance(
    reference: np.ndarray, estimate: np.ndarray, n_fft: int = 2048, hop: int = 512
) -> float:
    """In dB."""
    s, s_hat = _spectra(reference, estimate, n_fft, hop)
    ratio_db = 20 * np.log10(np.maximum(s, MAGNITUDE_FLOOR) / np.maximum(s_hat, MAGNITUDE_FLOOR))
    return float(np.sqrt((ratio_db**2).mean(axis=1)).mean())


def mfcc_distance(
    reference: np.ndarray, estimate: np.ndarray, sample_rate: int, n_mfcc: int = 13
) -> float:
    reference, estimate = _clips(reference, estimate)
    mel = LogMelFeatures(sample_rate=sample_rate, n_mels=40, floor=MAGNITUDE_FLOOR**2)
    a = mfcc(mel.from_audio(reference), n_mfcc)[:, 1:]
    b = mfcc(mel.from_audio(estimate), n_mfcc)[:, 1:]
    return float(np.linalg.norm(a - b, axis=1).mean())
