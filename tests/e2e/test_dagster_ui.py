"""The Dagster UI in a real browser: the webserver on a temporary instance, the asset graph in
headless Chromium (Debian's chromium + chromedriver), a screenshot kept for people to look at."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
GROUP_URL = "/locations/__repository__@aispend/asset-groups/{group}/{view}"
ANALYTICS = (
    "unit_economics_daily",
    "unit_economics_monthly",
    "forecast_daily",
    "forecast_month_end",
    "forecast_backtest",
    "anomaly_scores",
    "anomalies",
    "anomaly_drivers",
    "detection_quality",
    "budget_status",
    "budget_threshold_crossings",
)

pytestmark = pytest.mark.timeout(300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dagster-webserver` on the project's workspace and a temporary DAGSTER_HOME."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = dict(os.environ, DAGSTER_HOME=str(home))
    env["AISPEND_WAREHOUSE"] = str(home / "warehouse.duckdb")
    log = (home / "webserver.log").open("w")
    web = Path(sys.executable).parent / "dagster-webserver"
    proc = subprocess.Popen(
        [str(web), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"webserver did not start:\n{(home / 'webserver.log').read_text()}")
                time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install ...)")
    webdriver = pytest.importorskip("selenium.webdriver")
    service = pytest.importorskip("selenium.webdriver.chrome.service")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--window-size=1600,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=service.Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for_text(driver: object, needles: tuple[str, ...], seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text = driver.find_element("tag name", "body").text  # type: ignore[attr-defined]
        if all(n in text for n in needles):
            return text
        time.sleep(1)
    missing = [n for n in needles if n not in text]
    raise AssertionError(f"not shown after {seconds:.0f} s: {missing}\n---\n{text[:2000]}")


def _wait_until_loaded(driver: object, seconds: float = 30) -> None:
    """Node status and edges arrive after the names: wait for the 'Loading...' rows to go."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "Loading" not in driver.find_element("tag name", "body").text:  # type: ignore[attr-defined]
            break
        time.sleep(0.5)
    time.sleep(2)  # edges are drawn after the last node settles
    _dismiss_welcome(driver)  # the newsletter dialog can pop up late, over the graph
    time.sleep(0.5)


def _dismiss_welcome(driver: object) -> None:
    """The first visit shows a newsletter dialog over the graph: skip it."""
    for button in driver.find_elements(  # type: ignore[attr-defined]
        "xpath", "//button[normalize-space()='Skip']"
    ):
        button.click()


def _screenshot(driver: object, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    artifacts = os.environ.get("AISPEND_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(artifacts) / name)
    return path


def test_asset_graph_shows_the_analytics_layer_and_its_lineage(
    webserver: str, browser: object, tmp_path: Path
) -> None:
    browser.get(webserver)  # type: ignore[attr-defined]
    _wait_for_text(browser, ("Overview",))
    _dismiss_welcome(browser)

    # every analytics asset is listed in its group, with a description
    browser.get(webserver + GROUP_URL.format(group="analytics", view="list"))  # type: ignore[attr-defined]
    _wait_for_text(browser, ANALYTICS)

    # the lineage view: the mart it reads upstream, the serving copy and report downstream
    browser.get(webserver + GROUP_URL.format(group="analytics", view="lineage"))  # type: ignore[attr-defined]
    text = _wait_for_text(
        browser, ("fct_ai_spend_allocated", "forecast_daily", "warehouse_copy", "daily_report")
    )
    assert "Empty graph" not in text
    _wait_until_loaded(browser)
    shot = _screenshot(browser, tmp_path, "dagster-analytics-lineage.png")
    assert shot.stat().st_size > 20_000  # a drawn graph, not a blank page

    # the dbt layers are groups of their own, with the allocated fact in marts
    browser.get(webserver + GROUP_URL.format(group="marts", view="list"))  # type: ignore[attr-defined]
    _wait_for_text(browser, ("fct_ai_spend", "fct_ai_spend_allocated", "focus_ai_spend"))
    _screenshot(browser, tmp_path, "dagster-marts.png")
