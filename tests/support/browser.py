"""A real headless Chromium for tests, driven through chromedriver with selenium.

Debian's ``chromium`` and ``chromium-driver`` packages (installed by tests/install-test-deps.sh).
Each :class:`Browser` has a fresh profile directory, no network services of its own (no sync,
component updates or background requests) and, by default, JavaScript turned off: the pages the
bridge serves must work without it.

Selenium is synchronous; every call here runs in a worker thread so the test's event loop (which
also runs the in-process MSN test server) keeps serving while the browser waits for a page.
"""

from __future__ import annotations

from typing import Any
import asyncio
import shutil
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

__all__ = ["Browser", "browser_binaries"]

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def browser_binaries() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when they are not installed."""
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


class Browser:
    def __init__(self, *, javascript: bool = False) -> None:
        self.javascript = javascript
        self.driver: webdriver.Chrome | None = None
        self._profile: str | None = None

    async def start(self) -> Browser:
        binaries = browser_binaries()
        if binaries is None:
            raise RuntimeError(
                "chromium and chromedriver are not installed: run tests/install-test-deps.sh "
                "(Debian packages chromium and chromium-driver)"
            )
        chromium, driver = binaries
        self._profile = tempfile.mkdtemp(prefix="msn-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in _FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self._profile}")
        if not self.javascript:
            options.add_experimental_option(
                "prefs", {"profile.managed_default_content_settings.javascript": 2}
            )
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = await asyncio.to_thread(
            webdriver.Chrome, options=options, service=Service(driver)
        )
        return self

    async def close(self) -> None:
        driver, self.driver = self.driver, None
        if driver is not None:
            await asyncio.to_thread(driver.quit)
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    @property
    def _driver(self) -> webdriver.Chrome:
        assert self.driver is not None, "start() the browser first"
        return self.driver

    async def get(self, url: str) -> None:
        await asyncio.to_thread(self._driver.get, url)

    async def text(self, element_id: str) -> str:
        element = await asyncio.to_thread(self._driver.find_element, By.ID, element_id)
        return str(await asyncio.to_thread(lambda: element.text))

    async def value(self, element_id: str) -> str:
        element = await asyncio.to_thread(self._driver.find_element, By.ID, element_id)
        return str(await asyncio.to_thread(element.get_attribute, "value"))

    async def css(self, element_id: str, prop: str) -> str:
        element = await asyncio.to_thread(self._driver.find_element, By.ID, element_id)
        return str(await asyncio.to_thread(element.value_of_css_property, prop))

    async def type(self, element_id: str, text: str) -> None:
        def do() -> None:
            element = self._driver.find_element(By.ID, element_id)
            element.clear()
            element.send_keys(text)

        await asyncio.to_thread(do)

    async def click_and_wait(self, element_id: str, expect_id: str, timeout: float = 30) -> None:
        """Click ``element_id`` (e.g. a submit button) and wait for the next page to show
        ``expect_id``."""

        def do() -> None:
            old = self._driver.find_element(By.TAG_NAME, "html")
            self._driver.find_element(By.ID, element_id).click()
            wait = WebDriverWait(self._driver, timeout)
            wait.until(expected_conditions.staleness_of(old))
            wait.until(expected_conditions.presence_of_element_located((By.ID, expect_id)))

        await asyncio.to_thread(do)

    async def page_source(self) -> str:
        return str(await asyncio.to_thread(lambda: self._driver.page_source))

    async def title(self) -> str:
        return str(await asyncio.to_thread(lambda: self._driver.title))

    async def console(self) -> list[dict[str, Any]]:
        """The browser console's entries since the last call (CSP violations show here)."""
        return list(await asyncio.to_thread(self._driver.get_log, "browser"))
