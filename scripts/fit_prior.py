"""Fit the preset prior to real ``.syx`` banks and write its statistics file.

The shipped default (daq/data/preset_prior.json) is made by running this with no arguments:
it reads the 13 real JX-8P banks beside the checkout (416 tones; identical sounds count once).

    .venv/bin/python scripts/fit_prior.py [BANK.syx | FOLDER ...] [-o OUT.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from daq.banks import BankError, bank_tones, read_syx_file
from daq.sampling import PRIOR_RESOURCE, bank_sources, fit_prior

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BANKS = ROOT.parent / "shared" / "data" / "jx8p-banks"
DEFAULT_OUT = ROOT / "daq" / "data" / PRIOR_RESOURCE


def bank_files(inputs: list[Path]) -> list[Path]:
    """Files as given; folders give their ``*.syx`` in name order."""
    files: list[Path] = []
    for item in inputs:
        files.extend(sorted(item.glob("*.syx")) if item.is_dir() else [item])
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("banks", nargs="*", type=Path, default=[DEFAULT_BANKS])
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    files = bank_files(args.banks)
    if not files:
        print(f"no .syx banks in {', '.join(map(str, args.banks))}", file=sys.stderr)
        return 1
    try:
        banks = [(file.name, read_syx_file(file)) for file in files]
        tones = [tone for name, data in banks for tone in bank_tones(data, name)]
        prior = fit_prior(tones, bank_sources(banks))
    except (BankError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    args.out.write_text(prior.to_json() + "\n", encoding="utf-8")
    print(f"{len(tones)} tones from {len(files)} banks, {prior.tones} distinct -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
