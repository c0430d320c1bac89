"""CPU share of streaming 12 JX voices in real time through VoiceBank + BoardEffects.

The DSP layer alone (benchmarks/emulator_streaming.py measures the whole board emulator):
two boards of 6 voices holding chords of a chorused tone, rendered block by block as a
real-time stream would, at 44.1 kHz. Prints the share of one core per block size. Run:
``.venv/bin/python benchmarks/emulator_stream.py``. The target (issue 3): under 10 %.
"""

from __future__ import annotations

import time

from daq.emulator.voices import BoardEffects, VoiceBank
from firmware_protocol.tone import INIT_TONE

SAMPLE_RATE = 44100
AUDIO_SECONDS = 20.0
TONE = INIT_TONE.replace(chorus=64, hpf_freq=32, vcf_freq=70, vcf_res=60, mix_dco2=100)


def two_boards() -> list[tuple[VoiceBank, BoardEffects]]:
    boards = []
    for board in range(2):
        bank = VoiceBank(6, SAMPLE_RATE, seed=board)
        bank.set_tone(range(6), TONE)
        for voice in range(6):
            bank.note_on(voice, 48 + 5 * voice + board, 100)
        boards.append((bank, BoardEffects(SAMPLE_RATE, seed=board)))
    return boards


def main() -> None:
    print(f"streaming 12 voices at {SAMPLE_RATE} Hz, {AUDIO_SECONDS:.0f} s of audio per row")
    for block in (64, 256, 1024):
        boards = two_boards()
        for bank, effects in boards:  # compile outside the measurement
            effects.process(bank.process(block).sum(axis=0), TONE)
        blocks = int(AUDIO_SECONDS * SAMPLE_RATE / block)
        start = time.process_time()
        for _ in range(blocks):
            for bank, effects in boards:
                effects.process(bank.process(block).sum(axis=0), TONE)
        share = (time.process_time() - start) / (blocks * block / SAMPLE_RATE)
        print(f"  block {block:5d} frames: {100 * share:5.1f} % of one core")


if __name__ == "__main__":
    main()
