"""Programming time per take over MIDI, and the read-back's cost, at MIDI's receive rate.

No receive rate is documented for the JX-10/MKS-70 beyond MIDI's own (31,250 baud, 3,125
bytes/s), plus the pause this project leaves after each SysEx message (SYSEX_GAP_S), so
the figures are computed from the bytes the rig would send (``tone_sysex``, the code the
rig runs) for the first 1,000 tones of each job, in order (the sweep's 128, the OS4 bank's 50):

* whole tone: stock APR (67 bytes) / OS4 APR (109 bytes) every take;
* OS4 IPR only: one 10-byte IPR per parameter that changed since the last tone;
* the rig with ``tone_message = "ipr"``: those IPRs, or the whole tone where that is quicker;
* read-back: the edit-buffer request (9 bytes) and its answer (309 bytes) every N takes,
  against the take's own length (the default capture: 0.1 s pre-roll, 4 s hold, up to 2 s
  tail) and a short one (0.1 + 0.3 + 0.2 s).

    .venv/bin/python benchmarks/midi_programming.py
"""

from __future__ import annotations

from pathlib import Path
from statistics import mean

from daq import sampling
from daq.banks import LocalFiles
from daq.instruments.midi_synth import MIDI_BYTES_PER_S, SYSEX_GAP_S, sysex_time_s, tone_sysex
from daq.spec import CaptureSpec, SamplingSpec
from firmware_protocol.parameters import PATCH_APR_LENGTH, THESIS_SUBSET
from firmware_protocol.patch import Patch, PatchLayout
from firmware_protocol.sysex import (
    IPR,
    Device,
    EditBuffer,
    EditBufferRequest,
    Firmware,
    Level,
    read_syx,
)
from firmware_protocol.tone import INIT_TONE, Tone

OS4_DUMP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mks70"
TAKES = 1000
INTERVALS = (1, 10, 50)


def jobs() -> dict[str, list[Tone]]:
    def sampled(source: dict[str, object], **extra: object) -> list[Tone]:
        spec = SamplingSpec.model_validate({"source": source, **extra},
                                           context={"banks": LocalFiles()})  # fmt: skip
        return sampling.tones(spec, 1, range(min(TAKES, sampling.source_length(spec) or TAKES)))

    bank = [e.item for e in read_syx(OS4_DUMP / "mks70-bulk-dump-vecoven-os4.syx").tones]
    return {
        "sweep VCF FREQ": sampled({"kind": "sweep", "parameter": "VCF FREQ", "steps": 128}),
        "prior, vary 26": sampled({"kind": "prior"}, vary=list(THESIS_SUBSET)),
        "uniform, all 44": sampled({"kind": "uniform"}),
        "OS4 bank (50)": [t for t in bank if isinstance(t, Tone)],
    }


def per_take_s(tones: list[Tone], firmware: Firmware, message: str) -> tuple[float, float]:
    """Mean seconds and bytes per take to program ``tones`` in order, as the rig does."""
    held: Tone | None = INIT_TONE
    seconds, sizes = [], []
    for tone in tones:
        wires = tone_sysex(tone, held, firmware, message)  # type: ignore[arg-type]
        seconds.append(sum(sysex_time_s(w) for w in wires))
        sizes.append(sum(len(w) for w in wires))
        held = tone
    return mean(seconds), mean(sizes)


def ipr_only_s(tones: list[Tone]) -> tuple[float, float]:
    """The same with OS4 IPR for every change, however many (what the rig does not do)."""
    ipr = IPR(Device.MKS70, 0, Level.TONE, 1, 0, 0, Firmware.OS4).encode()
    changes = [
        len(tone.differing_os4(held))
        for held, tone in zip([INIT_TONE, *tones], tones, strict=False)
    ]
    return mean(changes) * sysex_time_s(ipr), mean(changes) * len(ipr)


def readback_s() -> float:
    request = EditBufferRequest(0).encode()
    patch = Patch(bytes(PATCH_APR_LENGTH), PatchLayout.APR)
    answer = EditBuffer(0, 0, patch, (0, 0), (INIT_TONE, INIT_TONE)).encode()
    return sysex_time_s(request) + len(answer) / MIDI_BYTES_PER_S


def main() -> None:
    print(f"MIDI IN at {MIDI_BYTES_PER_S:,.0f} bytes/s, {SYSEX_GAP_S * 1000:g} ms after each "
          f"SysEx; up to {TAKES} takes per job, programmed in order")  # fmt: skip
    header = (f"{'job':<18}{'stock APR':>16}{'OS4 APR':>16}{'OS4 IPR only':>16}"
              f"{'rig (OS4 ipr)':>16}{'rig/APR':>9}")  # fmt: skip
    print(header)
    for label, tones in jobs().items():
        stock = per_take_s(tones, Firmware.STOCK, "apr")
        whole = per_take_s(tones, Firmware.OS4, "apr")
        delta = per_take_s(tones, Firmware.OS4, "ipr")
        columns = (stock, whole, ipr_only_s(tones), delta)
        cells = "".join(f"{s * 1000:>8.1f} ms{b:>5.0f}B" for s, b in columns)
        print(f"{label:<18}{cells}{delta[0] / whole[0]:>9.2f}")
    cost = readback_s()
    print(f"read-back: {cost * 1000:.1f} ms each (request 9 B + answer 309 B)")
    for spec, name in ((CaptureSpec(), "default take"),
                       (CaptureSpec(hold_s=0.3, tail={"max_s": 0.2}), "short take")):  # fmt: skip
        take = spec.max_take_s
        cells = ", ".join(f"every {n}: {cost / n * 1000:.1f} ms/take "
                          f"({cost / n / take:.2%})" for n in INTERVALS)  # fmt: skip
        print(f"  {name} ({take:g} s): {cells}")


if __name__ == "__main__":
    main()
