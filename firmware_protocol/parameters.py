"""The one table of Super JX / JX-8P parameters.

Every other module (codecs, emulator, sampling, catalog, models) reads this table; nothing
re-states a parameter's name, index, code or range anywhere else.

Facts and their confidence are in the project's PROTOCOL.md, section 4. Uncertain choices
are made here, once:

* Switch encoding. A switch is sent as the top bits of its 7-bit value. An N-way switch
  uses the smallest power of two >= N slots, so 4-way and 3-way switches step by 32 and
  2-way switches by 64 (real dumps: CHORUS and LFO WF only ever hold 0/32/64). Decoding is
  by threshold, never exact match, because real dumps hold off-grid values (52, 86, 103);
  a value past the last label (e.g. 96 on a 3-way switch) reads as the last label.
* APR 57 (board code 0xAE) is unused/unknown: it is kept byte-exact in a tone but is not a
  tone parameter. APR 23..25 (codes 0x8C..0x8E) are patch-level controls on the board.
* Board controls 0xB0..0xBF carry both the disassembly's name and the driver table's
  meaning where they disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

#: Number of data bytes in a tone's APR (and BLD) message body.
APR_TONE_LENGTH = 59
#: APR indexes 0..9 hold the tone's name.
NAME_LENGTH = 10
#: First APR index that holds a tone parameter; board code = 0x80 + (apr_index - 11).
FIRST_PARAMETER_INDEX = 11
BOARD_CODE_BASE = 0x80
MAX_VALUE = 127

_RANGES = ("16'", "8'", "4'", "2'")
_WAVEFORMS = ("noise", "square", "pulse", "saw")
_LEVELS = ("off", "1", "2", "3")
_ENV_MODES = ("ENV2 inverted", "ENV2", "ENV1 inverted", "ENV1")


def board_code(apr_index: int) -> int:
    """The voice-board status byte that sets the tone byte at ``apr_index``."""
    return BOARD_CODE_BASE + apr_index - FIRST_PARAMETER_INDEX


def apr_index_of(code: int) -> int:
    """The APR index set by voice-board status byte ``code`` (0x80..0xAF)."""
    return code - BOARD_CODE_BASE + FIRST_PARAMETER_INDEX


class _Values:
    """How a 7-bit tone byte reads: a continuous 0..127 value or an N-way switch.

    Shared by the stock and the Vecoven OS4 parameters, whose switches follow one rule.
    """

    __slots__ = ()
    name: str
    labels: tuple[str, ...]

    @property
    def key(self) -> str:
        """A Python/SQL/JSON-friendly identifier: ``"DCO1 RANGE"`` -> ``"dco1_range"``."""
        return self.name.lower().replace(" ", "_")

    @property
    def is_switch(self) -> bool:
        return bool(self.labels)

    @property
    def ways(self) -> int:
        """Number of positions of a switch (0 for a continuous parameter)."""
        return len(self.labels)

    @property
    def step(self) -> int:
        """Raw-value distance between switch positions (see the module docstring)."""
        slots = 1 << (self.ways - 1).bit_length()
        return 128 // slots

    def position(self, raw: int) -> int:
        """Switch position for any raw byte, by threshold; tolerant of off-grid values."""
        return min(raw // self.step, self.ways - 1)

    def label(self, raw: int) -> str:
        """Human-readable value: the switch label, or the number for continuous values."""
        return self.labels[self.position(raw)] if self.labels else str(raw)

    def canonical(self, position: int) -> int:
        """The raw byte the stock firmware writes for switch ``position``."""
        return position * self.step

    def allowed(self) -> str:
        """The allowed range, worded for error messages."""
        if self.labels:
            return f"0..127 (switch positions 0..{self.ways - 1}: {', '.join(self.labels)})"
        return "0..127"


@dataclass(frozen=True, slots=True)
class ToneParameter(_Values):
    """One tone parameter: a continuous 0..127 value or an N-way switch."""

    name: str
    apr_index: int
    labels: tuple[str, ...] = ()
    description: str = ""

    @property
    def code(self) -> int:
        """Voice-board status byte (0x80..0xAF)."""
        return board_code(self.apr_index)


def _p(name: str, apr_index: int, labels: tuple[str, ...] = (), description: str = ""):
    return ToneParameter(name, apr_index, labels, description)


#: The 44 tone parameters, in APR order.
TONE_PARAMETERS: tuple[ToneParameter, ...] = (
    _p("DCO1 RANGE", 11, _RANGES, "footage of oscillator 1"),
    _p("DCO1 WF", 12, _WAVEFORMS, "order agreed by 3 of 4 sources"),
    _p("DCO1 TUNE", 13, (), "coarse tune; panel shows -12..+12 semitones"),
    _p("DCO1 LFO", 14, (), "pitch modulation depth by the LFO"),
    _p("DCO1 ENV", 15, (), "pitch modulation depth by the envelope"),
    _p("DCO2 RANGE", 16, _RANGES),
    _p("DCO2 WF", 17, _WAVEFORMS),
    _p("DCO XMOD", 18, ("off", "sync 1", "sync 2", "xmod"), "cross-modulation / sync"),
    _p("DCO2 TUNE", 19),
    _p("DCO2 FTUNE", 20, (), "fine tune"),
    _p("DCO2 LFO", 21),
    _p("DCO2 ENV", 22),
    _p("DCO DYNA", 26, _LEVELS, "velocity sensitivity of the pitch envelope"),
    _p("DCO ENV MODE", 27, _ENV_MODES),
    _p("MIX DCO1", 28),
    _p("MIX DCO2", 29),
    _p("MIX ENV", 30, (), "envelope amount on DCO2's level"),
    _p("MIX DYNA", 31, _LEVELS),
    _p("MIX MODE", 32, _ENV_MODES),
    _p("HPF FREQ", 33, ("0", "1", "2", "3"), "0 = no filtering"),
    _p("VCF FREQ", 34),
    _p("VCF RES", 35),
    _p("VCF LFO", 36),
    _p("VCF ENV", 37),
    _p("VCF KEY", 38, (), "keyboard tracking"),
    _p("VCF DYNA", 39, _LEVELS),
    _p("VCF MODE", 40, _ENV_MODES),
    _p("VCA LEVEL", 41, (), "the stock assigner rescales it for balance and volume"),
    _p("VCA DYNA", 42, _LEVELS),
    _p("CHORUS", 43, ("off", "1", "2")),
    _p("LFO WF", 44, ("random", "square", "triangle")),
    _p("LFO DELAY", 45),
    _p("LFO RATE", 46),
    _p("ENV1 ATTACK", 47),
    _p("ENV1 DECAY", 48),
    _p("ENV1 SUSTAIN", 49),
    _p("ENV1 RELEASE", 50),
    _p("ENV1 KEY", 51, _LEVELS, "keyboard follow of the envelope times"),
    _p("ENV2 ATTACK", 52),
    _p("ENV2 DECAY", 53),
    _p("ENV2 SUSTAIN", 54),
    _p("ENV2 RELEASE", 55),
    _p("ENV2 KEY", 56, _LEVELS),
    _p("VCA MODE", 58, ("gate", "ENV2")),
)

#: APR indexes inside the tone body that are not tone parameters; kept byte-exact.
#: 10: unused; 23..25: patch-level aftertouch controls on the board; 57: unknown.
UNUSED_TONE_INDEXES: tuple[int, ...] = (10, 23, 24, 25, 57)

BY_NAME: MappingProxyType[str, ToneParameter] = MappingProxyType(
    {p.name: p for p in TONE_PARAMETERS}
)
BY_KEY: MappingProxyType[str, ToneParameter] = MappingProxyType({p.key: p for p in TONE_PARAMETERS})
BY_CODE: MappingProxyType[int, ToneParameter] = MappingProxyType(
    {p.code: p for p in TONE_PARAMETERS}
)
CONTINUOUS: tuple[ToneParameter, ...] = tuple(p for p in TONE_PARAMETERS if not p.is_switch)
SWITCHES: tuple[ToneParameter, ...] = tuple(p for p in TONE_PARAMETERS if p.is_switch)

#: The 26 parameters the thesis's simplified simulator kept (PROTOCOL.md section 5): it
#: dropped key follow, dynamics and envelope-select switches. Used as a training subset.
THESIS_SUBSET: tuple[str, ...] = (
    "DCO1 RANGE", "DCO1 WF", "DCO1 TUNE", "DCO1 LFO", "DCO1 ENV",
    "DCO2 RANGE", "DCO2 WF", "DCO XMOD", "DCO2 TUNE", "DCO2 FTUNE", "DCO2 LFO", "DCO2 ENV",
    "MIX DCO1", "MIX DCO2", "MIX ENV",
    "VCF FREQ", "VCF RES", "VCF LFO", "VCF ENV",
    "VCA LEVEL",
    "LFO WF", "LFO DELAY", "LFO RATE",
    "ENV1 ATTACK", "ENV1 DECAY", "ENV1 SUSTAIN",
)  # fmt: skip


def lookup(name_or_key: str) -> ToneParameter:
    """Find a tone parameter by its panel name (``"VCF FREQ"``) or key (``"vcf_freq"``)."""
    parameter = BY_NAME.get(name_or_key.upper()) or BY_KEY.get(name_or_key.lower())
    if parameter is None:
        raise KeyError(f"unknown tone parameter {name_or_key!r}; known: {', '.join(BY_NAME)}")
    return parameter


@dataclass(frozen=True, slots=True)
class BoardControl:
    """A voice-board status byte outside the tone: 0x8C..0x8E, 0xAE and 0xB0..0xBF.

    ``name`` is the firmware disassembly's name; ``meaning`` is what the open-source
    drivers use it for, where that is known (PROTOCOL.md section 2 and 4).
    """

    code: int
    name: str
    meaning: str
    confidence: str


BOARD_CONTROLS: tuple[BoardControl, ...] = (
    BoardControl(0x8C, "AFTER.VIB", "aftertouch vibrato depth (patch level)", "confirmed"),
    BoardControl(0x8D, "AFTER.BRI", "aftertouch brilliance depth (patch level)", "confirmed"),
    BoardControl(0x8E, "AFTER.VOL", "aftertouch volume depth (patch level)", "confirmed"),
    BoardControl(0xAE, "UNKNOWN.AE", "unused / unknown (0 or 127 in factory data)", "unknown"),
    BoardControl(0xB0, "PORTA.TIME", "portamento", "usage confirmed, meaning partly inferred"),
    BoardControl(0xB1, "MIDI.VOL", "volume", "disassembly name only"),
    BoardControl(0xB2, "BENDER", "pitch bend magnitude 0..7F", "confirmed"),
    BoardControl(0xB3, "AFTERTOUCH", "aftertouch amount", "confirmed (one driver)"),
    BoardControl(0xB4, "MASTER.TUNE1", "master tune", "partly inferred"),
    BoardControl(0xB5, "PORTA.SW", "sent as 00 after every tone load", "meaning unknown"),
    BoardControl(0xB6, "SILENCE", "7F in one driver's all-notes-off / reset", "inferred"),
    BoardControl(0xB7, "BEND.RANGE", "bend range", "present, meaning unknown"),
    BoardControl(0xB8, "AFTER.VIB.SW", "aftertouch vibrato switch", "present"),
    BoardControl(0xB9, "AFTER.BRI.SW", "aftertouch brilliance switch", "present"),
    BoardControl(0xBA, "AFTER.VOL.SW", "aftertouch volume switch", "present"),
    BoardControl(0xBB, "HOLD.SW", "hold pedal", "confirmed (one driver)"),
    BoardControl(0xBC, "MODULATION", "modulation wheel", "confirmed (one driver)"),
    BoardControl(0xBD, "CHECK.ENV.SW", "envelope check switch", "present, meaning unknown"),
    BoardControl(0xBE, "MASTER.TUNE2", "dual detune (centre 0x2C = A440)", "partly inferred"),
    BoardControl(0xBF, "BENDER.POLARITY", "bend sign: 00 down, 7F up", "confirmed"),
)
CONTROLS_BY_CODE: MappingProxyType[int, BoardControl] = MappingProxyType(
    {c.code: c for c in BOARD_CONTROLS}
)
CONTROLS_BY_NAME: MappingProxyType[str, BoardControl] = MappingProxyType(
    {c.name: c for c in BOARD_CONTROLS}
)


# -- Patch parameters (JX-10 / MKS-70), used over MIDI --------------------------------------
#
# A patch joins two tones (upper = tone A, lower = tone B) with play controls. It travels in
# two layouts, both kept byte-exact by firmware_protocol.patch.Patch:
#
# * APR body: ``F0 41 35 0n 24 30 01 <53 bytes> F7`` (61 bytes). The body index equals the
#   patch IPR parameter number. Source: the JX-10 MIDI implementation (manual v3.21,
#   "INDIVIDUAL PATCH PARAMETERS") for 0x00..0x2C, 0x33 and 0x34; 0x2D..0x32 only from
#   KnobKraft's MKS-70 adaptation; 0x25 and 0x2E are unknown (kept raw).
# * BLD body: the 48 bytes de-nibbled from a patch BLD (96 nibbles, high nibble first). Only
#   source: KnobKraft's MKS-70 adaptation (reverse engineered); checked here against the
#   stock dump (names, tone numbers < 100, switches only 0/1). Bytes 41..44 and 46 unknown.
#
# A parameter's value is assembled from bit fields, the first field giving the lowest bits,
# so that the same number means the same setting in both layouts. A parameter with no
# fields in a layout is not known there. Switch labels index that number.

#: Data bytes in a patch APR body and in a de-nibbled patch BLD body.
PATCH_APR_LENGTH = 53
PATCH_BULK_LENGTH = 48
#: Both layouts start with the patch name.
PATCH_NAME_LENGTH = 18

_MANUAL = "APR: JX-10 MIDI implementation; BLD: KnobKraft"
_KNOBKRAFT = "APR and BLD: KnobKraft only"
_OFF_ON = ("off", "on")


@dataclass(frozen=True, slots=True)
class BitField:
    """``width`` bits of body byte ``index``, starting at bit ``shift``."""

    index: int
    shift: int = 0
    width: int = 7

    def read(self, body: bytes) -> int:
        return (body[self.index] >> self.shift) & ((1 << self.width) - 1)


@dataclass(frozen=True, slots=True)
class PatchParameter:
    """One patch parameter and where it sits in the APR and BLD layouts."""

    name: str
    apr: tuple[BitField, ...]
    bulk: tuple[BitField, ...]
    labels: tuple[str, ...] = ()
    confidence: str = _MANUAL

    @property
    def key(self) -> str:
        return self.name.lower().replace(" ", "_").replace("/", "_")

    def label(self, value: int) -> str:
        """The switch label for ``value``, or the number itself."""
        return self.labels[value] if value < len(self.labels) else str(value)


def _apr(index: int, shift: int = 0, width: int = 7) -> tuple[BitField, ...]:
    return (BitField(index, shift, width),)


_bulk = _apr

#: Bend range: 2 bits (2, 3, 4, 7 semitones) plus a "12 semitones" bit above them.
_BEND_RANGES = ("2", "3", "4", "7", "12", "12", "12", "12")
_KEY_ASSIGN = ("poly 1", "unison 1", "mono 1", "?", "poly 2", "unison 2", "mono 2")

PATCH_PARAMETERS: tuple[PatchParameter, ...] = (
    PatchParameter("A/B BALANCE", _apr(0x12), _bulk(18)),
    PatchParameter("DUAL DETUNE", _apr(0x13), _bulk(19, width=8)),
    PatchParameter("UPPER SPLIT", _apr(0x14), _bulk(20)),
    PatchParameter("LOWER SPLIT", _apr(0x15), _bulk(21)),
    PatchParameter("PORTA TIME", _apr(0x16), _bulk(22, width=8)),
    # KnobKraft puts the "12 semitones" bit of the BLD at byte 47 bit 0, but the stock dump
    # holds 0x00/0x01/0x02/0x23/0xF9/0xFE there (no flag pattern): left out, byte kept raw.
    PatchParameter(
        "BEND RANGE",
        (BitField(0x17, 5, 2), BitField(0x34, 0, 1)),
        (BitField(18, 7, 1), BitField(26, 7, 1)),
        _BEND_RANGES,
    ),
    # Key mode: the manual's value table ("aa", "bb") was not found; numbers only.
    PatchParameter("KEY MODE AA", _apr(0x18), (), (), "APR: manual; value table unknown"),
    PatchParameter("KEY MODE BB", _apr(0x33), (), (), "APR: manual; value table unknown"),
    PatchParameter(
        "KEY MODE",
        (),
        (BitField(20, 7, 1), BitField(21, 7, 1), BitField(24, 7, 1), BitField(25, 7, 1)),
        (),
        "BLD: KnobKraft; value table unknown",
    ),
    PatchParameter("TOTAL VOLUME", _apr(0x19), _bulk(23, width=8)),
    PatchParameter("AFTER VIBRATO", _apr(0x1A), _bulk(24)),
    PatchParameter("AFTER BRILLIANCE", _apr(0x1B), _bulk(25)),
    PatchParameter("AFTER VOLUME", _apr(0x1C), _bulk(26)),
    PatchParameter("UPPER TONE", _apr(0x1D), _bulk(27), (), _MANUAL + "; 0..49 user, 50..99 ROM"),
    PatchParameter("UPPER CHROMATIC SHIFT", _apr(0x1E), _bulk(28, width=8)),
    # Key assign: the BLD encoding differs from the APR's (stock dump holds 1, 3, 9, 11, 13).
    PatchParameter("UPPER KEY ASSIGN", _apr(0x1F, width=3), (), _KEY_ASSIGN, "APR: manual"),
    PatchParameter("UPPER UNISON DETUNE", _apr(0x20), _bulk(29, width=8)),
    PatchParameter("UPPER HOLD", _apr(0x21, width=1), _bulk(27, 7, 1), _OFF_ON),
    PatchParameter("UPPER LFO MOD DEPTH", _apr(0x22), _bulk(30)),
    PatchParameter("UPPER PORTA", _apr(0x23, width=1), _bulk(30, 7, 1), _OFF_ON),
    PatchParameter("UPPER BENDER", _apr(0x24, width=1), _bulk(31, width=1), _OFF_ON),
    PatchParameter("LOWER TONE", _apr(0x26), _bulk(32), (), _MANUAL + "; 0..49 user, 50..99 ROM"),
    PatchParameter("LOWER CHROMATIC SHIFT", _apr(0x27), _bulk(33, width=8)),
    PatchParameter("LOWER KEY ASSIGN", _apr(0x28, width=3), (), _KEY_ASSIGN, "APR: manual"),
    PatchParameter("LOWER UNISON DETUNE", _apr(0x29), _bulk(34, width=8)),
    PatchParameter("LOWER HOLD", _apr(0x2A, width=1), _bulk(32, 7, 1), _OFF_ON),
    PatchParameter("LOWER LFO MOD DEPTH", _apr(0x2B), _bulk(35)),
    PatchParameter("LOWER PORTA", _apr(0x2C, width=1), _bulk(35, 7, 1), _OFF_ON),
    PatchParameter("LOWER BENDER", _apr(0x2D, width=1), _bulk(36, width=1), _OFF_ON, _KNOBKRAFT),
    PatchParameter("CHASE LEVEL", _apr(0x2F), _bulk(37), (), _KNOBKRAFT),
    PatchParameter("CHASE TIME", _apr(0x30), _bulk(38), (), _KNOBKRAFT),
    PatchParameter(
        "CHASE MODE", _apr(0x31, width=2), (BitField(37, 7, 1), BitField(38, 7, 1)), (), _KNOBKRAFT
    ),
    PatchParameter("CHASE PLAY", _apr(0x32, width=1), _bulk(45, 7, 1), _OFF_ON, _KNOBKRAFT),
)

PATCH_BY_NAME: MappingProxyType[str, PatchParameter] = MappingProxyType(
    {p.name: p for p in PATCH_PARAMETERS}
)
PATCH_BY_KEY: MappingProxyType[str, PatchParameter] = MappingProxyType(
    {p.key: p for p in PATCH_PARAMETERS}
)


def lookup_patch(name_or_key: str) -> PatchParameter:
    """Find a patch parameter by name (``"UPPER TONE"``) or key (``"upper_tone"``)."""
    parameter = PATCH_BY_NAME.get(name_or_key.upper()) or PATCH_BY_KEY.get(name_or_key.lower())
    if parameter is None:
        raise KeyError(
            f"unknown patch parameter {name_or_key!r}; known: {', '.join(PATCH_BY_NAME)}"
        )
    return parameter


# -- Vecoven OS4 tone parameters (JX-10 / MKS-70 with firmware 4.x) ------------------------
#
# OS4 replaces the tone format: 84 parameters (IPR 11..94) where the stock tone has 44. It
# adds pulse-width modulation per DCO, a second LFO, two 4-stage envelopes (ENV1, ENV2) and
# separate sources/dynamics per destination; the stock ADSR envelopes become ENV3 and ENV4.
# Sources (facts only; no code taken from them):
#
# * IPR numbers (``F0 41 39 0n 24 20 GG pp vv F7``), names, switch labels and their order:
#   the M4L_MKS-70 device by Markus Schloesser (github.com/markusschloesser/M4L_MKS-70,
#   v37, "Toneparams" subpatcher), written with Fred Vecoven's help, and its wiki page
#   "Sysex Info about the Vecoven v4 MKS70 JX10 firmware" (0x39 vs 0x36, 0x3D request).
# * Body layouts of the 0x38 tone APR (101 data bytes) and 0x3A tone BLD (78 data bytes,
#   switches packed as positions): KnobKraft-orm, adaptations/Roland_MKS70V4.py.
# * Checked here against ../shared/data/mks70/mks70-bulk-dump-vecoven-os4.syx: all 50 tones
#   hold ENV1 = 0, ENV2 = 0/127/0/127/0/127/0 (a gate), PWM width 64 (5 hold 0), LFO2 = 0,
#   LFO1 SYNC on, envelope sources ENV3/ENV4 and LFO1 on RND or SINE only: the shape a stock tone
#   takes when OS4 converts it, which is what ``neutral`` and the stock mapping below say.
#
# Choices made here, once:
#
# * APR switches are top-bit coded like the stock ones (the M4L device sends 0/32/64/96
#   for 4 ways, steps of 16 for 5 and 8 ways): the ``_Values`` rule holds.
# * Within ENV1/ENV2 the APR order t1 l1 t2 l2 t3 l3 t4 is the IPR order ATTACK TIME,
#   ATTACK LEVEL, DECAY, SLOPE LEVEL, SLOPE TIME, SUSTAIN, RELEASE (assumed, not documented).
# * Label order of the switches OS4 adds is the M4L device's display order. Its XMOD labels
#   run reversed from the stock order (kept here for every stock switch), so a new switch's
#   order could be reversed too; the dump confirms ENV3/ENV4 and LFO1 RND/SINE only.
# * Unknown and kept byte-exact: APR bytes in OS4_UNUSED_INDEXES, BLD byte 77 and the BLD
#   bits no field uses (byte 72 bit 2 is set in every dump tone). CHORUS is 2 bits in the
#   BLD and one dump tone holds 3 there: it reads as the last label ("2") and packs back.
# * Stock -> OS4: stock ENV1 is ENV3, stock ENV2 is ENV4, stock LFO triangle is SINE, stock
#   VCA MODE gate is ENV2 (which a converted tone holds as a gate shape). OS4 -> stock: the
#   inverse; an OS4 value with no stock equivalent is approximated and reported as lost.
# * The OS4 patch APR (0x38, 61 bytes) has the stock patch APR layout (the wiki: patch
#   messages are the same in v3 and v4). The OS4 patch BLD (0x3A) packs the stock 48-byte
#   BLD body plus one byte as 7 groups of 7 bytes + 1 byte of their top bits (bit 6 - i is
#   the top bit of byte i): checked on the dump's names and tone numbers.
# * Voice board: no source documents the OS4 board's ``FD oo`` page (PROTOCOL.md section 2).
#   Here ``FD 01`` prefixes exactly one following ``cc vv``, and code 0x80 + i sets the i-th
#   parameter of OS4_ADDED. Everything with a stock equivalent travels as the stock code.

#: Data bytes in the OS4 tone APR body, the OS4 tone BLD body and the unpacked patch BLD.
OS4_APR_TONE_LENGTH = 101
OS4_BULK_TONE_LENGTH = 78
OS4_PATCH_BULK_LENGTH = 49
#: The voice-board page that carries OS4_ADDED (``FD 01 cc vv``); see above.
OS4_BOARD_PAGE = 0x01

_LFO_SOURCES = ("LFO1 -", "LFO1 +", "LFO2 -", "LFO2 +")
_ENV_SOURCES = (
    "ENV1 -", "ENV1 +", "ENV2 -", "ENV2 +", "ENV3 -", "ENV3 +", "ENV4 -", "ENV4 +",
)  # fmt: skip
#: Stock ENV MODE positions (ENV2 inverted, ENV2, ENV1 inverted, ENV1) as OS4 sources...
_ENV_TO_OS4 = (6, 7, 4, 5)
#: ... and back: ENV1/ENV2 (the 4-stage ones) read as ENV3/ENV4's stock names, lost.
_ENV_FROM_OS4 = (2, 3, 0, 1, 2, 3, 0, 1)
_LFO_WAVES = ("RND", "SQR", "SAW -", "SAW +", "SINE")
_LFO_SYNC = ("off", "on", "key")
_ENV_KEYS = ("off", "1", "2", "3", "loop 0", "loop 1", "loop 2", "loop 3")
_GATE_ENV = (0, 127, 0, 127, 0, 127, 0)


@dataclass(frozen=True, slots=True)
class Os4Parameter(_Values):
    """One OS4 tone parameter and where it travels.

    ``ipr``: the parameter number of an OS4 tone IPR (0x39). ``apr_index``: its byte in the
    101-byte OS4 APR body. ``bulk``: its bits in the 78-byte OS4 BLD body (a switch as its
    position, low bits first). ``stock``: the stock parameter that holds the same setting
    (None: OS4 adds it); ``to_os4`` / ``from_os4`` map switch positions where the two label
    sets differ. ``neutral``: the raw value a tone converted from stock holds.
    """

    name: str
    ipr: int
    apr_index: int
    bulk: tuple[BitField, ...]
    labels: tuple[str, ...] = ()
    stock: str | None = None
    to_os4: tuple[int, ...] = ()
    from_os4: tuple[int, ...] = ()
    neutral: int = 0
    description: str = ""

    @property
    def board(self) -> tuple[int, int] | None:
        """``(page, code)`` on the voice board (``FD page code vv``) for an OS4-added
        parameter; None where the stock code carries it (see the choices above)."""
        code = OS4_BOARD_CODES.get(self.name)
        return None if code is None else (OS4_BOARD_PAGE, code)

    @property
    def stock_parameter(self) -> ToneParameter | None:
        return BY_NAME[self.stock] if self.stock else None

    def stock_raw(self, raw: int) -> int:
        """The stock byte for this OS4 byte (switches by position; off-grid bits kept
        where the positions are the same)."""
        stock = self.stock_parameter
        if stock is None or not self.from_os4:
            return raw
        return stock.canonical(self.from_os4[self.position(raw)])

    def from_stock(self, raw: int) -> int:
        """The OS4 byte for the stock parameter's byte ``raw``."""
        stock = self.stock_parameter
        if stock is None or not self.to_os4:
            return raw
        return self.canonical(self.to_os4[stock.position(raw)])

    def exact(self, raw: int) -> bool:
        """Whether a stock tone holds this OS4 byte without loss (alone; see convert)."""
        if self.stock is None:
            return raw == self.neutral
        if not self.from_os4:
            return True
        position = self.position(raw)
        return self.to_os4[self.from_os4[position]] == position


