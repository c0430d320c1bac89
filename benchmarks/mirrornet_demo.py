"""MirrorNet on the emulator: learns a JX tone subset from melodies' sound alone, then judges it.

Trains a :class:`models.mirrornet.nets.MirrorNet` with the emulator's batch renderer as the plant
on five-note melodies played by preset-prior tones (only the learnable subset varies; the
rest is ``DEFAULT_BASE``); no parameter labels are used in training. Then, on held-out
melodies, the plant plays the tone the encoder hears ("resynthesis") and the table gives:

1. in-family (JX melodies with known parameters): normalised parameter MSE over the subset
   and input-vs-resynthesis spectral error (spectral convergence (median over melodies),
   log-spectral distance, MFCC distance (means)), as the paper's Table 2 does;
2. out-of-family (melodies the JX cannot play exactly): the same JX melodies with a 6 Hz,
   +-50 cent vibrato, and a plucked additive synth with stretched partials (numpy):
   resynthesis spectral error only;

each against a baseline that predicts the prior's mean tone (switch: the most common
position), and, for the JX families, the true tone (in-family: other noise seeds, the
floor; with vibrato: what the JX plays without it).

    .venv/bin/python benchmarks/mirrornet_demo.py            # the reported run
    .venv/bin/python benchmarks/mirrornet_demo.py --train 32 --test 16 --rounds 2  # smoke
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from daq.sampling import sampler
from daq.spec import SamplingSpec
from firmware_protocol.tone import Tone
from models.metrics import (
    log_spectral_distance,
    mfcc_distance,
    parameter_mse,
    spectral_convergence,
)
from models.mirrornet.latent import DEFAULT_BASE, DEFAULT_BASE_VALUES
from models.mirrornet.melody import Melody, random_melody
from models.mirrornet.nets import MirrorConfig, MirrorNet
from models.mirrornet.plant import EmulatorPlant
from models.mirrornet.spectra import MelodySet
from models.mirrornet.training import MirrorTrainer
from models.train import seed_everything

SAMPLE_RATE = 44100


def prior_tones(parameters: tuple[str, ...], seed: int, indexes: range) -> list[Tone]:
    spec = SamplingSpec.model_validate(
        {
            "source": {"kind": "prior"},
            "vary": list(parameters),
            "base": {"values": DEFAULT_BASE_VALUES},
        }
    )
    return sampler(spec).tones(seed, indexes)


def play(plant: EmulatorPlant, tones: list[Tone], melodies: list[Melody], seed: int):
    """One render per (tone, melody) pair: float32 [n, samples]."""
    return np.concatenate(
        [
            plant.render([t], m, seed + i)
            for i, (t, m) in enumerate(zip(tones, melodies, strict=True))
        ]
    )


def vibrato(audio: np.ndarray, rate_hz: float = 6.0, cents: float = 50.0) -> np.ndarray:
    """Pitch modulation by a time-varying resampling: read the clip at a wobbling speed."""
    t = np.arange(audio.shape[-1]) / SAMPLE_RATE
    speed = 2.0 ** (cents / 1200.0 * np.sin(2 * np.pi * rate_hz * t))
    position = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    index = np.arange(audio.shape[-1])
    return np.stack([np.interp(position, index, clip) for clip in audio]).astype(np.float32)


def plucked(melody: Melody, rng: np.random.Generator) -> np.ndarray:
    """A different synth: stretched partials (inharmonicity) that decay faster up high."""
    n = melody.samples(SAMPLE_RATE)
    out = np.zeros(n)
    brightness = rng.uniform(1.0, 2.0)
    for note in melody.notes:
        f0 = 440.0 * 2.0 ** ((note.key - 69) / 12)
        start = round(note.start_s * SAMPLE_RATE)
        end = round((note.start_s + note.duration_s) * SAMPLE_RATE)
        t = np.arange(n - start) / SAMPLE_RATE
        damper = np.where(
            t < (end - start) / SAMPLE_RATE, 1.0, np.exp(-(t - t[end - start]) / 0.03)
        )
        voice = np.zeros_like(t)
        for h in range(1, int(7000 // f0) + 1):
            partial = h * f0 * np.sqrt(1.0 + 4e-4 * h * h)
            decay = 0.6 / (1.0 + 0.3 * h)
            voice += np.sin(2 * np.pi * partial * t) * np.exp(-t / decay) / h**brightness
        out[start:] += 0.15 * voice * damper
    return out.astype(np.float32)


def spectral_errors(reference: np.ndarray, estimate: np.ndarray) -> tuple[float, ...]:
    """Median spectral convergence (a few near-silent inputs make its mean meaningless),
    mean log-spectral distance (dB) and mean MFCC distance."""
    pairs = list(zip(reference, estimate, strict=True))
    return (
        float(np.median([spectral_convergence(r, e) for r, e in pairs])),
        float(np.mean([log_spectral_distance(r, e) for r, e in pairs])),
        float(np.mean([mfcc_distance(r, e, SAMPLE_RATE) for r, e in pairs])),
    )


def mean_tone(vectors: np.ndarray, spec) -> np.ndarray:
    """The baseline: the mean of continuous values, the most common switch position."""
    out = vectors.mean(0)
    for i in spec.switch_index:
        out[i] = np.bincount(vectors[:, i].astype(int)).argmax()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=256, help="training melodies")
    parser.add_argument("--test", type=int, default=96, help="held-out melodies per family")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seed_everything(args.seed)
    started = time.perf_counter()

    config = MirrorConfig(rounds=args.rounds, seed=args.seed)
    net = MirrorNet(config)
    spec = net.codec.spec
    plant = EmulatorPlant(SAMPLE_RATE)
    rng = np.random.default_rng(args.seed)
    n, m = args.train, args.test
    tones = prior_tones(config.parameters, args.seed, range(n + m))
    melodies = [random_melody(rng) for _ in range(n + m)]
    audio = play(plant, tones, melodies, seed=10_000)
    train = MelodySet.from_audio(audio[:n], melodies[:n], SAMPLE_RATE)
    test_tones, test_melodies, test_audio = tones[n:], melodies[n:], audio[n:]
    test = MelodySet.from_audio(test_audio, test_melodies, SAMPLE_RATE)
    # One torch thread (a shared machine: more only spin), set after numba's first parallel
    # render, which resets OpenMP to every core.
    torch.set_num_threads(1)
    print(f"data: {n} training and {m} test melodies ({time.perf_counter() - started:.0f} s)")

    trainer = MirrorTrainer(net, plant, train, log=print)
    history = trainer.train()
    trained_s = time.perf_counter() - started

    truth = np.stack([spec.encode(t) for t in test_tones])
    train_truth = np.stack([spec.encode(t) for t in tones[:n]])
    predicted = net.infer(test)
    baseline = np.tile(mean_tone(train_truth, spec), (m, 1))

    rows = []

    def judge(family: str, method: str, vectors, reference, params=None):
        """Resynthesise: the plant plays the tones of ``vectors`` on the test melodies."""
        tones = net.codec.tones(vectors, DEFAULT_BASE)
        estimate = play(plant, tones, test_melodies, seed=20_000)
        sc, lsd, mfcc = spectral_errors(reference, estimate)
        mse = "" if params is None else f"{parameter_mse(vectors, params, spec).mean():.4f}"
        rows.append((family, method, mse, f"{sc:.3f}", f"{lsd:.2f}", f"{mfcc:.2f}"))

    judge("JX (in-family)", "MirrorNet", predicted, test_audio, truth)
    judge("JX (in-family)", "prior mean", baseline, test_audio, truth)
    judge("JX (in-family)", "true tone", truth, test_audio, truth)

    wobbly = vibrato(test_audio)
    wobbly_set = MelodySet.from_audio(wobbly, test_melodies, SAMPLE_RATE)
    judge("JX + vibrato", "MirrorNet", net.infer(wobbly_set), wobbly)
    judge("JX + vibrato", "prior mean", baseline, wobbly)
    judge("JX + vibrato", "true tone (no vibrato)", truth, wobbly)

    other_rng = np.random.default_rng(args.seed + 1)
    pluck = np.stack([plucked(mel, other_rng) for mel in test_melodies])
    pluck_set = MelodySet.from_audio(pluck, test_melodies, SAMPLE_RATE)
    judge("plucked synth", "MirrorNet", net.infer(pluck_set), pluck)
    judge("plucked synth", "prior mean", baseline, pluck)

    print()
    print(f"run: {n} training melodies, {m} test melodies per family, {args.rounds} rounds, ")
    print(f"     {len(trainer.buffer)} plant renders for training, subset: {', '.join(spec.names)}")
    print(f"     trained in {trained_s:.0f} s, {time.perf_counter() - started:.0f} s in all")
    print()
    print("round  buffer  decoder predicts plant  decoder fit  mirror (encoder) loss")
    for row in history:
        print(
            f"{row['round']:>5}  {row['buffer']:>6}  {row['decoder_prediction_loss']:>22.4f}"
            f"  {row['decoder_loss']:>11.4f}  {row['encoder_loss']:>21.4f}"
        )
    print()
    header = ("input", "tone from", "param MSE", "SC med.", "LSD dB", "MFCC dist")
    widths = (16, 22, 10, 7, 8, 9)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    per = parameter_mse(predicted, truth, spec)
    base = parameter_mse(baseline, truth, spec)
    print()
    print("per-parameter MSE (MirrorNet / prior mean):")
    for name, a, b in zip(spec.names, per, base, strict=True):
        print(f"  {name:<14} {a:.4f} / {b:.4f}")


if __name__ == "__main__":
    main()
