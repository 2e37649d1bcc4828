"""The status page and its JSON API (SPEC §12), served by the running demo bot: what
`/api/status` holds is what the ops give the chat; the page draws the same data; the
token, the methods, the addresses it answers at, and no secret anywhere in either."""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import socket
import string
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from pydantic import SecretStr

from bot.app import BotApp, StartupError
from bot.config import Config, StatusPageConfig
from bot.domain import OrderRequest, OrderSide, OrderType, Side
from bot.venues.base import VenueUnavailable
from tests.botkit import PAPER_STILL, make_config, running

ROOT = Path(__file__).resolve().parents[1]
APT = "APT-USDT-SWAP"
TOKEN = secrets.token_hex(16)  # made up per run: no secret is written in the repo
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
DECIMAL = re.compile(r"-?\d+(\.\d+)?")


def page_config(tmp_path: Path, **page: Any) -> Config:
    """The demo portfolio on still prices, take-profit and hedge on (so tiers fire on the
    first run), the status page on an ephemeral port of this machine."""
    config = make_config(tmp_path, rules={"take_profit": True, "hedge": True},
                         paper=PAPER_STILL)
    config.status_page = StatusPageConfig(enabled=True, port=0, **page)
    return config


async def settled(app: BotApp) -> None:
    """Each rule job has had its first run: nothing changes until its next, 10 s later."""
    for _ in range(200):
        jobs = [j for j in app.jobs.statuses() if j.name.startswith("take_profit:")]
        if jobs and all(j.runs >= 1 and not j.running for j in jobs):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the take-profit jobs did not run")


@asynccontextmanager
async def serving(config: Config, prepare: Any = None,
                  ) -> AsyncIterator[tuple[BotApp, aiohttp.ClientSession, str]]:
    async with running(config, prepare=prepare) as (app, _), aiohttp.ClientSession() as http:
        assert app.status_page is not None
        await settled(app)
        yield app, http, app.status_page.url


async def get(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, str]:
    async with http.get(url, **kwargs) as answer:
        return answer.status, await answer.text()


async def rest_an_order(app: BotApp) -> str:
    """A reduce-only SELL resting far above the market on main's APT long, as a close's
    limit batch rests: its client id."""
    ctx = app.ops.ctx
    action = await ctx.store.create_action("close", "main", APT, "long", "command",
                                           {"size": "1"})
    request = OrderRequest("", APT, OrderSide.SELL, Side.LONG, OrderType.LIMIT, D(1), D(9),
                           reduce_only=True)
    outcome = await ctx.executor.order_step(ctx.venue("main"), action, 1, "batch", request,
                                            rest=True)
    return outcome.client_id


# -- the JSON API is what the ops say --------------------------------------------------