def _o(
    name: str,
    ipr: int,
    apr_index: int,
    bulk: tuple[BitField, ...] | None = None,
    labels: tuple[str, ...] = (),
    stock: str | None = None,
    **more,
) -> Os4Parameter:
    """A continuous parameter sits at the same index in the APR and the BLD body."""
    fields = _apr(apr_index) if bulk is None else bulk
    return Os4Parameter(name, ipr, apr_index, fields, labels, stock, **more)


def _env_mode(name: str, ipr: int, apr_index: int, bulk: tuple[BitField, ...], stock: str):
    """An envelope source: 8 ways in OS4, the stock ENV MODE's 4 mapped onto ENV3/ENV4."""
    return _o(
        name, ipr, apr_index, bulk, _ENV_SOURCES, stock, to_os4=_ENV_TO_OS4, from_os4=_ENV_FROM_OS4
    )


def _bits(index: int, shift: int, width: int, high: tuple[int, int] | None = None):
    """A packed BLD switch: ``width`` bits at ``shift``, plus a top bit elsewhere if given."""
    low = (BitField(index, shift, width),)
    return low + ((BitField(high[0], high[1], 1),) if high else ())


_STAGES = (
    "ATTACK TIME", "ATTACK LEVEL", "DECAY", "SLOPE LEVEL", "SLOPE TIME", "SUSTAIN", "RELEASE",
)  # fmt: skip


