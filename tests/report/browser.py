"""Open an HTML file in headless Chromium and check it is self-contained: the reusable browser check.

Use from any test (the lead applies it to the report of a real run):

    import importlib.util, pathlib
    spec = importlib.util.spec_from_file_location(
        "deepsci_tests_browser", pathlib.Path(__file__).parents[N] / "tests/report/browser.py")
    ...
    browser.assert_opens_offline(run_dir / "report.html")

or, when tests/report is on sys.path (pytest's default "prepend" import mode puts it there for tests in
this folder), ``from browser import assert_opens_offline``.
"""

from __future__ import annotations

import shutil
import tempfile
import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_HINT = (
    "headless Chromium not installed: run 'apt-get install chromium chromium-driver' (as root) to run this test"
)

#: JavaScript that lists every <img> with its load state.
_IMAGES_JS = """
return Array.from(document.images).map(function (img, i) {
  return {index: i, complete: img.complete, naturalWidth: img.naturalWidth,
          alt: img.alt, src: img.getAttribute('src').slice(0, 40)};
});
"""

#: JavaScript that lists every src/href attribute that is not inline (data:) or an in-page anchor (#).
_EXTERNAL_JS = """
var out = [];
document.querySelectorAll('[src], [href]').forEach(function (el) {
  var v = el.getAttribute('src') || el.getAttribute('href') || '';
  if (!(v.startsWith('data:') || v.startsWith('#'))) { out.push(el.tagName + ' ' + v.slice(0, 80)); }
});
performance.getEntriesByType('resource').forEach(function (e) {
  if (!e.name.startsWith('data:')) { out.push('fetched ' + e.name.slice(0, 80)); }
});
return out;
"""


def skip_unless_chromium() -> None:
    """Skip the calling test, with the line to install it, when Chromium or its driver is missing.

    Under CI (CI=true) a missing browser fails instead: .ci/run installs it, so its absence is a broken
    CI, and a skipped browser test would hide it.
    """
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but headless Chromium is missing: " + INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    pytest.importorskip("selenium", reason="selenium is not installed: pip install 'deepsci[dev]'")


def assert_opens_offline(html_path: str | Path, *, min_images: int = 1) -> dict[str, Any]:
    """Open ``html_path`` in headless Chromium with networking off and assert it renders self-contained.

    Asserts: at least ``min_images`` <img> elements, each ``complete`` with ``naturalWidth > 0``; no
    SEVERE entry in the browser console log; no <script>; no src/href pointing outside the page (only
    ``data:`` URIs and ``#anchors``) and no resource fetched over the network. Skips (with the install
    line) when Chromium or chromedriver is missing.

    Returns:
        What was seen: ``{"title", "images", "console"}``, for further checks.
    """
    skip_unless_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    path = Path(html_path).resolve()
    assert path.is_file(), f"no HTML file at {path}"
    profile = tempfile.mkdtemp(prefix="deepsci-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,2000", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get(path.as_uri())  # returns once the load event has fired: every image has loaded or failed
        images = driver.execute_script(_IMAGES_JS)
        external = driver.execute_script(_EXTERNAL_JS)
        n_scripts = driver.execute_script("return document.scripts.length;")
        title = driver.title
        console = driver.get_log("browser")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

    assert len(images) >= min_images, f"{path.name}: expected at least {min_images} image(s), found {len(images)}"
    broken = [img for img in images if not (img["complete"] and img["naturalWidth"] > 0)]
    assert not broken, f"{path.name}: {len(broken)} image(s) did not load: {broken}"
    severe = [entry for entry in console if entry.get("level") == "SEVERE"]
    assert not severe, f"{path.name}: console errors: {severe}"
    assert n_scripts == 0, f"{path.name}: holds {n_scripts} <script> element(s); the report must need no script"
    assert not external, f"{path.name}: references outside the page: {external}"
    return {"title": title, "images": images, "console": console}