async def test_api_status_holds_what_the_ops_give(tmp_path):
    async with serving(page_config(tmp_path)) as (app, http, url):
        client_id = await rest_an_order(app)
        status, body = await get(http, url + "api/status")
        ops = app.ops
        health = (await ops.status.snapshot()).accounts
        views = await ops.positions.overview()
        ladders = await ops.take_profit.ladders()
        resting = await ops.orders.resting()
        events = await ops.ctx.store.recent_events(30)
        job_names = {j.name for j in ops.status.board.statuses()}

    assert status == 200
    data = json.loads(body)
    assert ISO_UTC.fullmatch(data["time"]) and data["paused"] is False
    assert [a["name"] for a in data["accounts"]] == ["main", "sub1"]
    for account, h in zip(data["accounts"], health, strict=True):
        assert account["reachable"] and account["venue"] == "paper"
        assert D(account["balance"]["equity"]) == h.balance.equity
        assert D(account["balance"]["free"]) == h.balance.free

    # Every position, with its next tier or why it is skipped, as /positions and /tp have it.
    shown = {(a["name"], p["symbol"], p["side"]): p
             for a in data["accounts"] for p in a["positions"]}
    assert {(v.position.account, v.position.symbol, v.position.side.value)
            for a in views for v in a.positions} == set(shown)
    ladder_of = {(a.account, s.position.symbol, s.position.side.value): s
                 for a in ladders for s in a.positions}
    assert set(ladder_of) == set(shown)
    for key, p in shown.items():
        tier = ladder_of[key]
        assert all(DECIMAL.fullmatch(p[k]) for k in ("size", "margin", "profit_rate"))
        assert (D(p["size"]), D(p["profit_rate"]), D(p["margin"])) == (
            tier.position.size, tier.position.profit_rate, tier.position.margin)
        tp = p["take_profit"]
        assert tp["fired"] == tier.fired
        assert tp["skip"] == (tier.skip.value if tier.skip else None)
        assert [(D(t["profit_pct"]), D(t["close_pct"])) for t in tp["ladder"]] == [
            (t.profit_pct, t.close_pct) for t in tier.ladder]
        assert (tp["next_tier"] and D(tp["next_tier"]["profit_pct"])) == (
            tier.next_tier and tier.next_tier.profit_pct)
    # The demo's story: sub1's APT long fired its first tier, main's small pairs are skipped.
    assert shown[("sub1", APT, "long")]["take_profit"]["fired"] == 1
    assert shown[("sub1", APT, "long")]["take_profit"]["status"] == "tier 2 fires on the next run"
    assert shown[("main", APT, "long")]["take_profit"]["status"] == "skipped: margin ≤ 1.00 USDT"

    assert {j["name"] for j in data["jobs"]} == job_names
    by_name = {j["name"]: j for j in data["jobs"]}
    assert by_name["take_profit:sub1"]["runs"] >= 1
    assert ISO_UTC.fullmatch(by_name["take_profit:sub1"]["last_run"])
    assert ISO_UTC.fullmatch(by_name["take_profit:sub1"]["next_run"])

    [order] = data["resting_orders"]
    assert [r.order.client_id for r in resting] == [client_id] == [order["client_id"]]
    assert (order["account"], order["symbol"], order["side"], order["price"], order["size"],
            order["state"], order["action_kind"]) == ("main", APT, "sell", "9", "1", "live",
                                                      "close")

    assert [(e["name"], e["message"]) for e in data["events"]] == [
        (e.name, e.message) for e in events]
    assert "tp_fired" in {e["name"] for e in data["events"]}


async def test_the_page_draws_the_same_data_and_refreshes_itself(tmp_path):
    async with serving(page_config(tmp_path)) as (_, http, url):
        _, body = await get(http, url + "api/status")
        async with http.get(url) as answer:
            page, headers = await answer.text(), answer.headers
    data = json.loads(body)

    assert headers["Content-Type"].startswith("text/html")
    assert "script-src 'nonce-" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    for account in data["accounts"]:
        for p in account["positions"]:
            assert p["symbol"] in page and html.escape(p["take_profit"]["status"]) in page
    for job in data["jobs"]:
        assert f"<b>{job['name']}</b>" in page
    assert "fetch(location.href" in page and "setInterval(refresh" in page
    assert "http://" not in page.replace(url, "") and "https://" not in page  # no assets


