"""Chromium driven by the tests: a browser signed in as a user, and waits on what the page shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from sqlalchemy import select

from hotline.db.models import User
from shell.service import Hotline
from web import auth

PASSWORD = "mật-khẩu-thử-nghiệm"


async def add_users(bridge: Hotline) -> None:
    names = {"giamsat": ("supervisor", "103"), "canbo101": ("agent", "101"), "quantri": ("admin", "")}
    async with bridge.db() as session, session.begin():
        for user in list(await session.scalars(select(User).where(User.username.in_(list(names))))):
            await session.delete(user)
    for name, (role, extension) in names.items():
        await auth.add_user(bridge.db, name, PASSWORD, role, extension)


def browser(chromium: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--autoplay-policy=no-user-gesture-required",
        "--lang=vi",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


async def until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """WebDriver calls block, and the web app answers from this same event loop: they run in a thread."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = await asyncio.to_thread(check)
        except Exception:  # the page may be between two renders
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {what}")
        await asyncio.sleep(0.2)


def sign_in(b: webdriver.Chrome, base: str, name: str, then: str) -> None:
    b.get(f"{base}/login?next={then}")
    b.find_element(By.NAME, "username").send_keys(name)
    b.find_element(By.NAME, "password").send_keys(PASSWORD)
    b.find_element(By.CSS_SELECTOR, "#login button").click()


async def run(work: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(work, *args)
