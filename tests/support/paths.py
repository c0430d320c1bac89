"""Where the project's files are, from any test however deep it sits."""

from __future__ import annotations

from pathlib import Path

#: The checkout's root (pyproject.toml, examples/, scripts/, deploy/).
ROOT = Path(__file__).resolve().parents[2]
#: The real JX data beside the checkout (present in CI too).
SHARED_DATA = ROOT.parent / "shared" / "data"
EXAMPLES = ROOT / "examples"
