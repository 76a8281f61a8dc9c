"""The console in a real headless Chromium against a real worker on the broker: sign in,
write a segment in the editor with a preview, apply it, watch a person enter in the live
feed, explain it, read a dead letter, delete the segment.

Set TRAITFLOW_SCREENSHOTS=docs to refresh the screenshots in docs/ from this test.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import Popen

import pytest

from tests.conftest import lacking
from tests.support.kafka_helpers import identify, send_messages
from tests.support.web_helpers import wait_ready
from traitflow.admin.token import admin_token
from traitflow.config import Settings

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOW_TO_INSTALL = (
    "no Chromium at /usr/bin/chromium: the console's browser tests were skipped; install it "
    "with `sudo apt-get install chromium` (.ci/run does this in CI)"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # fmt: skip; the closed network refuses Google's hosts
TRIAL = 'key: trial\nname: Trial users\ncondition:\n  trait: plan\n  op: "="\n  value: trial\n'
PLANS = {"ada": "trial", "grace": "pro", "linus": "trial", "mia": "trial", "ken": "pro"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"size_sample_s": 0.5})  # a size line to draw


@pytest.fixture
async def page(settings: Settings, worker: Popen[bytes]) -> AsyncIterator[object]:
    lacking(None if Path(CHROMIUM).exists() else HOW_TO_INSTALL)
    from playwright.async_api import async_playwright

    await wait_ready(f"http://127.0.0.1:{settings.web_port}")
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1200, "height": 900})
        opened = await context.new_page()
        opened.set_default_timeout(30_000)
        yield opened
        await browser.close()


async def shot(page: object, tmp_path: Path, name: str) -> None:
    """A screenshot: into TRAITFLOW_SCREENSHOTS (docs/ when refreshing them), else tmp."""
    folder = Path(os.environ.get("TRAITFLOW_SCREENSHOTS") or tmp_path)
    await page.screenshot(path=str(folder / f"console-{name}.png"), full_page=True)  # type: ignore[attr-defined]


async def test_sign_in_preview_apply_watch_explain_and_delete(
    settings: Settings, page: object, tmp_path: Path
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    base = f"http://127.0.0.1:{settings.web_port}"
    await send_messages(settings, *(identify(name, "2026-11-23T08:00:00Z", f"m-{name}", plan=plan)
                                    for name, plan in PLANS.items()))  # fmt: skip

    await page.goto(f"{base}/console/")
    await expect(page.get_by_label("Admin token")).to_be_focused()
    await page.get_by_label("Admin token").fill("not-the-token-at-all")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#sign-in-error")).to_have_text("that is not the admin token")
    await page.get_by_label("Admin token").fill(admin_token(settings, create=False))
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("navigation", name="Pages")).to_be_visible()
    await expect(page.locator("#segment-table")).to_contain_text("no live segments yet")

    await page.get_by_role("link", name="Editor").click()
    editor = page.get_by_label(re.compile("^Definition"))
    await editor.fill(TRIAL.replace('"="', "equals"))
    await expect(page.locator("#check-result")).to_contain_text("did you mean '='?")
    await editor.fill(TRIAL)
    await expect(page.locator("#check-result")).to_have_text("Valid: segment trial (new)")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#preview-summary")).to_contain_text(
        "3 members of 5 profiles read; 3 would enter, 0 would exit"
    )
    await expect(page.locator("#preview-entering")).to_have_text(re.compile("ada.*linus.*mia"))
    await shot(page, tmp_path, "editor")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("#apply-result")).to_contain_text("Applied trial as definitions v")

    await page.get_by_role("link", name="Live events").click()
    await expect(page.locator("#live-status")).to_contain_text("Connected")
    await send_messages(settings, identify("zoe", "2026-11-23T09:00:00Z", "m-zoe", plan="trial"))
    entered = page.locator("#live-events li", has_text=re.compile(r"entered trial zoe"))
    await expect(entered).to_have_count(1)
    await shot(page, tmp_path, "live")

    await page.get_by_role("link", name="Person").click()
    await page.get_by_label("User id, anonymous id or merged id").fill("zoe")
    await page.get_by_role("button", name="Look up").click()
    await expect(page.locator("#membership-table")).to_contain_text("trial")
    await page.get_by_role("button", name="Explain").click()
    await expect(page.locator("#explanation")).to_contain_text("zoe is a member of trial")
    await shot(page, tmp_path, "person")

    await send_messages(settings, b"{not json")
    await page.get_by_role("link", name="Dead letters").click()
    await expect(page.locator("#dead-letter-table")).to_contain_text("{not json")

    await page.get_by_role("link", name="Segments").click()
    row = page.locator("#segment-table tbody tr", has_text="trial")
    await expect(row).to_contain_text("4")
    await row.focus()
    await page.keyboard.press("Enter")  # rows open from the keyboard too
    await expect(page.locator("#member-list")).to_contain_text("zoe")
    await expect(page.locator("#history-list")).to_contain_text("applied rev")
    await shot(page, tmp_path, "segments")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete segment").click()
    await expect(page.locator("#segment-table")).to_contain_text("no live segments yet")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Admin token")).to_be_visible()
    answer = await page.request.get(f"{base}/admin/segments")
    assert answer.status == 401  # the cookie is gone
