"""The chart's picture: a PNG of the candles, each side's average entry, each take-profit
tier's trigger and the bot's fills.

matplotlib draws through its Agg canvas on a Figure of its own (no pyplot, no display,
no global state). The picture is labelled in plain ASCII words, which every font draws.
This module is imported on the first /chart only: matplotlib and numpy add some 55 MB to
the process, which a bot that never draws a chart should not carry (issue 16).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, timedelta
from decimal import Decimal

from matplotlib import dates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.domain import Candle, Fill, OrderSide, Side
from bot.ops.chart import ChartData, HeldSide
from handlers.chart import price_text
from handlers.messages import fmt_plain

SIZE_INCHES, DPI = (10, 5.6), 100  # 1000 x 560 pixels: sharp in a chat, some 60 KB
RISING, FALLING = "#26a69a", "#ef5350"
SIDE_COLOURS = {Side.LONG: "#1565c0", Side.SHORT: "#ef6c00"}
BODY = 0.7  # a candle's body, as a share of its bar


def _draw_candles(ax: Axes, candles: Sequence[Candle], width: float, tick: Decimal) -> None:
    times = [dates.date2num(c.time) for c in candles]
    colours = [RISING if c.close >= c.open else FALLING for c in candles]
    ax.vlines(times, [float(c.low) for c in candles], [float(c.high) for c in candles],
              colors=colours, linewidth=0.8)
    # A bar whose price held still keeps a body one tick high, so it is still seen.
    ax.bar(times, [float(max(abs(c.close - c.open), tick)) for c in candles], width * BODY,
           bottom=[float(min(c.open, c.close)) for c in candles], color=colours)


def _draw_side(ax: Axes, held: HeldSide) -> None:
    p = held.position
    colour, inst = SIDE_COLOURS[p.side], p.instrument
    ax.axhline(float(p.entry_price), color=colour, linewidth=1.6,
               label=f"{p.side.value} entry {price_text(p.entry_price, inst)}")
    for tier in held.tiers or ():
        ax.axhline(float(tier.price), color=colour, linewidth=1, linestyle="--",
                   alpha=0.45 if tier.fired else 0.9)
        label = f"TP{tier.tier} {fmt_plain(tier.profit_pct)}%" + (" fired" if tier.fired else "")
        ax.annotate(f"{p.side.value} {label} {price_text(tier.price, inst)}",
                    xy=(1, float(tier.price)), xycoords=("axes fraction", "data"),
                    xytext=(-4, 2), textcoords="offset points", ha="right", va="bottom",
                    fontsize=8, color=colour)


def _draw_fills(ax: Axes, fills: Sequence[Fill]) -> None:
    for side, marker, colour in ((OrderSide.BUY, "^", RISING), (OrderSide.SELL, "v", FALLING)):
        chosen = [f for f in fills if f.side is side]
        if chosen:
            ax.scatter([dates.date2num(f.time) for f in chosen], [float(f.price) for f in chosen],
                       marker=marker, s=70, color=colour, edgecolors="black", linewidths=0.6,
                       zorder=5, label=f"bot {side.value}")


def draw(data: ChartData) -> bytes:
    """The chart as PNG bytes; the same data always gives the same bytes."""
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="tight")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    bar = timedelta(seconds=data.bar_seconds)
    _draw_candles(ax, data.candles, bar / timedelta(days=1), data.instrument.tick_size)
    for held in data.held:
        _draw_side(ax, held)
    _draw_fills(ax, data.fills)
    ax.set_xlim(dates.date2num(data.candles[0].time - bar),
                dates.date2num(data.candles[-1].time + bar))
    hours = dates.AutoDateLocator(tz=UTC)
    ax.xaxis.set_major_locator(hours)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(hours, tz=UTC))
    ax.set_title(f"{data.instrument.symbol} · {data.account} ({data.venue}) · "
                 f"{len(data.candles)} × {data.bar} bars")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(f"price ({data.instrument.quote})")
    ax.grid(alpha=0.25)
    if data.held or data.fills:
        ax.legend(loc="upper left", fontsize=8)
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})  # no version stamp
    return out.getvalue()
