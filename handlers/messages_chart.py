"""The texts of `/chart`: its usage, its refusals and the photo's caption. The picture
itself is labelled in plain ASCII words (see handlers/chart.py)."""

from __future__ import annotations

CHART_TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "usage_chart": "/chart 币种 [账户]",
        "bad_chart_no_candles": "没有可画的：{account} 没有 {symbol} 的K线数据。",
        "bad_chart_venue_down": "无法读取 {account} 的行情：{error}",
        "chart_caption": "📈 {symbol} · {account}（{venue}）· {count} 根 {bar} K线（UTC）\n"
                         "{held}\n{fills}",
        "chart_side": "{side} {size}，均价 {entry}{tiers}",
        "chart_tier": " · TP{tier} {pct}% 于 {price}{fired}",
        "chart_tier_fired": "（已触发）",
        "chart_tiers_off": "（该账户止盈未开启）",
        "chart_nothing_held": "没有持仓：只有价格和机器人的成交。",
        "chart_fills": "机器人在此期间的成交：{n} 笔（▲ 买入，▼ 卖出）",
        "chart_no_fills": "此期间没有机器人的成交。",
    },
    "en": {
        "usage_chart": "/chart SYMBOL [account]",
        "bad_chart_no_candles": "Nothing to draw: {account} has no candles of {symbol}.",
        "bad_chart_venue_down": "Could not read the market from {account}: {error}",
        "chart_caption": "📈 {symbol} · {account} ({venue}) · {count} bars of {bar} (UTC)\n"
                         "{held}\n{fills}",
        "chart_side": "{side} {size}, average entry {entry}{tiers}",
        "chart_tier": " · TP{tier} {pct}% at {price}{fired}",
        "chart_tier_fired": " (fired)",
        "chart_tiers_off": " (take-profit is off on this account)",
        "chart_nothing_held": "Nothing held: the price and the bot's fills only.",
        "chart_fills": "The bot's fills in the window: {n} (▲ buy, ▼ sell)",
        "chart_no_fills": "No fills of the bot in the window.",
    },
}
