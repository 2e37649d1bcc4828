"""The whole bot configured with OKX accounts (a main account and a sub-account, each with
its own API key), talking through the real python-okx SDK to the fake OKX server: the
production handlers, executor and database, driven through the local Telegram chat."""

from __future__ import annotations

import contextlib
from decimal import Decimal as D

from bot.domain import OrderSide, OrderState, Side
from handlers.messages import fmt_fee, fmt_plain, fmt_signed_usdt
from tests.botkit import FAST_FOLLOW, USER, make_config, running
from tests.fakes.okx_accounts import APT, CREDENTIALS, KEYS, credentials_of, seeded_exchange
from tests.fakes.okx_server import FakeOkxServer


@contextlib.asynccontextmanager
async def okx_bot(tmp_path):
    exchange = seeded_exchange()
    async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS, demo=False) as server:
        # The rule loops stay off: main's long sits at +25%, where take-profit tier 1 would
        # close part of it in the background; these tests are about what the user commands.
        config = make_config(tmp_path, okx_url=server.base_url, rules={"correction": False},
                             close=FAST_FOLLOW)
        async with running(config) as (app, chat):
            yield app, chat, server, exchange
        assert server.errors == []


async def test_positions_of_an_okx_main_and_sub_account(tmp_path):
    async with okx_bot(tmp_path) as (app, chat, server, _):
        assert app.paper is None  # no simulated exchange: these are OKX accounts
        said = "\n".join(await chat.ask("/positions"))
        assert "Positions — main (okx)" in said and "Positions — sub1 (okx)" in said
        assert "APT-USDT-SWAP long 100 ct (100 APT) · margin 80.00 USDT" in said
        assert "APT-USDT-SWAP short 30 ct (30 APT) · margin 20.00 USDT" in said
        assert "APT-USDT-SWAP long 60 ct (60 APT) · margin 32.00 USDT" in said
        accounts = {r.account for r in server.requests_to("/api/v5/account/positions")}
        assert accounts == {"main", "sub1"}  # each read with its own key
        status = "\n".join(await chat.ask("/status"))
        assert "✅ main (okx) reachable" in status and "✅ sub1 (okx) reachable" in status


async def test_close_25_percent_on_the_sub_account_end_to_end(tmp_path):
    async with okx_bot(tmp_path) as (app, chat, server, exchange):
        [question] = await chat.ask("/close APT 25% sub1")
        assert question.startswith("Close APT-USDT-SWAP long on sub1?\n"
                                   "Size: 15 ct (15 APT) of 60 ct (60 APT)\n")
        assert chat.choices == ["Confirm", "Cancel"]
        assert exchange.orders == {}  # nothing is sent before the confirmation

        said = await chat.choose("Confirm", timeout=10)

        [order] = exchange.orders.values()
        assert (order.account, order.symbol, order.side, order.position_side, order.size,
                order.reduce_only, order.state) == (
            "sub1", APT, OrderSide.SELL, Side.LONG, D(15), True, OrderState.FILLED)
        [sent] = server.requests_to("/api/v5/trade/order", "POST")
        assert (sent.account, sent.body["tdMode"], sent.body["posSide"]) == (
            "sub1", "isolated", "long")
        fills = exchange.account_fills("sub1", client_id=order.client_id)
        price = sum(f.price * f.size for f in fills) / sum(f.size for f in fills)
        assert said[-1] == (
            "✅ Closed APT-USDT-SWAP long on sub1: 15 ct (15 APT) of 15 ct (15 APT)\n"
            f"Average price {fmt_plain(price)} · fee {fmt_fee(sum(f.fee for f in fills))} · "
            f"PnL {fmt_signed_usdt(sum(f.realized_pnl for f in fills))}\n"
            f"Order {order.venue_id}: filled, filled 15 ct (15 APT), {len(fills)} fills")
        assert [p.size for p in exchange.positions("sub1")] == [D(45)]
        assert [p.size for p in exchange.positions("main")] == [D(100), D(30)]  # untouched
        action = app.store.recent_actions(1)[0]
        assert (action.kind, action.account, action.state) == ("close", "sub1", "done")


def readme_okx_accounts() -> list[dict]:
    """The OKX main and sub-account entries of README's example, as a user copies them."""
    import re
    from pathlib import Path

    import yaml

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Connecting OKX, Lighter and ccxt exchanges", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    return [a for a in yaml.safe_load(block)["accounts"] if a["name"] in ("main", "sub1")]


async def test_readme_okx_example_pointed_at_the_fake_server(tmp_path):
    import yaml

    from bot.config import load_config

    exchange = seeded_exchange()
    async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS, demo=False) as server:
        accounts = readme_okx_accounts()
        assert [a["venue"] for a in accounts] == ["okx", "okx"]
        for account in accounts:
            account["base_url"] = server.base_url
            account["rules"] = {"take_profit": False, "hedge": False, "correction": False}
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump({
            "language": "en", "telegram": {"allowed_user_ids": [USER]},
            "database": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
            "rules": {"close": {"follow_poll_seconds": "0.01"}}, "accounts": accounts}))
        env = {}
        for name in ("main", "sub1"):
            prefix = "OKX_" if name == "main" else "OKX_SUB1_"
            creds = credentials_of(name)
            env |= {f"{prefix}API_KEY": creds["api_key"],
                    f"{prefix}API_SECRET": creds["api_secret"],
                    f"{prefix}PASSPHRASE": creds["passphrase"]}
        config = load_config(path, environ=env)
        async with running(config) as (_, chat):
            said = "\n".join(await chat.ask("/positions"))
            assert "APT-USDT-SWAP long 60 ct (60 APT) · margin 32.00 USDT" in said
            await chat.ask("/close APT 10 sub1")
            assert (await chat.choose("Confirm", timeout=10))[-1].startswith(
                "✅ Closed APT-USDT-SWAP long on sub1: 10 ct (10 APT) of 10 ct (10 APT)")
            [order] = exchange.orders.values()
            assert (order.account, order.side, order.size, order.reduce_only) == (
                "sub1", OrderSide.SELL, D("10"), True)
