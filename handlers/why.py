"""`/why SYMBOL [level]`: an instrument's timeline of decisions in plain words, newest
last, ending with the answer to "why did / didn't it act?" — one message."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot.ops.refusal import Refusal
from bot.ops.why import Timeline
from db.records import EventRecord
from handlers.common import Services, reply, reply_long, services
from handlers.messages import fmt_plain

USAGE = "usage_why"
# A venue's error text can be long: 15 lines of at most 200 characters and an answer of at
# most 700 keep the timeline within one Telegram message (4,096).
LINE_LIMIT, ANSWER_LIMIT = 200, 700
NUMBERS = {"size", "price", "held", "ratio", "rounded", "lot", "minimum", "tick", "filled",
           "ledger", "venue", "closed", "fee", "pnl"}
_RULE_WORDS = {"tp": "rule_take_profit", "hedge": "rule_hedge",
               "correction": "rule_correction"}


def _key(name: str, data: Mapping[str, Any]) -> str:
    """The text an event is said with: its name, or a finer one where the name covers
    several cases (a grid's start and a BUY placed again; three kinds of rejection; a
    rule skipping)."""
    if name == "grid_buy_placed" and data.get("after") is None:
        return "grid_buy_started"
    if name == "grid_order_rejected":
        return ("grid_order_rejected_venue" if "code" in data else
                "grid_order_rejected_price" if "tick" in data else
                "grid_order_rejected_size")
    if "_skipped_" in name:
        return f"skipped_{data.get('why', 'busy')}"
    return name


def _values(s: Services, data: Mapping[str, Any], side: str | None) -> dict[str, object]:
    values: dict[str, object] = dict(data)
    for key in NUMBERS & values.keys():
        with contextlib.suppress(TypeError, ArithmeticError):  # shown as recorded
            values[key] = fmt_plain(Decimal(str(values[key])))
    if "direction" in values:
        values["direction"] = s.text(f"direction_{values['direction']}")
    if "rule" in values:
        values["rule"] = s.text(_RULE_WORDS.get(str(values["rule"]), "rule_take_profit"))
    if side:
        values["side"] = s.text(side)
    return values


def say(s: Services, prefix: str, name: str, data: Mapping[str, Any] | None,
        side: str | None = None) -> str | None:
    """An event in the user's words: `why` its timeline line, `answer` the answer it
    gives. None: no text of its own, or an older record without the numbers."""
    data = data or {}
    try:
        return s.text(f"{prefix}_{_key(name, data)}", **_values(s, data, side))
    except (KeyError, IndexError, TypeError):  # a number missing from the record
        return None


def _said(s: Services, prefix: str, event: EventRecord) -> str | None:
    return say(s, prefix, event.name, event.data, event.side)


def _when(event: EventRecord) -> str:
    return event.time.strftime("%m-%d %H:%M:%S")


def line(s: Services, event: EventRecord) -> str:
    what = _said(s, "why", event) or f"{event.name}: {event.message}"
    text = s.text("why_line", time=_when(event), account=event.account or "-", what=what)
    return text if len(text) <= LINE_LIMIT else text[: LINE_LIMIT - 1] + "…"


def timeline_text(s: Services, t: Timeline) -> str:
    level = s.text("why_title_level", level=t.level) if t.level is not None else ""
    lines = [s.text("why_title", coin=t.coin, level=level)]
    lines += [line(s, e) for e in t.events]
    if t.answer is None:
        lines.append(s.text("why_nothing_decided", coin=t.coin))
    else:
        answer = _said(s, "answer", t.answer) or s.text("answer_last", line=line(s, t.answer))
        lines.append(s.text("why_answer", time=_when(t.answer), answer=answer[:ANSWER_LIMIT]))
    return "\n".join(lines)


async def why_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    args = context.args or []
    if not 1 <= len(args) <= 2:
        await reply(update, context, "usage", usage=s.text(USAGE))
        return
    level = None
    if len(args) == 2:
        if not args[1].isdecimal() or len(args[1]) > 4:
            await reply(update, context, "bad_argument", usage=s.text(USAGE),
                        reason=s.text("bad_why_not_level", word=args[1][:20]))
            return
        level = int(args[1])
    try:
        timeline = await s.ops.why.timeline(args[0], level)
    except Refusal as exc:
        await update.effective_message.reply_text(s.refusal(exc))  # type: ignore[union-attr]
        return
    await reply_long(update, timeline_text(s, timeline))
