"""The status page in a real headless Chromium, against the running demo bot: the page as
a browser builds it (its script run, its self-refresh done in the browser's virtual time)
shows the demo's positions, their take-profit tiers and the jobs; and a screenshot.

Chromium is Debian's `chromium` package (`.ci/run` installs it when missing). Without it
the tests are skipped on a developer's machine, and fail under CI (CI=true): they must
never pass unseen.

`STATUS_PAGE_SCREENSHOT=docs/status-page.png .venv/bin/python -m pytest -q
tests/test_status_page_browser.py` also writes the screenshot README shows."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import shutil
import struct
from pathlib import Path

import pytest

from tests.test_status_page import TOKEN, page_config, rest_an_order, serving

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SCREEN = (1200, 900)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def find_chromium() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    reason = (f"no headless Chromium on PATH (looked for {', '.join(BROWSERS)}); install "
              "Debian's package: apt-get install chromium (.ci/run does)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}. Under CI this test must run, not be skipped.")
    pytest.skip(reason)


async def chromium(browser: str, profile: Path, *args: str) -> bytes:
    """Chromium headless, run without blocking the event loop the bot serves on."""
    process = await asyncio.create_subprocess_exec(
        browser, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
        "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{browser} did not finish within 120 s") from None
    assert process.returncode == 0, f"{browser} exited {process.returncode}: {err.decode()}"
    return out


async def test_a_browser_shows_the_demo_positions_tiers_and_jobs(tmp_path):
    browser = find_chromium()
    async with serving(page_config(tmp_path, token=TOKEN)) as (app, http, url):
        client_id = await rest_an_order(app)
        # 11 s of the page's own time: its script fetches the page again twice (every 5 s),
        # through the ?token= it was opened with.
        dom = (await chromium(browser, tmp_path / "profile", "--virtual-time-budget=11000",
                              "--dump-dom", f"{url}?token={TOKEN}")).decode()
        async with http.get(url + "api/status",
                            headers={"Authorization": f"Bearer {TOKEN}"}) as answer:
            data = json.loads(await answer.text())

    assert re.search(r'<body data-refreshes="2">', dom), dom[:500]
    assert '<span id="stale" class="badge bad" hidden="">' in dom  # it answered each time
    positions = [(a["name"], p) for a in data["accounts"] for p in a["positions"]]
    assert "APT-USDT-SWAP" in dom and len(positions) == 14
    for _, p in positions:
        assert p["symbol"] in dom
        assert html.escape(p["take_profit"]["status"]) in dom
    # sub1's APT long: its first tier fired (marked), the others not yet.
    sub1_ladder = re.search(r"<b>APT-USDT-SWAP</b>.*?</tr>", dom[dom.index(">sub1<"):],
                            re.DOTALL)
    assert sub1_ladder is not None
    assert '<span class="tier fired">25%→30%</span>' in sub1_ladder.group(0)
    assert '<span class="tier ">35%→50%</span>' in sub1_ladder.group(0)
    for job in ("paper_market", "take_profit:main", "take_profit:sub1", "position_log:main"):
        assert f"<b>{job}</b>" in dom
    assert client_id in dom and "Resting orders" in dom and "Recent events" in dom


async def test_a_screenshot_of_the_page(tmp_path):
    browser = find_chromium()
    shot = tmp_path / "status-page.png"
    async with serving(page_config(tmp_path)) as (_, _, url):
        await chromium(browser, tmp_path / "profile", "--virtual-time-budget=3000",
                       "--run-all-compositor-stages-before-draw",
                       f"--window-size={SCREEN[0]},{SCREEN[1]}", f"--screenshot={shot}", url)

    png = shot.read_bytes()
    assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == SCREEN
    keep = os.environ.get("STATUS_PAGE_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, ROOT / keep)


async def test_the_page_says_so_when_the_bot_stops_answering(tmp_path):
    """The page keeps its last numbers and marks them "not answering"."""
    browser = find_chromium()
    async with serving(page_config(tmp_path)) as (app, _, url):
        overview, answered = app.ops.overview, []
        first = overview.snapshot

        async def only_once() -> object:  # the page itself, then no answer
            if answered:
                raise RuntimeError("the bot is not answering")
            answered.append(True)
            return await first()

        overview.snapshot = only_once  # type: ignore[method-assign]
        dom = (await chromium(browser, tmp_path / "profile", "--virtual-time-budget=6000",
                              "--dump-dom", url)).decode()
    assert "APT-USDT-SWAP" in dom and "data-refreshes" not in dom
    assert re.search(r'<span id="stale" class="badge bad">not answering</span>', dom)
