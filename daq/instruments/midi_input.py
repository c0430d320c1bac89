"""A MIDI input read by polling rtmidi's own queue: no Python runs in the MIDI thread.

mido's rtmidi input always installs a Python callback, which rtmidi calls from JACK's
process thread; there it must take the GIL, and a JACK client that misses cycles while it
waits loses their events (a garbled answer, a dropped tone parameter). python-rtmidi
without a callback queues messages in C++, to be polled from any thread.
"""

from __future__ import annotations

from typing import Any

#: Messages rtmidi keeps until they are polled.
QUEUE_SIZE = 4096


def rtmidi_api(backend: str | None) -> int:
    """rtmidi's API number for a mido backend name (``mido.backends.rtmidi/UNIX_JACK``;
    None: rtmidi's default)."""
    import rtmidi

    module, _, api = (backend or "mido.backends.rtmidi").partition("/")
    if module != "mido.backends.rtmidi":
        raise ValueError(f"a polled MIDI input needs an rtmidi backend, got {backend!r}")
    if api and not hasattr(rtmidi, f"API_{api}"):
        raise ValueError(f"unknown rtmidi API {api!r} in {backend!r}")
    return int(getattr(rtmidi, f"API_{api}")) if api else int(rtmidi.API_UNSPECIFIED)


class PolledInput:
    """A MIDI input port: ``name`` to connect to, or with ``virtual`` a port of that name."""

    def __init__(self, name: str, backend: str | None, client: str, virtual: bool = False):
        import rtmidi

        self._in: Any = rtmidi.MidiIn(rtmidi_api(backend), client, QUEUE_SIZE)
        try:
            self._in.ignore_types(sysex=False, timing=True, active_sense=True)
            if virtual:
                self._in.open_virtual_port(name)
            else:
                ports = self._in.get_ports()
                if name not in ports:
                    raise ValueError(f"no MIDI input {name!r}")
                self._in.open_port(ports.index(name))
        except BaseException:
            self._in.delete()
            raise

    @staticmethod
    def names(backend: str | None) -> list[str]:
        import rtmidi

        probe = rtmidi.MidiIn(rtmidi_api(backend))
        try:
            return list(probe.get_ports())
        finally:
            probe.delete()

    def poll(self) -> bytes | None:
        """The next message's bytes, or None if none has come."""
        message = self._in.get_message()
        return None if message is None else bytes(message[0])

    def drain(self) -> None:
        while self._in.get_message() is not None:
            pass

    def close(self) -> None:
        self._in.close_port()
        self._in.delete()
