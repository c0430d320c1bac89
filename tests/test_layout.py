"""Tests mirror the code: a module's tests are found by its name.

The tests of ``pkg/sub/mod.py`` live in ``tests/pkg/sub/test_mod.py``, or in files named
``test_mod_<aspect>.py`` beside it when one file would grow too long. A package's own
``__init__.py`` counts as a module named after the package (``tests/daq/test_rigs.py``), but
it needs no file of its own: most only re-export. Helpers shared by tests live in
``tests/support`` and fixtures in ``conftest.py``; every other file in ``tests/`` is a test
file named after a module.
"""

from __future__ import annotations

from pathlib import Path

from paths import ROOT

PACKAGES = ("jxdaq", "models", "daq", "db", "firmware_protocol")
TESTS = ROOT / "tests"

#: Modules without a test file of their own, each with the reason.
UNTESTED_MODULES = {
    # Two lines that call jxdaq.cli's app: what it composes is tested through the commands.
    "jxdaq/__main__.py",
}
#: Test files that test something other than a module, each with what they test.
UNMIRRORED_TESTS = {
    # docker-compose.yml and the deployment's services
    "tests/test_compose.py",
    # deploy/prometheus: alert rules and the Grafana dashboard against the exported series
    "tests/test_prometheus_rules.py",
    # this file: the tree's layout
    "tests/test_layout.py",
}


def _modules() -> set[Path]:
    """Every module of the packages (migrations are scripts Alembic loads, not modules)."""
    return {
        path.relative_to(ROOT)
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and path.name != "__init__.py"
    }


def _test_files() -> set[Path]:
    support = TESTS / "support"
    return {
        path.relative_to(ROOT)
        for path in TESTS.rglob("*.py")
        if support not in path.parents and path.name != "conftest.py"
    }


def _names_a_module(test_file: Path) -> bool:
    """Whether ``tests/<dir>/test_<name>[_<aspect>].py`` names a module or package in <dir>."""
    if not test_file.name.startswith("test_"):
        return False
    code = ROOT.joinpath(*test_file.parent.parts[1:])
    name = test_file.stem.removeprefix("test_")
    words = name.split("_")
    prefixes = ("_".join(words[:n]) for n in range(1, len(words) + 1))
    return any(
        (code / f"{prefix}.py").is_file() or (code / prefix / "__init__.py").is_file()
        for prefix in prefixes
    )


def _has_test_file(module: Path, test_files: set[Path]) -> bool:
    folder = Path("tests", *module.parent.parts)
    return any(
        test.parent == folder
        and (test.stem == f"test_{module.stem}" or test.stem.startswith(f"test_{module.stem}_"))
        for test in test_files
    )


def test_every_module_has_its_test_file():
    test_files = _test_files()
    missing = sorted(
        str(module)
        for module in _modules()
        if str(module) not in UNTESTED_MODULES and not _has_test_file(module, test_files)
    )
    assert missing == [], "modules without tests/<package>/test_<module>.py:\n" + "\n".join(missing)


def test_every_test_file_is_named_after_a_module():
    stray = sorted(
        str(test)
        for test in _test_files()
        if str(test) not in UNMIRRORED_TESTS and not _names_a_module(test)
    )
    assert stray == [], "test files named after no module:\n" + "\n".join(stray)


def test_the_exemptions_name_files_that_exist():
    """An exemption outliving its file would hide the next file of that name."""
    gone = sorted(
        name for name in UNTESTED_MODULES | UNMIRRORED_TESTS if not (ROOT / name).is_file()
    )
    assert gone == []
