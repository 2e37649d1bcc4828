"""A Lighter account in the running bot (issue 13): `/positions`, `/close BTC 0.001` end to
end with an honest report, and the take-profit job, through the real lighter-sdk against
the local Lighter server."""

from __future__ import annotations

import contextlib
from decimal import Decimal as D

from bot.config import parse_config
from bot.domain import OrderSide, Side
from tests.botkit import FAST_FOLLOW, USER, running
from tests.fakes.lighter_server import MARKETS, FakeLighterServer, lighter_exchange

ACCOUNT = 7


@contextlib.asynccontextmanager
async def lighter_bot(tmp_path, rules=None):
    """The bot with one Lighter account holding 0.002 BTC long, bought at 94,000."""
    from lighter.signer_client import create_api_key

    exchange = lighter_exchange({"BTC": D("95000"), "ETH": D("3000")})
    exchange.market.freeze()
    exchange.add_account("lt", D("1000"))
    exchange.seed_position("lt", "BTC", Side.LONG, D("0.002"), D("94000"), D("10"))
    private_key, _, _ = create_api_key()
    async with FakeLighterServer(exchange, {ACCOUNT: "lt"}, MARKETS) as server:
        config = parse_config({
            "language": "en",
            "telegram": {"allowed_user_ids": [USER]},
            "database": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
            "accounts": [{"name": "lt", "venue": "lighter", "role": "main",
                          "api_key": private_key, "account_index": ACCOUNT,
                          "api_key_index": 4, "base_url": server.base_url,
                          # REST only: run_now must be the one run (the stream would
                          # wake its own; tests/test_lighter_streams.py covers that)
                          "streams": False,
                          "rules": {"take_profit": False, "hedge": False,
                                    "correction": False, "watcher": "off", **(rules or {})}}],
            "rules": {"close": FAST_FOLLOW},
        })
        async with running(config) as (app, chat):
            yield app, chat, exchange, server


def orders(exchange):
    return [(o.side, o.size, o.reduce_only) for o in exchange.orders.values()]


async def test_positions_and_a_close_of_0_001_btc_report_what_filled(tmp_path):
    async with lighter_bot(tmp_path) as (app, chat, exchange, server):
        said = "\n".join(await chat.ask("/positions"))
        assert "Positions — lt (lighter)" in said
        assert "BTC long 0.002 ct (0.002 BTC)" in said

        [question] = await chat.ask("/close BTC 0.001")
        assert "0.001 ct (0.001 BTC)" in question and chat.choices == ["Confirm", "Cancel"]
        report = (await chat.choose("Confirm", timeout=20))[-1]

        assert orders(exchange) == [(OrderSide.SELL, D("0.001"), True)]
        assert report.startswith("✅ Closed"), report
        assert "0.001 ct (0.001 BTC)" in report
        [held] = await app.venues["lt"].positions()
        assert held.size == D("0.001")
        [action] = app.store.recent_actions(1)
        assert (action.kind, action.state.value) == ("close", "done")


async def test_take_profit_fires_a_tier_on_a_lighter_position(tmp_path):
    async with lighter_bot(tmp_path, {"take_profit": True, "hedge": True}) as (
            app, chat, exchange, server):
        exchange.set_mark("BTC", D("97000"))  # +31.9 % on 18.8 USDT of margin: tier 1

        await app.jobs.run_now("take_profit:lt")

        assert orders(exchange) == [(OrderSide.SELL, D("0.0006"), True)]  # 30 % of 0.002
        [alert] = [e.text for e in chat.transcript
                   if e.kind == "sent" and e.text.startswith("🎯 Take-profit tier 1")]
        assert "BTC long on lt" in alert
        await app.jobs.run_now("take_profit:lt")  # nothing twice; no hedge on one side
        assert len(exchange.orders) == 1
