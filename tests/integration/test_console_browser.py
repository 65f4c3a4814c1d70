"""The operations console in a real browser: Debian's Chromium, headless, driven by Selenium (issue #20 §3).

Against the console served over HTTP on 127.0.0.1 and the real engine: every page loads, a failed job
is retried from the list, a request id is followed, and a hostile title shows as text (no script
runs). Screenshots go to bench/results/console/. Skips, saying so in one line, where there is no
Chromium (apt-get install chromium chromium-driver; .ci/run installs them).
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip("no Chromium here: apt-get install chromium chromium-driver (.ci/run does)", allow_module_level=True)
pytest.importorskip("selenium", reason="the browser test needs selenium (the test extra)")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from songsdb.console import ConsoleSettings, create_app  # noqa: E402
from songsdb.database import SongsDatabase  # noqa: E402

from .opsdata import completed_job, failed_job, model  # noqa: E402

pytestmark = pytest.mark.integration
SHOTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "console"
HOSTILE = '<script>alert("xss")</script>"><img src=x onerror=alert(1)>'


@pytest.fixture
def served(songsdb_ops: SongsDatabase) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_app(songsdb_ops, ConsoleSettings()), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def shot(browser: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    width = browser.get_window_size()["width"]
    browser.set_window_size(width, min(max(height + 120, 600), 4000))
    assert browser.save_screenshot(str(SHOTS / f"{name}.png"))


def no_alert(browser: Any) -> None:
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018 - the property raises when no script opened one


def navigate(browser: Any, go: Any) -> None:
    """Click or submit, then wait until the next page has replaced this one: a click returns before the browser
    has loaded what it asked for, so reading the page at once may read the old one (a loaded machine, CI)."""
    page = browser.find_element(By.TAG_NAME, "html")
    go()
    WebDriverWait(browser, 60).until(expected_conditions.staleness_of(page))


def test_the_console_in_chromium_loads_every_page_retries_a_failed_job_and_follows_its_request(
    served: str, browser: Any, songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    mine = model()
    request = f"req-{uuid.uuid4().hex[:12]}"
    completed_job(songsdb_web, songsdb_worker, mine)
    job_id = failed_job(songsdb_web, songsdb_worker, mine, title=HOSTILE, message="CUDA out of memory",
                        stack='Traceback (most recent call last):\n  File "sep.py", line 9\n' + HOSTILE, request_id=request)
    failed_job(songsdb_web, songsdb_worker, mine, job_type="chroma", title="Second song", message="librosa: bad file")

    browser.get(f"{served}/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"
    assert mine in browser.find_element(By.TAG_NAME, "main").text
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect")
    shot(browser, "overview")

    browser.get(f"{served}/failed?model={mine}")
    body = browser.find_element(By.TAG_NAME, "main").text
    assert HOSTILE in body  # shown as text, exactly as stored
    assert not browser.find_elements(By.CSS_SELECTOR, "main img")  # the title's <img> is not an element
    no_alert(browser)
    shot(browser, "failed-jobs")

    browser.find_element(By.CSS_SELECTOR, f'input[name="job"][value="{job_id}"]').click()
    navigate(browser, lambda: browser.find_element(By.CSS_SELECTOR, 'button[name="action"][value="retry"]').click())
    assert browser.find_element(By.TAG_NAME, "h1").text == "Retried 1 job(s)"
    assert songsdb_ops.job_detail(job_id).job.status == "queued"
    shot(browser, "retried")

    browser.get(f"{served}/jobs/{job_id}")
    assert "queued" in browser.find_element(By.CSS_SELECTOR, "h1 .badge").text
    history = browser.find_element(By.TAG_NAME, "main").text
    assert "retried" in history and "local" in history  # the retry, by this operator
    shot(browser, "job")

    navigate(browser, lambda: browser.find_element(By.LINK_TEXT, request).click())  # follow the job's request id
    assert browser.current_url.endswith(f"/requests?id={request}")
    trail = browser.find_element(By.TAG_NAME, "main").text
    assert trail.index("song") < trail.index("claimed") < trail.index("failed")
    shot(browser, "request")

    browser.get(f"{served}/requests")  # paste an X-Request-ID
    field = browser.find_element(By.NAME, "id")
    field.send_keys(request)
    navigate(browser, field.submit)
    assert f"Everything {request} did, in order" in browser.find_element(By.TAG_NAME, "main").text

    browser.get(f"{served}/songs?q=Second&by=title")
    navigate(browser, lambda: browser.find_element(By.LINK_TEXT, "Second song").click())
    assert "librosa: bad file" in browser.find_element(By.TAG_NAME, "main").text
    shot(browser, "song")

    browser.get(f"{served}/metrics")
    assert "songsdb_jobs_queued" in browser.find_element(By.TAG_NAME, "body").text

    browser.set_window_size(400, 900)  # a narrow window: rows become blocks, nothing needs sideways scrolling
    browser.get(f"{served}/failed?model={mine}")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 400
    shot(browser, "failed-jobs-narrow")
    no_alert(browser)
