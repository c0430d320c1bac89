"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by selenium) against ``jxdaq serve`` and ``jxdaq worker --rig
emulated`` as real processes over one SQLite catalog.

Log in with a token, submit a small job from the form, watch its page follow the job to the
end without reloading (progress, state, takes appended as they are recorded), and play a take.
Without Chromium the test FAILS: scripts/test-services.sh installs it, and CI must not pass
without having run it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from device_support import interrupt

from db.engine import open_catalog
from db.records import TakeFilter
from firmware_protocol.parameters import BY_KEY

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TAKES = 10
JOB = f"""\
name = "browser test: {TAKES} takes"
count = {TAKES}
seed = 7
[source]
kind = "prior"
[capture]
hold_s = 1.0
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _jxdaq(var_dir: Path, log: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "JXDAQ_VAR_DIR": str(var_dir)}
    for name in ("JXDAQ_CATALOG_URL", "JXDAQ_STORE_URL", "JXDAQ_CONFIG"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "jxdaq", *args],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """``jxdaq serve`` on a free port over a fresh catalog: (base URL, admin token, var dir)."""
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    _, secret = catalog.create_token("browser-admin", "admin")
    catalog.close()
    port = _free_port()
    log = tmp_path / "serve.log"
    process = _jxdaq(tmp_path, log, "serve", "--host", "127.0.0.1", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "jxdaq serve did not answer /health"
            time.sleep(0.2)
        yield base, secret, tmp_path
    finally:
        interrupt(process)


@pytest.fixture
def browser(tmp_path: Path):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver "
            "(bash scripts/test-services.sh does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, timeout_s: float, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, poll_frequency=0.2).until(condition, what)


def _shows_image(driver, row, what: str) -> None:
    """Wait until the image in table ``row`` has loaded (scrolled to: images load lazily)."""
    image = row.find_element("tag name", "img")
    driver.execute_script("arguments[0].scrollIntoView()", image)
    _wait(
        driver,
        lambda d: d.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", image
        ),
        30,
        what,
    )


def _arrive(driver, where: str, what: str) -> None:
    """Wait for the page whose path starts with ``where`` to have loaded: a click that submits a
    form returns before the new page is there, and the URL changes before its document does."""
    _wait(
        driver,
        lambda d: (
            urlparse(d.current_url).path.startswith(where)  # not login?next=where
            and d.execute_script("return document.readyState") == "complete"
            and d.find_elements("css selector", "main")
        ),
        20,
        what,
    )


def test_log_in_submit_a_job_watch_it_finish_and_play_a_take(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    base, secret, var_dir = server
    driver = browser

    # Log in: a page asks for a token and leads back to where the visitor was going.
    driver.get(f"{base}/dashboard/rigs")
    assert "/dashboard/login" in driver.current_url
    driver.find_element(By.ID, "token").send_keys(secret)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    _arrive(driver, "/dashboard/rigs", "the rigs page")
    assert driver.get_cookie("jxdaq_session")["httpOnly"] is True
    assert driver.execute_script("return document.cookie") == ""  # scripts never see it

    # Submit a small job from the form.
    driver.find_element(By.LINK_TEXT, "Jobs").click()
    spec = driver.find_element(By.ID, "spec")
    spec.clear()
    spec.send_keys(JOB)
    driver.find_element(By.CSS_SELECTOR, "form.spec button[type=submit]").click()
    _arrive(driver, "/dashboard/jobs/", "the new job's page")
    field = lambda name: driver.find_element(By.CSS_SELECTOR, f'main [data-field="{name}"]')  # noqa: E731
    assert field("state").text == "queued" and field("count").text == str(TAKES)
    driver.execute_script("window.sameVisit = true")

    # A rig starts: the page follows the job to the end, without being reloaded.
    worker = _jxdaq(var_dir, tmp_path / "worker.log", "worker", "--rig", "emulated")
    try:
        _wait(driver, lambda d: field("state").text == "completed", 180, "the job to complete")
    finally:
        interrupt(worker)
    assert driver.execute_script("return window.sameVisit") is True
    bar = field("bar")
    assert bar.get_attribute("value") == bar.get_attribute("max") == str(TAKES)
    assert field("done").text == str(TAKES) and field("eta").text in ("0 s", "—")
    assert all(
        b.get_attribute("hidden")
        for b in driver.find_elements(By.CSS_SELECTOR, "button[data-action]")
    )
    rows = lambda d: d.find_elements(By.CSS_SELECTOR, "tbody[data-field=takes] tr[data-take]")  # noqa: E731
    _wait(driver, lambda d: len(rows(d)) == TAKES, 20, "every take listed")
    assert "emulated" in field("rigs").text

    # Each take shows its tone: the parameters' values, switches by their labels.
    tone = rows(driver)[-1].find_element(By.CSS_SELECTOR, "td.tone details")
    tone.find_element(By.TAG_NAME, "summary").click()
    values = dict(
        (cell.find_element(By.TAG_NAME, "th").text, cell.find_element(By.TAG_NAME, "td").text)
        for cell in tone.find_elements(By.CSS_SELECTOR, "table.tone-values tr")
    )
    assert len(values) == 44 and values["VCF FREQ"].isdigit()
    assert values["DCO1 WF"] in BY_KEY["dco1_wf"].labels

    # Spectrograms load; a take plays.
    _shows_image(driver, rows(driver)[0], "a spectrogram")
    audio = rows(driver)[0].find_element(By.TAG_NAME, "audio")
    played = driver.execute_async_script(
        """
        const [audio, done] = arguments;
        audio.play().then(
          () => done({ok: true}),
          (error) => done({ok: false, error: String(error), code: audio.error && audio.error.code}),
        );
        """,
        audio,
    )
    assert played == {"ok": True}, played
    _wait(
        driver,
        lambda d: d.execute_script("return arguments[0].currentTime", audio) > 0.05,
        20,
        "playback",
    )
    state = driver.execute_script(
        "const a = arguments[0]; return [a.readyState, a.duration, a.error];", audio
    )
    assert state[0] >= 2 and state[1] > 1.0 and state[2] is None, state

    # A dataset of the job: its page shows splits, histograms and takes filtered by ranges.
    job_id = int(urlparse(driver.current_url).path.rstrip("/").split("/")[-1])
    frozen = httpx.post(f"{base}/api/v1/datasets", headers={"Authorization": f"Bearer {secret}"},
                        json={"name": "browser-set", "filter": {"job_id": job_id}})  # fmt: skip
    assert frozen.status_code == 201, frozen.text
    driver.find_element(By.LINK_TEXT, "Datasets").click()
    _arrive(driver, "/dashboard/datasets", "the datasets page")
    driver.find_element(By.LINK_TEXT, "browser-set").click()
    _arrive(driver, "/dashboard/datasets/browser-set", "the dataset's page")
    assert field("takes").text == str(TAKES)
    figures = driver.find_elements(By.CSS_SELECTOR, "figure.histogram")
    assert len(figures) == 44
    assert all(f.find_elements(By.TAG_NAME, "rect") for f in figures)  # every one has bars
    takes = lambda d: d.find_elements(By.CSS_SELECTOR, "tbody[data-field=takes] tr[data-take]")  # noqa: E731
    assert len(takes(driver)) == TAKES
    catalog = open_catalog(f"sqlite:///{var_dir / 'catalog.db'}")
    taken = catalog.query_takes(TakeFilter(job_id=job_id), limit=TAKES).items
    catalog.close()
    values = sorted(t.tone[BY_KEY["vcf_freq"].apr_index] for t in taken)
    low, high = values[0], values[TAKES // 2]  # about half of the takes
    driver.find_element(By.CSS_SELECTOR, "form.ranges summary").click()
    driver.find_element(By.NAME, "p_vcf_freq").send_keys(f"{low}..{high}")
    driver.find_element(By.CSS_SELECTOR, "form.ranges button[type=submit]").click()
    _wait(driver, lambda d: "p_vcf_freq" in d.current_url, 20, "the filtered page")
    _arrive(driver, "/dashboard/datasets/browser-set", "the filtered page")
    assert len(takes(driver)) == sum(low <= v <= high for v in values)
    _shows_image(driver, takes(driver)[0], "a spectrogram of the dataset's takes")

    # Nothing went wrong on the way: no script errors, no refused policy, no failed request.
    problems = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]
    assert problems == []


def test_an_operator_pauses_resumes_and_cancels_a_job_with_the_page_buttons(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    base, secret, _ = server
    driver = browser
    job = httpx.post(
        f"{base}/api/v1/jobs",
        json={"name": "to control", "count": 3, "source": {"kind": "uniform"}},
        headers={"Authorization": f"Bearer {secret}"},
    ).json()
    driver.get(f"{base}/dashboard/login?next=/dashboard/jobs/{job['id']}")
    driver.find_element(By.ID, "token").send_keys(secret)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    _arrive(driver, f"/dashboard/jobs/{job['id']}", "the job's page")

    def state(d) -> str:
        return d.find_element(By.CSS_SELECTOR, 'main [data-field="state"]').text

    def shown(d) -> list[str]:
        found = d.find_elements(By.CSS_SELECTOR, "button[data-action]")
        return [b.get_attribute("data-action") for b in found if b.is_displayed()]

    def click(action: str) -> None:
        driver.find_element(By.CSS_SELECTOR, f'button[data-action="{action}"]').click()

    assert state(driver) == "queued" and shown(driver) == ["pause", "cancel"]
    click("pause")
    _wait(driver, lambda d: state(d) == "paused", 20, "the job to pause")
    assert shown(driver) == ["resume", "cancel"]
    click("resume")
    _wait(driver, lambda d: state(d) == "queued", 20, "the job to resume")
    click("cancel")
    confirmation = _wait(driver, expected_conditions.alert_is_present(), 10, "a confirmation")
    assert confirmation.text == f"Cancel job {job['id']} for good?"
    confirmation.accept()
    _wait(driver, lambda d: state(d) == "cancelled", 20, "the job to be cancelled")
    assert shown(driver) == []
    answer = httpx.get(
        f"{base}/api/v1/jobs/{job['id']}", headers={"Authorization": f"Bearer {secret}"}
    )
    assert answer.json()["state"] == "cancelled"
