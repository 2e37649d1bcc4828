"""The control plane's own switches and records: the global pause, the language, and
what the gate turned away (strangers, commands sent while the bot was down)."""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta

from bot.ops.context import Context
from bot.ops.events import HandlerFailed, Paused, Resumed, StaleUpdateDropped, Unauthorized

# A flood of strangers must cost neither the owner's answers (Telegram's rate limit is
# shared) nor the database: each stranger is answered and recorded once per period, and
# all of them together a few times a minute; the rest are counted in the next record.
STRANGER_PERIOD = timedelta(hours=1)
STRANGER_ANSWERS_PER_MINUTE = 20
STRANGERS_REMEMBERED = 10_000


class Control:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._strangers: OrderedDict[int | None, datetime] = OrderedDict()
        self._answered: deque[datetime] = deque()
        self._unanswered = 0
        # What /lang chose, kept: every message asks. Read as the bot is built.
        self._language = ctx.store.sync.language() or ctx.config.language

    @property
    def paused(self) -> bool:
        return self.ctx.pause.paused

    async def pause(self, by_user: int | None) -> bool:
        """Stop every automatic action at once; False if already paused."""
        if self.ctx.pause.paused:
            return False
        await self.ctx.pause.set(True, by_user)
        await self.ctx.publish(Paused(by_user=by_user))
        return True

    async def resume(self, by_user: int | None) -> bool:
        if not self.ctx.pause.paused:
            return False
        await self.ctx.pause.set(False, by_user)
        await self.ctx.publish(Resumed(by_user=by_user))
        return True

    def language(self) -> str:
        return self._language

    async def set_language(self, code: str) -> None:
        await self.ctx.store.set_language(code)
        self._language = code

    async def settings_changed(self) -> None:
        """Another process of a cluster changed a setting: the pause and the language
        read again from the database."""
        self.ctx.pause.reload(await self.ctx.store.is_paused())
        self._language = await self.ctx.store.language() or self.ctx.config.language

    def turned_away_quietly(self, user_id: int | None) -> bool:
        """A stranger not to be answered now (told within the period, or strangers are
        flooding in): only counted, for the next record. Asked before their message is
        even read, so a flood costs the owner nothing."""
        now = self.ctx.clock()
        while self._answered and now - self._answered[0] >= timedelta(minutes=1):
            self._answered.popleft()
        last = self._strangers.get(user_id)
        if (last is not None and now - last < STRANGER_PERIOD) or \
                len(self._answered) >= STRANGER_ANSWERS_PER_MINUTE:
            self._unanswered += 1
            return True
        return False

    async def refused(self, user_id: int | None, username: str | None, said: str) -> bool:
        """A stranger turned away. True when they are to be told so (and it is recorded);
        False when they were told within the period, or strangers are flooding in."""
        if self.turned_away_quietly(user_id):
            return False
        now = self.ctx.clock()
        self._answered.append(now)
        self._strangers[user_id] = now
        self._strangers.move_to_end(user_id)
        while len(self._strangers) > STRANGERS_REMEMBERED:
            self._strangers.popitem(last=False)
        unanswered, self._unanswered = self._unanswered, 0
        await self.ctx.publish(Unauthorized(user_id=user_id, username=username, said=said,
                                            unanswered=unanswered))
        return True

    async def dropped_stale(self, said: str, age_seconds: int) -> None:
        await self.ctx.publish(StaleUpdateDropped(said=said, age_seconds=age_seconds))

    async def front_failed(self, error: BaseException) -> None:
        await self.ctx.publish(HandlerFailed(error=f"{type(error).__name__}: {error}"))
