"""Headless Chromium (Debian's `chromium` and `chromium-driver`) driven by Selenium, for the review-page tests.

`Browser()` starts one Chromium with a new empty profile and the flags a machine without a
network needs (without them it waits on connections); `open(page)` loads a file and waits
until its script ran; `console_errors()` returns the SEVERE entries of the browser log
(console errors, uncaught exceptions, files that failed to load) since the last call;
`play_all()` plays every audio player for a moment and reports what each did.
`missing_browser()` says why the browser cannot run here, or None.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--window-size=1300,900")
REQUIRE_ENV = "SINETONE_REQUIRE_BROWSER"
"""Set to 1 (as .ci/run does), a missing browser fails the browser tests instead of skipping them."""

PLAY_ALL = """
const done = arguments[arguments.length - 1];
const players = Array.from(document.querySelectorAll("audio"));
function once(audio) {
  return new Promise(function (resolve) {
    const report = function (played, why) {
      audio.pause();
      resolve({src: audio.getAttribute("src"), url: audio.currentSrc, played: played, why: why || "",
               duration: audio.duration, time: audio.currentTime, error: audio.error ? audio.error.code : null});
    };
    const timer = setTimeout(function () { report(audio.currentTime > 0, "timeout"); }, 10000);
    audio.addEventListener("timeupdate", function tick() {
      if (audio.currentTime > 0) { clearTimeout(timer); audio.removeEventListener("timeupdate", tick); report(true); }
    });
    audio.play().catch(function (err) { clearTimeout(timer); report(false, String(err)); });
  });
}
players.reduce(function (chain, audio) {
  return chain.then(function (results) { return once(audio).then(function (r) { return results.concat([r]); }); });
}, Promise.resolve([])).then(done);
"""


def missing_browser() -> str | None:
    """Why headless Chromium cannot be driven here (one line), or None when it can."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return (f"headless Chromium not installed ({', '.join(missing)} missing): apt-get install chromium "
                "chromium-driver (make test does, as root)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -r requirements.txt -c constraints.txt"
    return None


class Browser:
    """One headless Chromium with its own empty profile, removed on `close()`."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        # Their debug lines (every WebDriver request) would flood a test's log when a script ran with --verbose.
        for name in ("selenium", "urllib3"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.profile = tempfile.mkdtemp(prefix="sinetone-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            self.driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        except BaseException:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.driver.set_script_timeout(120)

    def open(self, page: Path) -> None:
        """Load `page` from the file system; the log of earlier pages is dropped first."""
        self.console_errors()
        self.driver.get(Path(page).resolve().as_uri())

    def console_errors(self) -> list[str]:
        """The SEVERE browser-log entries since the last call (console errors, exceptions, failed loads)."""
        return [e["message"] for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def run(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def play_all(self) -> list[dict]:
        """Every `<audio>` of the page played until its time moves (10 s at most), one after another, then paused:
        per player its src attribute, resolved URL, whether it played, duration, media error code."""
        return self.driver.execute_async_script(PLAY_ALL)

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
