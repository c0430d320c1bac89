"""The emulated sound board: JX voice DSP, batch renderer and streaming voice bank."""
