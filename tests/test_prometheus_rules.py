"""deploy/prometheus: the rules pass `promtool check rules` and `promtool test rules`, every
alert has a case where it fires and one where it stays silent, and every series the rules and
the Grafana dashboard read is one jx-daq exports (or a recording rule, or node_exporter's).

promtool comes with Debian's ``prometheus`` package (scripts/test-services.sh installs it);
without it these tests fail, never skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from paths import ROOT

from daq.api.metrics import ApiMetrics
from db.engine import open_catalog

DEPLOY = ROOT / "deploy" / "prometheus"
RULES = DEPLOY / "rules.yml"
NODE_EXPORTER = {"node_filesystem_avail_bytes", "node_filesystem_size_bytes"}
_SERIES = re.compile(r"\b(jxdaq_[a-z_]+|jxdaq:[a-z0-9_:]+|node_[a-z_]+)\b")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: run scripts/test-services.sh (Debian's prometheus)"
    return subprocess.run(
        [promtool, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=120
    )


def _rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_rules_are_valid():
    result = _promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_rules_pass_their_unit_tests():
    result = _promtool("test", "rules", "tests.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent():
    tests = yaml.safe_load((DEPLOY / "tests.yml").read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for alert in (rule["alert"] for rule in _rules() if "alert" in rule):
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case["exp_alerts"] for case in mine), f"{alert}: no case where it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{alert}: no silent case"


@pytest.fixture
def exported(tmp_path: Path) -> set[str]:
    """Every series name the API's registry exposes (counters with ``_total``, histograms
    with their ``_bucket``/``_count``/``_sum``)."""
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        families = list(ApiMetrics(catalog).registry.collect())
    finally:
        catalog.close()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    return {
        family.name + suffix for family in families for suffix in suffixes.get(family.type, ("",))
    }


def test_rules_and_dashboard_read_only_exported_series(exported):
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    known = exported | recorded | NODE_EXPORTER
    tests = yaml.safe_load((DEPLOY / "tests.yml").read_text())["tests"]
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    sources = {
        "rules.yml": [rule["expr"] for rule in _rules()],
        "tests.yml": [series["series"] for test in tests for series in test["input_series"]],
        "grafana-dashboard.json": [t["expr"] for p in dashboard["panels"] for t in p["targets"]],
    }
    for source, expressions in sources.items():
        used = {name for expr in expressions for name in _SERIES.findall(expr)}
        assert used, source
        assert used <= known, f"{source} reads series nobody exports: {used - known}"
