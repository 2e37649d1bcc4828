"""`/chart SYMBOL [account]` end to end on the paper venue: a PNG sent as a photo (the
price's candles, each side's average entry, each take-profit tier's trigger, the bot's
fills), whose bytes change with the data and only with it; the numbers exact in the
op's data and in the caption; a reason instead of a chart when there is nothing to draw."""

from __future__ import annotations

import contextlib
import io
import string
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from PIL import Image

from bot.domain import Candle, Fill, Liquidity, OrderSide, Side
from bot.ops.chart import ChartData
from bot.venues.base import VenueUnavailable
from bot.venues.paper.demo import INSTRUMENTS
from handlers import messages
from handlers.chart_image import draw
from handlers.console import ConsoleChat
from handlers.local_transport import LocalChatRequest
from handlers.messages_chart import CHART_TEXTS
from tests.botkit import PAPER_EMPTY, make_config, running

APT = "APT-USDT-SWAP"
BTC = "BTC-USDT-SWAP"
PNG = b"\x89PNG\r\n\x1a\n"
# Long before any message the local chat dates (now): none of them counts as written
# while the bot was offline. Bars are five minutes: the window is 04:05 to 12:00.
NOW = datetime(2020, 1, 1, 12, 2, tzinfo=UTC)


@pytest.fixture
def photos(monkeypatch):
    """The bytes of every photo the bot uploads (the local chat keeps only its caption)."""
    sent: list[bytes] = []
    send = LocalChatRequest.do_request

    async def recording(self, url, method, request_data=None, *args, **kwargs):
        if request_data is not None and url.endswith("/sendPhoto"):
            sent.append(request_data.multipart_data["photo"][1])
        return await send(self, url, method, request_data, *args, **kwargs)

    monkeypatch.setattr(LocalChatRequest, "do_request", recording)
    return sent


@contextlib.asynccontextmanager
async def chart_bot(tmp_path, *, take_profit="observe", sub1_holds=True):
    """The bot on paper with APT still at 5.1; sub1 holds a long of 50 @ 5 (25 USDT
    margin, +20%) and a short of 40 @ 5.15 (20 USDT, +10%), short of every tier."""
    config = make_config(tmp_path, paper=PAPER_EMPTY, rules={"take_profit": take_profit})

    def prepare(app):
        ex = app.paper.exchange
        if sub1_holds:
            ex.seed_position("sub1", APT, Side.LONG, D(50), D(5), D(10), D(25))
            ex.seed_position("sub1", APT, Side.SHORT, D(40), D("5.15"), D(10), D(20))
        ex.set_mark(APT, D("5.1"))

    async with running(config, clock=lambda: NOW, prepare=prepare) as (app, chat):
        yield app, chat


def fill(trade_id, side, price, time, symbol=APT):
    return Fill(trade_id, "1", "c1", symbol, side, Side.LONG, D(1), D(price), D(0), D(0),
                Liquidity.TAKER, time)


def decoded(png):
    assert png.startswith(PNG)
    with Image.open(io.BytesIO(png)) as image:
        image.load()  # the whole picture, not only its header
        return image.format, image.size


async def test_a_chart_is_a_png_photo_that_changes_with_the_data_and_only_with_it(
        tmp_path, photos):
    async with chart_bot(tmp_path) as (app, chat):
        [caption] = await chat.ask("/chart APT")
        assert chat.transcript[-1].kind == "photo"
        assert caption == (
            "📈 APT-USDT-SWAP · sub1 (paper) · 96 bars of 5m (UTC)\n"
            "long 50 ct (50 APT), average entry 5.000 · TP1 25% at 5.125 · TP2 35% at 5.175"
            " · TP3 50% at 5.250\n"
            "short 40 ct (40 APT), average entry 5.150 · TP1 35% at 4.975 · TP2 45% at 4.925"
            " · TP3 55% at 4.875\n"
            "No fills of the bot in the window.")
        await chat.ask("/chart APT")  # nothing changed: the same picture, byte for byte

        app.store.record_fills("sub1", [fill("t1", OrderSide.BUY, "5.08", NOW),
                                        fill("t2", OrderSide.SELL, "5.12", NOW)])
        [caption] = await chat.ask("/chart apt sub1")
        assert caption.endswith("The bot's fills in the window: 2 (▲ buy, ▼ sell)")

        app.paper.exchange.set_mark(APT, D("5.14"))
        await chat.ask("/chart APT")

    first, same, with_fills, moved = photos
    assert decoded(first) == ("PNG", (1000, 560))
    assert all(decoded(png) == ("PNG", (1000, 560)) for png in (with_fills, moved))
    assert same == first
    assert len({first, with_fills, moved}) == 3


