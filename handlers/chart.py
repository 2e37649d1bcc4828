"""`/chart SYMBOL [account]`: a PNG of the price over the recent window (candles), each
side's average entry, each take-profit tier's trigger, and the bot's fills, sent as a
photo with the numbers in the caption; a refusal says why there is nothing to draw.

The picture is drawn by `handlers.chart_image` in a worker thread, so the event loop
keeps serving; the caption speaks the user's language."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from telegram import Update
from telegram.ext import ContextTypes

from bot.domain import Instrument
from bot.ops.chart import ChartData, HeldSide
from bot.ops.refusal import Refusal
from handlers.common import Services, reply, services
from handlers.messages import fmt_decimal, fmt_plain

USAGE = "usage_chart"


def price_text(value: Decimal, inst: Instrument) -> str:
    """A price to the instrument's tick: an average entry or a tier's trigger is rarely
    on it, and its full digits would only hide the number."""
    exponent = inst.tick_size.normalize().as_tuple().exponent
    return fmt_decimal(value, max(0, -int(exponent)))


def _side_text(s: Services, held: HeldSide) -> str:
    p = held.position
    if held.tiers is None:
        tiers = s.text("chart_tiers_off")
    else:
        tiers = "".join(s.text("chart_tier", tier=t.tier, pct=fmt_plain(t.profit_pct),
                               price=price_text(t.price, p.instrument),
                               fired=s.text("chart_tier_fired") if t.fired else "")
                        for t in held.tiers)
    return s.text("chart_side", side=s.text(p.side.value), size=s.size(p.size, p.instrument),
                  entry=price_text(p.entry_price, p.instrument), tiers=tiers)


def caption(s: Services, data: ChartData) -> str:
    held = ("\n".join(_side_text(s, h) for h in data.held) if data.held
            else s.text("chart_nothing_held"))
    fills = s.text("chart_fills", n=len(data.fills)) if data.fills else s.text("chart_no_fills")
    return s.text("chart_caption", symbol=data.instrument.symbol, account=data.account,
                  venue=data.venue, count=len(data.candles), bar=data.bar, held=held,
                  fills=fills)


async def chart_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    args = context.args or []
    if not 1 <= len(args) <= 2:
        await reply(update, context, "usage", usage=s.text(USAGE))
        return
    message = update.effective_message
    assert message is not None
    try:
        data = await s.ops.chart.data(args[0], args[1] if len(args) == 2 else None)
    except Refusal as exc:
        await message.reply_text(s.refusal(exc, USAGE))
        return
    from handlers.chart_image import draw  # matplotlib: loaded on the first chart only

    png = await asyncio.to_thread(draw, data)
    await message.reply_photo(photo=png, caption=caption(s, data))
