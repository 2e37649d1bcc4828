"""`/grid [name]`: each grid's levels, resting orders, holdings (the grid's ledger and the
venue's position, and a drift between them), realised PnL and fees."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.ops.grid import GridReport
from bot.ops.refusal import Refusal
from handlers.common import Services, reply, reply_long, services
from handlers.messages import fmt_fee, fmt_plain, fmt_signed_usdt

USAGE = "usage_grid"


def report_text(s: Services, r: GridReport) -> str:
    c = r.config
    lines = [s.text("grid_title", grid=c.name, account=c.account, symbol=r.symbol,
                    leg=s.text(str(c.leg)), mode=s.text(f"mode_{r.mode.value}")),
             s.text("grid_levels", buys=" · ".join(fmt_plain(p) for p in c.buy_levels),
                    sells=" · ".join(fmt_plain(p) for p in c.sell_levels))]
    resting = " · ".join(
        s.text("grid_resting_order", direction=s.text(f"direction_{d.value}"),
               size=fmt_plain(size), price=fmt_plain(price), level=level + 1)
        for d, level, price, size in sorted(r.resting, key=lambda o: (o[0].value, o[1])))
    lines.append(s.text("grid_resting", orders=resting or "-"))
    held = fmt_plain(r.held) if r.held is not None else s.text("grid_unknown")
    lines.append(s.text("grid_holdings", ledger=fmt_plain(r.ledger), held=held,
                        pnl=fmt_signed_usdt(r.realized_pnl), fees=fmt_fee(r.fees)))
    if r.held is not None and r.held != r.ledger and c.leg == "long":
        lines.append(s.text("grid_drift_now"))
    return "\n".join(lines)


async def grid_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    args = context.args or []
    if len(args) > 1:
        await reply(update, context, "usage", usage=s.text(USAGE))
        return
    try:
        reports = await s.ops.grid.reports(args[0] if args else None)
    except Refusal as exc:
        await update.effective_message.reply_text(s.refusal(exc, USAGE))  # type: ignore[union-attr]
        return
    if not reports:
        await reply(update, context, "grid_none")
        return
    await reply_long(update, "\n\n".join(report_text(s, r) for r in reports))