def _stages(n: int, first_ipr: int, first_index: int) -> tuple[Os4Parameter, ...]:
    """The seven levels and times of 4-stage envelope ``n`` (neutral: ENV1 0, ENV2 a gate)."""
    neutral = _GATE_ENV if n == 2 else (0,) * len(_STAGES)
    return tuple(
        _o(f"ENV{n} {stage}", first_ipr + i, first_index + i, neutral=neutral[i])
        for i, stage in enumerate(_STAGES)
    )


def _adsr(n: int, first_ipr: int, first_index: int) -> tuple[Os4Parameter, ...]:
    """ENV3 / ENV4: the stock ENV1 / ENV2 (an ADSR), under OS4's names."""
    return tuple(
        _o(f"ENV{n} {stage}", first_ipr + i, first_index + i, stock=f"ENV{n - 2} {stage}")
        for i, stage in enumerate(("ATTACK", "DECAY", "SUSTAIN", "RELEASE"))
    )


#: The 84 OS4 tone parameters, in IPR order.
OS4_TONE_PARAMETERS: tuple[Os4Parameter, ...] = (
    _o("DCO1 RANGE", 11, 64, _bits(64, 0, 2), _RANGES, "DCO1 RANGE"),
    _o("DCO1 WF", 12, 65, _bits(64, 2, 2), _WAVEFORMS, "DCO1 WF"),
    _o("DCO1 TUNE", 13, 11, stock="DCO1 TUNE"),
    _o("DCO1 LFO", 14, 12, stock="DCO1 LFO"),
    _o("DCO1 LFO SOURCE", 15, 72, _bits(66, 0, 2), _LFO_SOURCES, neutral=32),
    _o("DCO1 ENV", 16, 13, stock="DCO1 ENV"),
    _o("DCO1 DYNA", 17, 69, _bits(65, 2, 2), _LEVELS, "DCO DYNA"),
    _env_mode("DCO1 ENV MODE", 18, 83, _bits(69, 0, 3), "DCO ENV MODE"),
    _o("DCO2 RANGE", 19, 66, _bits(64, 4, 2), _RANGES, "DCO2 RANGE"),
    _o("DCO2 WF", 20, 67, _bits(64, 6, 1, (71, 6)), _WAVEFORMS, "DCO2 WF"),
    _o("DCO2 TUNE", 21, 14, stock="DCO2 TUNE"),
    _o("DCO2 LFO", 22, 16, stock="DCO2 LFO"),
    _o("DCO2 LFO SOURCE", 23, 73, _bits(66, 2, 2), _LFO_SOURCES, neutral=32),
    _o("DCO2 ENV", 24, 17, stock="DCO2 ENV"),
    _o("DCO2 DYNA", 25, 70, _bits(65, 4, 2), _LEVELS, "DCO DYNA"),
    _env_mode("DCO2 ENV MODE", 26, 84, _bits(69, 3, 3), "DCO ENV MODE"),
    _o("DCO XMOD", 27, 68, _bits(65, 0, 2), ("off", "sync 1", "sync 2", "xmod"), "DCO XMOD"),
    _o("DCO2 FTUNE", 28, 15, stock="DCO2 FTUNE"),
    _o("HPF FREQ", 29, 82, _bits(68, 6, 1, (71, 2)), ("0", "1", "2", "3"), "HPF FREQ"),
    _o("CHORUS", 30, 91, _bits(72, 6, 1, (76, 3)), ("off", "1", "2"), "CHORUS"),
    _o("PWM1 WIDTH", 31, 18, neutral=64, description="pulse width of DCO1; 64 = stock pulse"),
    _o("PWM1 ENV", 32, 19, description="pulse-width modulation depth by an envelope"),
    _o("PWM1 LFO", 33, 20, description="pulse-width modulation depth by an LFO"),
    _o("PWM1 LFO SOURCE", 34, 74, _bits(66, 4, 2), _LFO_SOURCES),
    _o("PWM1 DYNA", 35, 76, _bits(67, 0, 2), _LEVELS),
    _o("PWM1 ENV SOURCE", 36, 95, _bits(74, 0, 3), _ENV_SOURCES),
    _o("PWM2 WIDTH", 37, 21, neutral=64, description="pulse width of DCO2; 64 = stock pulse"),
    _o("PWM2 ENV", 38, 22),
    _o("PWM2 LFO", 39, 23),
    _o("PWM2 LFO SOURCE", 40, 75, _bits(66, 6, 1, (71, 4)), _LFO_SOURCES),
    _o("PWM2 DYNA", 41, 77, _bits(67, 2, 2), _LEVELS),
    _o("PWM2 ENV SOURCE", 42, 96, _bits(74, 3, 3), _ENV_SOURCES),
    _o("MIX DCO1", 43, 24, stock="MIX DCO1"),
    _o("MIX DCO2", 44, 25, stock="MIX DCO2"),
    _o("MIX ENV", 45, 26, stock="MIX ENV"),
    _o("MIX DYNA", 46, 71, _bits(65, 6, 1, (71, 5)), _LEVELS, "MIX DYNA"),
    _env_mode("MIX MODE", 47, 86, _bits(70, 0, 3), "MIX MODE"),
    _o("VCF FREQ", 48, 27, stock="VCF FREQ"),
    _o("VCF RES", 49, 28, stock="VCF RES"),
    _o("VCF LFO", 50, 29, stock="VCF LFO", description="cutoff modulation depth by LFO1"),
    _o("VCF LFO2", 51, 30, description="cutoff modulation depth by LFO2"),
    _o("VCF ENV", 52, 31, stock="VCF ENV"),
    _o("VCF KEY", 53, 32, stock="VCF KEY"),
    _o("VCF DYNA", 54, 88, _bits(70, 6, 1, (71, 0)), _LEVELS, "VCF DYNA"),
    _env_mode("VCF MODE", 55, 87, _bits(70, 3, 3), "VCF MODE"),
    _o("VCA LEVEL", 56, 33, stock="VCA LEVEL"),
    _o(
        "VCA MODE",
        57,
        89,
        _bits(72, 0, 2),
        ("ENV1", "ENV2", "ENV3", "ENV4"),
        "VCA MODE",
        to_os4=(1, 3),
        from_os4=(0, 0, 1, 1),
        description="the envelope that drives the VCA",
    ),
    _o("VCA DYNA", 58, 85, _bits(69, 6, 1, (71, 1)), _LEVELS, "VCA DYNA"),
    _o(
        "LFO1 WF",
        59,
        90,
        _bits(72, 3, 3),
        _LFO_WAVES,
        "LFO WF",
        to_os4=(0, 1, 4),
        from_os4=(0, 1, 2, 2, 2),
    ),
    _o("LFO1 DELAY", 60, 34, stock="LFO DELAY"),
    _o("LFO1 RATE", 61, 35, stock="LFO RATE"),
    _o("LFO1 LFO2", 62, 36, description="LFO1 modulated by LFO2 (meaning inferred from the name)"),
    _o("LFO1 SYNC", 63, 78, _bits(67, 4, 2), _LFO_SYNC, neutral=32),
    _o("LFO2 WF", 64, 92, _bits(73, 0, 3), _LFO_WAVES),
    _o("LFO2 DELAY", 65, 37),
    _o("LFO2 RATE", 66, 38),
    _o("LFO2 LFO1", 67, 39, description="LFO2 modulated by LFO1 (meaning inferred from the name)"),
    _o("LFO2 SYNC", 68, 79, _bits(67, 6, 1, (71, 3)), _LFO_SYNC),
    *_stages(1, 69, 40),
    _o("ENV1 KEY", 76, 80, _bits(68, 0, 3), _ENV_KEYS),
    *_stages(2, 77, 47),
    _o("ENV2 KEY", 84, 81, _bits(68, 3, 3), _ENV_KEYS),
    *_adsr(3, 85, 54),
    _o("ENV3 KEY", 89, 93, _bits(73, 3, 3), _LEVELS, "ENV1 KEY"),
    *_adsr(4, 90, 58),
    _o("ENV4 KEY", 94, 98, _bits(75, 0, 3), _LEVELS, "ENV2 KEY"),
)