async def test_healthz_answers_while_the_bot_serves(tmp_path):
    async with serving(page_config(tmp_path)) as (_, http, url):
        status, body = await get(http, url + "healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})


# -- read-only, the token, local addresses -----------------------------------------------

async def test_every_other_method_is_refused(tmp_path):
    async with serving(page_config(tmp_path)) as (_, http, url):
        answers = []
        for method, path in (("POST", ""), ("PUT", "api/status"), ("DELETE", "healthz"),
                             ("PATCH", "api/status"), ("POST", "api/status")):
            async with http.request(method, url + path) as answer:
                answers.append(answer.status)
        missing, _ = await get(http, url + "api/orders")
        async with http.head(url + "api/status") as head:
            headed = head.status
    assert answers == [405] * 5 and missing == 404 and headed == 200


async def test_with_a_token_every_route_but_healthz_asks_for_it(tmp_path):
    async with serving(page_config(tmp_path, token=TOKEN)) as (_, http, url):
        bare = [(await get(http, url + p))[0] for p in ("", "api/status")]
        wrong = [(await get(http, url + p, headers={"Authorization": "Bearer " + "x" * 29}))[0]
                 for p in ("", "api/status")]
        bearer = [(await get(http, url + p, headers={"Authorization": f"Bearer {TOKEN}"}))[0]
                  for p in ("", "api/status")]
        query = [(await get(http, url + p + f"?token={TOKEN}"))[0] for p in ("", "api/status")]
        health, _ = await get(http, url + "healthz")
    assert (bare, wrong, bearer, query, health) == (
        [401, 401], [401, 401], [200, 200], [200, 200], 200)


async def test_without_a_token_it_answers_only_at_a_local_address(tmp_path):
    # A page elsewhere pointing its own name at 127.0.0.1 (DNS rebinding) is not answered.
    async with serving(page_config(tmp_path)) as (_, http, url):
        port = url.rsplit(":", 1)[1].rstrip("/")
        foreign, _ = await get(http, url + "api/status", headers={"Host": f"evil.example:{port}"})
        local, _ = await get(http, url + "api/status", headers={"Host": f"localhost:{port}"})
    assert (foreign, local) == (403, 200)


def test_the_real_bot_refuses_to_start_bound_elsewhere_without_a_token(tmp_path):
    file = tmp_path / "config.yaml"
    file.write_text("status_page: {enabled: true, host: 0.0.0.0}\n")
    done = subprocess.run([sys.executable, str(ROOT / "bot.py"), "--config", str(file)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "config error: status_page.token: required when host is not local ('0.0.0.0' can be"
        " reached from other machines); set status_page.token or bind to 127.0.0.1"]


async def test_a_port_in_use_stops_the_start_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = page_config(tmp_path)
        config.status_page.port = taken.getsockname()[1]
        with pytest.raises(StartupError, match=r"^status page: cannot listen on 127\.0\.0\.1:"
                                               r"\d+ \(status_page\.host/port\): Address "
                                               r"already in use$"):
            async with running(config):
                pytest.fail("the bot started on a port already in use")


# -- no secret in either -----------------------------------------------------------------

def _canary(middle: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12)) + middle


def _forms(canary: str) -> set[str]:
    return {canary, quote(canary, safe=""), html.escape(canary), json.dumps(canary)[1:-1],
            canary[:8]}


async def test_no_secret_appears_in_the_page_or_the_api(tmp_path):
    """The bot token, both accounts' key, secret and passphrase and the page's own token are
    canaries; sub1's venue fails with its secret in the error text, so the venue's health,
    the positions, a job's last error and an event all carry it on their way out."""
    config = page_config(tmp_path, token=_canary("page<&>\"'"))
    canaries = {"token": config.status_page.token.get_secret_value()}  # type: ignore[union-attr]
    config.telegram.token = SecretStr("7300125846:" + _canary("tg_-"))
    canaries["telegram"] = config.telegram.token.get_secret_value().split(":")[1]
    for account in config.accounts:
        for key in ("api_key", "api_secret", "passphrase"):
            value = _canary(f"{key}+/=<&\"")
            setattr(account, key, SecretStr(value))
            canaries[f"{account.name}.{key}"] = value
    leaked_secret = canaries["sub1.api_secret"]

    def failing_venue(app: BotApp) -> None:
        async def refuses(*_: object) -> None:
            raise VenueUnavailable(f"signature mismatch for secret={leaked_secret}",
                                   code="50113", venue="paper")
        app.venues["sub1"].balance = refuses  # type: ignore[method-assign]
        app.venues["sub1"].positions = refuses  # type: ignore[method-assign]

    auth = {"Authorization": f"Bearer {canaries['token']}"}
    async with serving(config, prepare=failing_venue) as (_, http, url):
        _, api = await get(http, url + "api/status", headers=auth)
        _, page = await get(http, url, headers=auth)
        _, health = await get(http, url + "healthz")

    data = json.loads(api)
    sub1 = data["accounts"][1]
    assert not sub1["reachable"] and "***" in sub1["error"] and "***" in sub1["positions_error"]
    assert "***" in {j["name"]: j for j in data["jobs"]}["take_profit:sub1"]["last_error"]
    assert any("***" in e["message"] for e in data["events"] if e["name"] == "job_failed")
    for name, canary in canaries.items():
        for form in _forms(canary):
            for where, text in (("/api/status", api), ("the page", page), ("/healthz", health)):
                assert form not in text, f"{name} ({form!r}) shown in {where}"
