"""The watcher's buttons: [Maintain] and [Super maintain] lead to the same plan as the
commands, [Skip] only says so. (The alert itself is drawn in handlers/alerts.py.)"""

from __future__ import annotations

from telegram import Message

from bot.domain import Side
from handlers.common import Services, edit
from handlers.maintain import side_chosen


async def watcher_choice(s: Services, message: object, user_id: int, payload: dict,
                         choice: str) -> None:
    assert isinstance(message, Message)
    if choice == "skip":
        await edit(message, s.text("watcher_skipped", symbol=payload["symbol"],
                                   side=s.text(payload["side"]), account=payload["account"]))
        return
    await side_chosen(s, message, user_id, {
        "kind": choice, "symbol": payload["symbol"], "account": payload["account"],
        "amount": None, "target": None}, Side(payload["side"]))
