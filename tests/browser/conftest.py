"""A real headless Chromium (Debian's `chromium` and `chromium-driver`, driven by Selenium)
against a real `thaiyyal serve` on loopback with a database of its own. One server and one
browser per test module; screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.platform.serving import ROOT, THAIYYAL, Server, serve, server_environment

PASSWORD = "browser-pw-1"
#: a staff user who may only view workflows (the same password)
VIEWER = (
    "from django.contrib.auth.models import Permission, User\n"
    f"u = User.objects.create_user('viewer', password={PASSWORD!r}, is_staff=True)\n"
    "u.user_permissions.add(Permission.objects.get(codename='view_workflow'))\n")
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--window-size=1400,1000")

# Selenium must never fetch a driver or a browser: Debian's are on the PATH.
os.environ["SE_OFFLINE"] = "true"


def _tools() -> tuple[str, str]:
    browser = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.fail("the browser tests need Debian's chromium and chromium-driver "
                    "(.ci/run installs them: apt-get install chromium chromium-driver)")
    return browser, driver


@contextmanager
def scratch_database(tmp: Path) -> Iterator[str]:
    """A database of the server's own: the browser's saves are committed, which a
    test's transaction could not show another process."""
    settings = connection.settings_dict
    if settings["ENGINE"] == "django.db.backends.sqlite3":
        yield f"sqlite:///{tmp / 'browser.sqlite3'}"
        return
    name = f"thaiyyal_browser_{uuid.uuid4().hex[:10]}"
    params = {"host": settings["HOST"] or "127.0.0.1", "port": settings["PORT"] or 5432,
              "user": settings["USER"], "password": settings["PASSWORD"] or None,
              "dbname": "postgres", "autocommit": True}
    with psycopg.connect(**params) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        auth = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
        yield f"postgres://{auth}@{params['host']}:{params['port']}/{name}"
    finally:
        with psycopg.connect(**params) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, django_db_blocker) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("site")
    with django_db_blocker.unblock(), scratch_database(tmp) as url:
        env = server_environment(url, tmp / "var", DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        for command in (["migrate", "--noinput"],
                        ["createsuperuser", "--noinput", "--username", "root",
                         "--email", "root@example.com"],
                        ["shell", "-c", VIEWER]):
            subprocess.run([str(THAIYYAL), "manage", *command], env=env, cwd=ROOT, check=True,
                           capture_output=True)
        with serve(env, tmp / "server.log", "--no-migrate", "--workers", "2") as server:
            yield server


@pytest.fixture(scope="module")
def browser(site: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    binary, driver_path = _tools()
    options = Options()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    try:
        log_in(driver, site, "root")
        yield driver
    finally:
        driver.quit()


def log_in(driver: WebDriver, site: Server, username: str) -> None:
    """Signs in afresh as `username` (root, or the view-only viewer)."""
    driver.delete_all_cookies()
    driver.get(site.base + "/admin/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait(driver).until(lambda d: "/admin/login/" not in d.current_url)


def wait(driver: WebDriver, seconds: float = 15) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def screenshot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
