"""Browser tests: Playwright drives the system's Chromium against
pytest-django's live server. `make test` finds or installs the browser and
passes its path in HELPDESK_CHROMIUM, or the reason it has none."""

import os
import shutil
import threading
import time

import pytest
from django.core.signals import request_finished, request_started
from django.test import override_settings
from playwright.sync_api import expect, sync_playwright

from tests.factories import PASSWORD

# Playwright's sync API keeps an event loop running in this thread, and
# Django refuses ORM calls from a thread with a running loop unless told.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = (
    os.environ.get("HELPDESK_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)
NO_BROWSER_REASON = os.environ.get(
    "HELPDESK_BROWSER_SKIP_REASON", "no Chromium found: run `make test` or set HELPDESK_CHROMIUM"
)
# Quiet and offline: no updates, sync or QUIC probes from the test browser.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1366, "height": 768}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config, items):
    # Skip without setting up a database; in CI the `browser` fixture fails instead.
    if CHROMIUM or IN_CI:
        return
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason=NO_BROWSER_REASON))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test leaves a screenshot of where the browser was."""
    report = yield
    page = item.funcargs.get("page")
    if report.when == "call" and report.failed and page is not None:
        path = item.funcargs["tmp_path"] / "failure.png"
        try:
            page.screenshot(path=path, full_page=True)
            note = f"saved to {path}"
        except Exception as exc:  # noqa: BLE001 - must not hide the test's own failure
            note = f"could not be taken: {exc}"
        report.sections.append(("screenshot", note))
    return report


class _InFlight:
    """Requests the live server is still answering. A test ends while the
    page it drove may still have one open (a panel loading, a poll): the
    database is emptied after the test, and emptying it while a request's
    transaction reads it can deadlock. The page's teardown waits for them.
    Only the live server's threads count: the test client answers in the
    test's own thread, and a request it lets raise never finishes."""

    def __init__(self):
        self.threads, self.lock = set(), threading.Lock()

    def started(self, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            with self.lock:
                self.threads.add(threading.get_ident())

    def finished(self, **kwargs):
        with self.lock:
            self.threads.discard(threading.get_ident())

    def wait_idle(self, seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        while self.threads and time.monotonic() < deadline:
            time.sleep(0.02)


IN_FLIGHT = _InFlight()
request_started.connect(IN_FLIGHT.started, dispatch_uid="e2e-in-flight-started")
request_finished.connect(IN_FLIGHT.finished, dispatch_uid="e2e-in-flight-finished")


@pytest.fixture(autouse=True)
def _live_requests_finish(request):
    """After a live-server test, and before its database is emptied (the
    database fixture is set up first, so it is torn down after this), wait
    for the requests its pages left open."""
    if "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    IN_FLIGHT.wait_idle()


@pytest.fixture(scope="session")
def _live_server_plain_http():
    # The live server builds its middleware once, when it starts, so the
    # per-test override in tests/conftest.py comes too late for
    # SecurityMiddleware, which would send the browser to https.
    with override_settings(SECURE_SSL_REDIRECT=False):
        yield


@pytest.fixture(scope="session")
def live_server(_live_server_plain_http, live_server):
    return live_server


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM:
        pytest.fail(f"CI must run the browser tests: {NO_BROWSER_REASON}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, tmp_path):
    """A fresh browser context per test, so no cookie leaks between tests.
    (tmp_path is where a failure's screenshot goes.)

    Every page the test opens runs under the app's Content-Security-Policy;
    Chromium reports each violation on the console, and any one fails the
    test: an inline script, handler or style the policy blocks is a page
    that does not work."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    violations = page.csp_violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    context.close()
    assert not violations, f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def log_in(page, live_server):
    """Log a user in through the real login form."""

    def log_in_as(user):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in", exact=True).click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        return page

    return log_in_as
