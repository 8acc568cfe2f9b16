"""The daily report in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver` packages) opens the file from disk with networking off, logs no console
error, loads no resource, draws every chart with a real size, and a screenshot of the page is
not blank. The screenshot is kept in the test's tmp dir and in $AISPEND_TEST_ARTIFACTS if set.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from matplotlib import image as mpimg

from reports.daily import ReportResult, render_daily_report
from reports.sample import HOSTILE_TEAM, build_sample_warehouse

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AS_OF = date(2026, 3, 16)
WIDTH = 1366  # a common laptop width

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
        reason=f"needs {CHROMIUM} and {CHROMEDRIVER}: apt-get install chromium chromium-driver",
    ),
    pytest.mark.timeout(180),
]

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="needs selenium (pip install selenium==4.51.0)"
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    """The report of a complete synthetic warehouse whose names are full of markup."""
    out = tmp_path_factory.mktemp("report")
    with duckdb.connect() as con:
        build_sample_warehouse(con, AS_OF, hostile=True)
        return render_daily_report(con, AS_OF, out, dagster_url="http://localhost:3000")


@pytest.fixture(scope="module")
def browser(report: ReportResult) -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        f"--window-size={WIDTH},900",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.get(report.path.resolve().as_uri())
        yield driver
    finally:
        driver.quit()


def test_the_console_has_no_errors(browser: Any) -> None:
    entries = browser.get_log("browser")
    severe = [e for e in entries if e.get("level") == "SEVERE"]
    assert severe == [], severe


def test_nothing_is_loaded_from_outside_the_file(browser: Any) -> None:
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert resources == []
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.images.length") == 0


def test_hostile_names_are_shown_as_text(browser: Any) -> None:
    body = browser.execute_script("return document.body.innerText")
    assert HOSTILE_TEAM in body


def test_every_chart_is_drawn(browser: Any) -> None:
    boxes = browser.execute_script(
        """
        return Array.from(document.querySelectorAll('svg')).map(svg => {
            const r = svg.getBoundingClientRect();
            return {cls: svg.getAttribute('class') || svg.parentElement.className,
                    w: r.width, h: r.height,
                    shapes: svg.querySelectorAll('path, rect, polyline, use').length};
        });
        """
    )
    charts = [b for b in boxes if b["cls"] == "chart"]
    assert len(charts) >= 5  # forecast, provider, team, unit economics, savings
    assert len([b for b in boxes if b["cls"] == "bullet"]) == 3
    assert len([b for b in boxes if b["cls"] == "sparkline"]) == 15
    for box in boxes:
        assert box["w"] > 20 and box["h"] > 10, box
        assert box["shapes"] > 0, box
    # a full-width chart fills its column on a laptop screen
    assert max(b["w"] for b in charts) > 900


def test_a_screenshot_is_not_blank(browser: Any, tmp_path: Path) -> None:
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WIDTH, height + 120)
    shot = tmp_path / "daily_report.png"
    assert browser.save_screenshot(str(shot))
    artifacts = os.environ.get("AISPEND_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "daily_report.png")
    pixels = mpimg.imread(str(shot))[..., :3]  # floats in [0, 1]
    assert pixels.shape[0] > 2000 and pixels.shape[1] >= WIDTH - 20
    # ink: anything darker than the page's light grey background
    ink = (pixels.min(axis=2) < 0.85).mean()
    assert ink > 0.02, f"only {ink:.1%} of the page is drawn on"
    # colour: charts paint many distinct saturated colours
    saturated = pixels[(pixels.max(axis=2) - pixels.min(axis=2)) > 0.25]
    hues = {tuple(c) for c in np.round(saturated * 7).astype(int)}
    assert len(hues) >= 8, f"only {len(hues)} distinct colours"


def test_it_prints(browser: Any) -> None:
    """The print stylesheet lays the report out on A4 pages (what a PDF export gets)."""
    pdf = base64.b64decode(browser.print_page())
    assert pdf.startswith(b"%PDF")
    pages = max(int(n) for n in re.findall(rb"/Count (\d+)", pdf))
    assert 2 <= pages <= 12, pages
