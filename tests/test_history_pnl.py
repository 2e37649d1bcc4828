"""`/history` and `/pnl` on a scripted session in the running demo bot (issue 15): take-
profit closes by the rules, a close by command; every figure shown equals the
recorded fills it stands for."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from handlers.messages import fmt_fee, fmt_signed_usdt
from tests.botkit import FAST_FOLLOW, PAPER_STILL, first_runs_done, make_config, quiet, running


@pytest.fixture
async def session(tmp_path):
    """Take-profit tiers fire on main's BCH short and sub1's APT long, and the user closes
    10 APT of sub1 by command."""
    config = make_config(tmp_path, rules={"take_profit": True},
                         paper=PAPER_STILL, close=FAST_FOLLOW)
    quiet(config)
    async with running(config) as (app, chat):
        await first_runs_done(app)  # the take-profit runs: tiers fire once
        await chat.ask("/close APT 10 sub1")
        await chat.press("Confirm")
        await chat.settle()
        yield app, chat


def fills_of(app):
    """Every recorded fill: (account, client id, PnL, fee)."""
    return [(r.account, r.fill.client_id, r.fill.realized_pnl, r.fill.fee)
            for r in app.store.fills_since(None)]


async def test_pnl_totals_are_the_recorded_fills(session):
    app, chat = session
    fills = fills_of(app)
    assert len({f[0] for f in fills}) == 2  # both accounts traded

    [shown] = await chat.ask("/pnl all")

    pnl, fee = sum(f[2] for f in fills), sum(f[3] for f in fills)
    assert shown.splitlines()[-1] == (
        f"Total: PnL {fmt_signed_usdt(pnl)} · fees {fmt_fee(fee)} · net "
        f"{fmt_signed_usdt(pnl - fee)} · fills: {len(fills)}")
    for account in ("main", "sub1"):
        mine = [f for f in fills if f[0] == account]
        a_pnl, a_fee = sum(f[2] for f in mine), sum(f[3] for f in mine)
        assert (f"  {account}: PnL {fmt_signed_usdt(a_pnl)} · fees {fmt_fee(a_fee)} · net "
                f"{fmt_signed_usdt(a_pnl - a_fee)} · fills: {len(mine)}") in shown.splitlines()
    assert await chat.ask("/pnl today") == [shown.replace("all time", "today")]
    assert await chat.ask("/pnl week") == ["Not a period: week (today, 7d, 30d or all)"]


async def test_history_lists_each_action_with_its_fills_and_order_ids(session):
    app, chat = session
    [shown] = await chat.ask("/history")

    blocks = shown.split("\n\n")
    assert blocks[0].startswith("📜 Recent actions: 3 (newest first, UTC)\n#")
    kinds = [re.search(r" · (\S+) · ", b).group(1) for b in blocks]  # type: ignore[union-attr]
    assert kinds == ["close", "take-profit", "take-profit"]
    by_client = defaultdict(list)
    for _, client_id, pnl, fee in fills_of(app):
        by_client[client_id].append((pnl, fee))
    for block in blocks:
        ids = re.findall(r"order (\S+) / (\S+): ", block)
        assert ids and all(venue_id != "-" for venue_id, _ in ids)
        mine = [f for _, client_id in ids for f in by_client[client_id]]
        pnl, fee = sum(f[0] for f in mine), sum(f[1] for f in mine)
        assert f"fee {fmt_fee(fee)} · realised PnL {fmt_signed_usdt(pnl)}" in block

    [sub1_only] = await chat.ask("/history 1 sub1 apt")
    assert sub1_only.count("\n#") == 1 and " · close · sub1 APT-USDT-SWAP long · done" in sub1_only
    assert await chat.ask("/history DOGE") == ["No action was ever taken on DOGE"]
    assert await chat.ask("/history 0") == ["The count is 1 to 50, not 0"]