#: OS4 APR bytes that are no parameter: 10 (an 11th name character or unused, as on
#: stock), 62, 63, 94, 97, 99, 100 (unknown); kept byte-exact.
OS4_UNUSED_INDEXES: tuple[int, ...] = (10, 62, 63, 94, 97, 99, 100)
#: The parameters OS4 adds (no stock equivalent), in IPR order; also the FD-page order.
OS4_ADDED: tuple[Os4Parameter, ...] = tuple(p for p in OS4_TONE_PARAMETERS if p.stock is None)
OS4_BY_NAME: MappingProxyType[str, Os4Parameter] = MappingProxyType(
    {p.name: p for p in OS4_TONE_PARAMETERS}
)
OS4_BY_IPR: MappingProxyType[int, Os4Parameter] = MappingProxyType(
    {p.ipr: p for p in OS4_TONE_PARAMETERS}
)
#: Voice-board code of each OS4-added parameter on page OS4_BOARD_PAGE.
OS4_BOARD_CODES: MappingProxyType[str, int] = MappingProxyType(
    {p.name: BOARD_CODE_BASE + i for i, p in enumerate(OS4_ADDED)}
)
OS4_BY_BOARD_CODE: MappingProxyType[int, Os4Parameter] = MappingProxyType(
    {BOARD_CODE_BASE + i: p for i, p in enumerate(OS4_ADDED)}
)


def lookup_os4(name_or_key: str) -> Os4Parameter:
    """Find an OS4 tone parameter by name (``"PWM1 WIDTH"``) or key (``"pwm1_width"``)."""
    parameter = OS4_BY_NAME.get(name_or_key.upper().replace("_", " "))
    if parameter is None:
        raise KeyError(
            f"unknown OS4 tone parameter {name_or_key!r}; known: {', '.join(OS4_BY_NAME)}"
        )
    return parameter
