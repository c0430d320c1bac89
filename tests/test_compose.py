"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

Every command a service runs (the commented real-rig worker included) is resolved against
the ``jxdaq`` Typer app and parsed by click exactly as the container would parse it, so a
renamed command or option fails here, not at 3 a.m. in the lab; ``--help`` of each must work.
Settings named in the environment must be settings the code reads.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

import pytest
import typer
import yaml
from paths import ROOT
from typer.testing import CliRunner

from daq.settings import Settings
from jxdaq.cli import app as cli

COMPOSE = ROOT / "docker-compose.yml"
REAL_RIG = re.compile(r"^  # --- real rig.*?$(.*?)^  # --- end of real rig", re.M | re.S)
#: Environment variables read outside the settings (typer ``envvar=``).
OTHER_ENV = {"JXDAQ_RIGS_FILE"}


def compose(uncomment_real_rig: bool = False) -> dict:
    text = COMPOSE.read_text()
    if uncomment_real_rig:
        block = REAL_RIG.search(text)
        assert block is not None, "the commented real-rig worker is missing"
        lines = [line.replace("  # ", "  ", 1) for line in block.group(1).splitlines()]
        text = text.replace(block.group(1), "\n".join(lines) + "\n")
    return yaml.safe_load(text)


def jxdaq_invocations(command: list[str] | str) -> list[list[str]]:
    """The ``jxdaq`` commands a service runs, also inside ``sh -c`` scripts."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] != ["sh", "-c"]:
        return [argv] if argv and argv[0] == "jxdaq" else []
    lexer = shlex.shlex(argv[2], posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found, current, redirect = [], [], False
    for token in [*lexer, ";"]:
        if token in ("&&", "||", ";", "|", "{", "}"):
            if current and current[0] == "jxdaq":
                found.append(current)
            current = []
        elif token in (">", ">>", "<"):
            redirect = True
        elif redirect:
            redirect = False
        else:
            current.append(token)
    return found


def resolve(argv: list[str]) -> Any:
    """Parse argv as the CLI would: unknown commands or options, bad or missing values raise.

    (Typer ships its own copy of click: groups are told by their ``commands``.)
    """
    command, used = typer.main.get_command(cli), 1
    while hasattr(command, "commands") and argv[used:] and argv[used] in command.commands:
        command, used = command.commands[argv[used]], used + 1
    if hasattr(command, "commands") and argv[used:] and not argv[used].startswith("-"):
        raise LookupError(f"No such command {argv[used]!r} in {' '.join(argv[:used])}")
    command.make_context(" ".join(argv[:used]), argv[used:])
    return command


def jxdaq_services(config: dict) -> dict[str, dict]:
    return {n: s for n, s in config["services"].items() if s.get("image") == "jx-daq:latest"}


@pytest.mark.parametrize("real_rig", [False, True], ids=["as shipped", "real rig uncommented"])
def test_every_service_runs_a_real_jxdaq_command(real_rig):
    services = jxdaq_services(compose(real_rig))
    expected = {"bootstrap", "api", "worker-emulated"} | ({"worker-board-a"} if real_rig else set())
    assert set(services) == expected
    seen = set()
    for name, service in services.items():
        invocations = jxdaq_invocations(service["command"])
        assert invocations, f"service {name} runs no jxdaq command"
        for argv in invocations:
            resolve(argv)  # raises click's UsageError/BadParameter naming the option
            result = CliRunner().invoke(cli, [*argv[1:], "--help"])
            assert result.exit_code == 0, (name, argv, result.output)
            seen.add(" ".join(argv[1:3]))
    assert {"db upgrade", "token create", "serve --host", "worker --rig"} <= seen


def test_unknown_commands_and_options_would_be_caught():
    with pytest.raises(Exception, match="No such option: --hots"):
        resolve(["jxdaq", "serve", "--hots", "0.0.0.0"])
    with pytest.raises(Exception, match="No such command 'wrker'"):
        resolve(["jxdaq", "wrker", "--rig", "emulated"])
    with pytest.raises(typer.BadParameter, match="valid integer"):
        resolve(["jxdaq", "serve", "--port", "eighty"])
    with pytest.raises(Exception, match="Missing parameter: rig"):
        resolve(["jxdaq", "worker", "--log-format", "json"])
    assert resolve(["jxdaq", "worker", "--rig", "emulated"]).name == "worker"
    assert jxdaq_invocations(["sh", "-c", "a && jxdaq x --y 1 > f || { jxdaq z; }"]) == [
        ["jxdaq", "x", "--y", "1"],
        ["jxdaq", "z"],
    ]


def test_the_api_serves_beyond_loopback_with_a_token_made_first():
    services = compose()["services"]
    api = services["api"]
    argv = api["command"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"  # needs a token: serve refuses without
    assert api["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
    script = services["bootstrap"]["command"][2]
    assert "token create --role admin" in script and "db upgrade" in script
    port = argv[argv.index("--port") + 1]
    assert f"{port}:{port}" in api["ports"]
    assert f"127.0.0.1:{port}/health" in " ".join(api["healthcheck"]["test"])


def test_health_checks_volumes_and_settings():
    config = compose(uncomment_real_rig=True)
    services = config["services"]
    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["volumes"] == ["catalog:/var/lib/postgresql/data"]
    assert set(config["volumes"]) == {"catalog", "audio", "jxdaq-var"}
    fields = {f"JXDAQ_{name.upper()}" for name in Settings.model_fields}
    for name, service in jxdaq_services(config).items():
        mounts = {volume.split(":")[1] for volume in service["volumes"]}
        assert {"/data/audio", "/var/lib/jxdaq"} <= mounts, name
        environment = service["environment"]
        assert set(environment) <= fields | OTHER_ENV, name
        assert environment["JXDAQ_STORE_URL"] == "/data/audio"
        assert environment["JXDAQ_CATALOG_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in environment["JXDAQ_CATALOG_URL"]
        if name != "bootstrap":
            assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    db = postgres["environment"]
    assert services["api"]["environment"]["JXDAQ_CATALOG_URL"] == (
        f"postgresql+psycopg://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{db['POSTGRES_DB']}"
    )


def test_the_real_rig_worker_gets_its_devices_and_rig_file():
    rig = compose(uncomment_real_rig=True)["services"]["worker-board-a"]
    devices = {device.split(":")[0] for device in rig["devices"]}
    assert {"/dev/ttyUSB0", "/dev/snd"} <= devices
    argv = rig["command"]
    rigs_file = argv[argv.index("--rigs-file") + 1]
    assert any(v.split(":")[1] == rigs_file and v.endswith(":ro") for v in rig["volumes"])
    assert {"dialout", "audio"} <= set(rig["group_add"])


def test_the_dockerfile_installs_every_package_with_the_hardware_extra():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "hardware" in project["project"]["optional-dependencies"]
    assert 'pip install --no-cache-dir ".[hardware,s3]"' in dockerfile  # workers may use S3
    assert "s3" in project["project"]["optional-dependencies"]
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    for package in packages:
        assert f"COPY {package} ./{package}" in dockerfile, package
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not set(packages) & set(ignored) and ".venv" in ignored
    scripts = project["project"]["scripts"]
    assert scripts["jxdaq"] == "jxdaq.cli:main"  # the entry point that wraps the Typer app
