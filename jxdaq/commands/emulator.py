"""``jxdaq emulator``: the emulated sound board, served behind real devices or rendered to files.

``serve`` runs the board as its own process (a serial pty or pyserial URL, an optional
virtual MIDI input, audio out through PortAudio: the mix, or each board on its own channel);
``render`` plays one tone of a .syx file into a WAV file (and a spectrogram picture) to
listen to and look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from daq.emulator.assigner import KeyMode

if TYPE_CHECKING:
    import numpy as np

app = typer.Typer(
    help="The emulated Super JX sound board: serve it behind devices, or render tones.",
    no_args_is_help=True,
)

_NONE = "none"


@app.command()
def serve(
    serial: Annotated[
        str,
        typer.Option(
            help="'pty' (a new pseudo-terminal; its path is printed), a pyserial "
            "URL or device path, or 'none'."
        ),
    ] = "pty",
    midi_in: Annotated[
        str | None,
        typer.Option(help="Open a virtual MIDI input port of this name (whole-synth MIDI)."),
    ] = None,
    midi_backend: Annotated[
        str,
        typer.Option(help="mido backend, e.g. mido.backends.rtmidi/UNIX_JACK or /LINUX_ALSA."),
    ] = "mido.backends.rtmidi",
    midi_channel: Annotated[int, typer.Option(min=1, max=16, help="MIDI channel, 1..16.")] = 1,
    key_mode: Annotated[
        KeyMode, typer.Option(help="Board(s) a MIDI key plays.", case_sensitive=False)
    ] = KeyMode.UPPER,
    audio_device: Annotated[
        str | None,
        typer.Option(
            help="PortAudio output device (name or index); 'none' for no audio. "
            "Default: PortAudio's default output."
        ),
    ] = None,
    outputs: Annotated[
        str,
        typer.Option(
            help="What each output channel plays: 'mix' (both boards summed, on every "
            "channel), 'boards' (each board on a channel of its own; the 'audio:' line "
            "printed at start says which) or SOURCE=CHANNEL,... (SOURCE: mix, lower, upper; "
            "channels from 1; unnamed channels are silent)."
        ),
    ] = "mix",
    channels: Annotated[
        int | None,
        typer.Option(
            min=1, help="Output channels. Default: the highest channel --outputs names (mix: 1)."
        ),
    ] = None,
    sample_rate: Annotated[int, typer.Option(help="Hz.")] = 48000,
    block: Annotated[int, typer.Option(min=16, help="Frames per audio block.")] = 256,
    seed: Annotated[int, typer.Option(help="Seed of noise and random LFOs.")] = 0,
    command_delay_ms: Annotated[
        float | None,
        typer.Option(
            min=1.0,
            help="Play each command this long after it arrives, to the sample (a fixed "
            "latency like a real board's); default: at the next audio block.",
        ),
    ] = None,
    output_latency_ms: Annotated[
        float | None,
        typer.Option(
            min=1.0,
            help="Audio the output keeps queued; more rides out a loaded CPU without "
            "underruns (keep it below --command-delay-ms). Default: PortAudio's 'high'.",
        ),
    ] = None,
) -> None:
    """Run the emulated board until interrupted; prints each opened side, then 'ready'."""
    import signal
    import threading

    from daq.emulator.assigner import AssignerSettings
    from daq.emulator.outputs import OutputMap
    from daq.emulator.serve import ServeConfig
    from daq.emulator.serve import serve as run

    try:
        output_map = OutputMap.parse(outputs, channels)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--outputs") from None
    try:
        config = ServeConfig(
            serial=None if serial == _NONE else serial,
            midi_in=midi_in,
            midi_backend=midi_backend,
            audio_device=int(audio_device) if (audio_device or "").isdigit() else audio_device,
            outputs=output_map,
            sample_rate=sample_rate,
            block_frames=block,
            seed=seed,
            assigner=AssignerSettings(channel=midi_channel - 1, key_mode=key_mode),
            command_delay_s=None if command_delay_ms is None else command_delay_ms / 1000,
            output_latency_s=None if output_latency_ms is None else output_latency_ms / 1000,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--output-latency-ms") from None
    stop = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in signals}
    try:
        counters = run(config, stop, announce=lambda line: print(line, flush=True))
    except (OSError, ImportError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    typer.echo(
        f"stopped: {counters.serial_bytes} serial bytes, {counters.midi_messages} MIDI "
        f"messages, {counters.dropped_commands} commands cut short, "
        f"{counters.late_commands} commands late for their sample, "
        f"{counters.audio_problems} audio under/overflows"
    )


@app.command()
def render(
    syx: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="A .syx file.")],
    out: Annotated[Path, typer.Option(help="WAV file to write.")],
    tone: Annotated[int, typer.Option(min=1, help="The tone's position in the file, from 1.")] = 1,
    note: Annotated[int, typer.Option(min=0, max=127, help="MIDI key.")] = 60,
    velocity: Annotated[int, typer.Option(min=1, max=127)] = 100,
    hold: Annotated[float, typer.Option(min=0.0, help="Seconds the key is held.")] = 2.0,
    release: Annotated[float, typer.Option(min=0.0, help="Seconds of tail after release.")] = 1.0,
    sample_rate: Annotated[int, typer.Option(help="44100 or 48000 Hz.")] = 44100,
    seed: Annotated[int, typer.Option(help="Seed of noise and random LFOs.")] = 0,
    png: Annotated[Path | None, typer.Option(help="Also draw a spectrogram here.")] = None,
) -> None:
    """Render one tone of a .syx file to WAV (and a spectrogram PNG)."""
    import numpy as np
    import soundfile

    from daq.emulator.render import Note
    from daq.emulator.render import render as render_tones
    from firmware_protocol.sysex import SysExError, read_syx

    try:
        tones = read_syx(syx).tones
    except SysExError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    if not 1 <= tone <= len(tones):
        raise typer.BadParameter(f"{syx} holds {len(tones)} tones; got {tone}", param_hint="--tone")
    chosen = tones[tone - 1].item
    audio = render_tones([chosen], Note(note, velocity), hold, release, sample_rate, seed=seed)[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(out, audio, sample_rate, subtype="FLOAT")
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    typer.echo(
        f"{chosen.name!r} key {note}: {audio.size / sample_rate:.2f} s, peak {peak:.3f} -> {out}"
    )
    if png is not None:
        _spectrogram(audio, sample_rate, f"{chosen.name} (tone {tone}, key {note})", png)
        typer.echo(f"spectrogram -> {png}")


def _spectrogram(audio: np.ndarray, sample_rate: int, title: str, path: Path) -> None:
    """A spectrogram picture (dB below the loudest cell), drawn with matplotlib (training extra)."""
    import numpy as np
    from scipy.signal import spectrogram

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        typer.echo("error: --png needs matplotlib: pip install 'jx-daq[training]'", err=True)
        raise typer.Exit(1) from None
    freqs, times, power = spectrogram(audio, sample_rate, nperseg=2048, noverlap=1536)
    db = 10 * np.log10(power + 1e-20)
    figure, axes = plt.subplots(figsize=(10, 4), dpi=100)
    top = float(db.max())
    mesh = axes.pcolormesh(
        times, freqs[1:], db[1:], shading="auto", cmap="magma", vmin=top - 90, vmax=top
    )
    figure.colorbar(mesh, ax=axes, label="dB")
    axes.set_yscale("log")
    axes.set(title=title, xlabel="s", ylabel="Hz", ylim=(30, sample_rate / 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, bbox_inches="tight")
    plt.close(figure)


if __name__ == "__main__":
    app()
