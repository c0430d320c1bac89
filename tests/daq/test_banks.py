"""Reading .syx banks: what the file is, where it may be, what it holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daq.banks import MAX_SYX_BYTES, BankError, BanksDir, LocalFiles, bank_tones, read_syx_file
from firmware_protocol.sysex import PGR, Device, Level, jx8p_bank
from firmware_protocol.tone import INIT_TONE

BANK = jx8p_bank([INIT_TONE, INIT_TONE.replace(vcf_res=9)])


def test_a_cut_bank_names_the_file_and_the_offset() -> None:
    with pytest.raises(BankError, match=r"cut\.syx: byte 40: JX-8P tone APR"):
        bank_tones(BANK[:40], "cut.syx")


def test_a_file_without_tones_is_no_bank() -> None:
    program = PGR(Device.JX8P, 0, Level.TONE, 1, 3, 2).encode()
    with pytest.raises(BankError, match=r"program\.syx: no tones in this \.syx file"):
        bank_tones(program, "program.syx")


@pytest.mark.timeout(30)
def test_only_regular_files_up_to_the_limit_are_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.syx")
    (tmp_path / "full.syx").write_bytes(bytes(MAX_SYX_BYTES))
    (tmp_path / "over.syx").write_bytes(bytes(MAX_SYX_BYTES + 1))
    assert len(read_syx_file(tmp_path / "full.syx")) == MAX_SYX_BYTES
    for name, says in (
        ("fifo.syx", "not a regular file"),
        ("over.syx", "larger than"),
        ("missing.syx", "cannot read the bank: No such file"),
    ):
        with pytest.raises(BankError, match=says):
            read_syx_file(tmp_path / name)
    with pytest.raises(BankError, match="not a regular file"):
        read_syx_file("/dev/zero")


def test_local_paths_are_taken_from_the_spec_folder_and_banks_dir_names_from_inside(
    tmp_path: Path,
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mine.syx").write_bytes(BANK)
    assert LocalFiles(tmp_path).read("sub/mine.syx") == ("mine.syx", BANK)
    assert LocalFiles().read(str(tmp_path / "sub" / "mine.syx")) == ("mine.syx", BANK)
    assert BanksDir(tmp_path).read("sub/mine.syx") == ("sub/mine.syx", BANK)
    with pytest.raises(BankError, match=r"no such \.syx file"):
        BanksDir(tmp_path / "nowhere").read("sub/mine.syx")