async def test_the_data_holds_entries_tier_prices_and_the_fills_of_its_window_exactly(
        tmp_path):
    async with chart_bot(tmp_path) as (app, _):
        # sub1's long has fired its first tier (the observe ladder, on this entry)
        app.store.put_rule_state("sub1", APT, "long", "take_profit_observe",
                                 {"fired": 1, "entry": "5"})
        app.store.record_fills("sub1", [
            fill("in", OrderSide.BUY, "5.08", NOW - timedelta(hours=7)),
            fill("before", OrderSide.BUY, "5.2", NOW - timedelta(hours=9)),
            fill("other-coin", OrderSide.BUY, "95000", NOW, symbol=BTC)])
        app.store.record_fills("main", [fill("other-account", OrderSide.SELL, "5.1", NOW)])

        data = await app.ops.chart.data("apt")

    assert (data.account, data.venue, data.instrument.symbol, data.bar) == (
        "sub1", "paper", APT, "5m")
    assert len(data.candles) == 96 and data.candles[-1].time == NOW.replace(minute=0)
    assert data.candles[-1].close == D("5.1")
    assert [(h.position.side, h.position.entry_price,
             [(t.tier, t.profit_pct, t.price, t.fired) for t in h.tiers])
            for h in data.held] == [
        (Side.LONG, D(5), [(1, D(25), D("5.125"), True), (2, D(35), D("5.175"), False),
                           (3, D(50), D("5.25"), False)]),
        (Side.SHORT, D("5.15"), [(1, D(35), D("4.975"), False), (2, D(45), D("4.925"), False),
                                 (3, D(55), D("4.875"), False)])]
    assert [f.trade_id for f in data.fills] == ["in"]
    assert draw(data) == draw(data)  # the picture is a function of the data alone


async def test_a_chart_says_why_when_there_is_nothing_to_draw(tmp_path, photos):
    async with chart_bot(tmp_path, take_profit=False, sub1_holds=False) as (app, chat):
        assert await chat.ask("/chart") == ["Usage: /chart SYMBOL [account]"]
        [unknown] = await chat.ask("/chart XYZ")
        assert unknown.startswith("Unknown symbol XYZ; known: AAVE, APT, BCH, BTC")
        [account] = await chat.ask("/chart APT nobody")
        assert account.startswith("Unknown account: nobody")

        # nothing held anywhere: the market alone, on the first account
        [caption] = await chat.ask("/chart APT")
        assert caption.startswith("📈 APT-USDT-SWAP · main (paper)")
        assert "Nothing held: the price and the bot's fills only." in caption

        main = app.venues["main"]

        async def no_candles(symbol, bar="5m", limit=96):
            return []

        main.candles = no_candles  # this venue's answer, for a while
        assert await chat.ask("/chart APT") == [
            "Nothing to draw: main has no candles of APT-USDT-SWAP."]

        async def down(symbol, bar="5m", limit=96):
            raise VenueUnavailable("Service temporarily unavailable", code="50001",
                                   venue="paper")

        main.candles = down
        assert await chat.ask("/chart APT") == [
            "Could not read the market from main: paper 50001 Service temporarily unavailable"]
        del main.candles

        ex = app.paper.exchange
        ex.seed_position("main", APT, Side.LONG, D(10), D(5), D(10))
        ex.seed_position("sub1", APT, Side.SHORT, D(10), D(5), D(10))
        [several] = await chat.ask("/chart APT")
        assert several == messages.text("en", "bad_several_accounts", what="APT", side="",
                                         accounts="main, sub1")
        [caption] = await chat.ask("/chart APT sub1")
        assert caption.splitlines()[1] == (
            "short 10 ct (10 APT), average entry 5.000 (take-profit is off on this account)")
    assert len(photos) == 2


async def test_the_console_shows_a_chart_as_a_photo_with_its_caption(tmp_path, photos):
    async with chart_bot(tmp_path) as (_, chat):
        shown = io.StringIO()
        console = ConsoleChat(chat, stdout=shown)
        console.attach()
        await chat.ask("/chart APT")
        console.detach()
    assert shown.getvalue().startswith("[photo] 📈 APT-USDT-SWAP · sub1 (paper)")


def test_the_chart_texts_are_the_same_in_both_languages():
    zh, en = CHART_TEXTS["zh"], CHART_TEXTS["en"]
    assert zh.keys() == en.keys()
    fields = string.Formatter()
    for key in zh:
        assert ({f for _, f, _, _ in fields.parse(zh[key]) if f}
                == {f for _, f, _, _ in fields.parse(en[key]) if f}), key


def test_a_chart_of_one_candle_and_nothing_else_is_still_drawn():
    [apt] = [i for i in INSTRUMENTS if i.symbol == APT]
    still = Candle(NOW, D("5.2"), D("5.2"), D("5.2"), D("5.2"))
    data = ChartData("main", "paper", apt, "1h", 3600, (still,), (), ())
    assert decoded(draw(data)) == ("PNG", (1000, 560))
