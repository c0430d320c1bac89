"""The jx-daq service: instruments, audio, emulator, capture, workers, API and CLI."""
