"""Debian's chromium, headless, driven by selenium through Debian's chromedriver."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import (
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

T = TypeVar("T")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# This machine's network is closed: no first-run, sync, component or background connections.
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
)  # fmt: skip


def available() -> bool:
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


@contextmanager
def chromium() -> Iterator[WebDriver]:
    profile = tempfile.mkdtemp(prefix="globalmon-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(
    driver: WebDriver,
    condition: Callable[[WebDriver], T | None],
    timeout: float,
    what: str,
    interval: float = 0.2,
) -> T:
    """The first truthy value of ``condition`` within ``timeout`` seconds; the page's text in
    the failure otherwise. A page redrawn under the condition counts as not yet."""
    from selenium.webdriver.support.ui import WebDriverWait

    def check(d: WebDriver) -> T | None:
        try:
            return condition(d)
        except (StaleElementReferenceException, WebDriverException):
            return None

    try:
        found = WebDriverWait(driver, timeout, poll_frequency=interval).until(check)
    except TimeoutException as exc:  # say what was on the page
        body = driver.find_element("tag name", "body").text[:2000]
        entries = driver.get_log("browser")  # type: ignore[attr-defined]  # Chrome's own
        logs = "\n".join(str(e.get("message", e)) for e in entries)
        raise AssertionError(
            f"not seen within {timeout} s: {what}\npage:\n{body}\nbrowser log:\n{logs}"
        ) from exc
    assert found is not None  # until() returns only a truthy value
    return found


def screenshot(driver: WebDriver, name: str) -> Path | None:
    """A PNG of the page in $GLOBALMON_SCREENSHOTS (docs/img when making the docs' pictures)."""
    where = os.environ.get("GLOBALMON_SCREENSHOTS")
    if not where:
        return None
    path = Path(where) / f"console-{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path
