"""The control plane's own switches and records: the global pause, the language, and
what the gate turned away (strangers, commands sent while the bot was down)."""

from __future__ import annotations

from bot.ops.context import Context
from bot.ops.events import HandlerFailed, Paused, Resumed, StaleUpdateDropped, Unauthorized


class Control:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def paused(self) -> bool:
        return self.ctx.pause.paused

    async def pause(self, by_user: int | None) -> bool:
        """Stop every automatic action at once; False if already paused."""
        if self.ctx.pause.paused:
            return False
        self.ctx.pause.set(True, by_user)
        await self.ctx.publish(Paused(by_user=by_user))
        return True

    async def resume(self, by_user: int | None) -> bool:
        if not self.ctx.pause.paused:
            return False
        self.ctx.pause.set(False, by_user)
        await self.ctx.publish(Resumed(by_user=by_user))
        return True

    def language(self) -> str:
        return self.ctx.store.language(self.ctx.config.language) or self.ctx.config.language

    def set_language(self, code: str) -> None:
        self.ctx.store.set_language(code)

    async def refused(self, user_id: int | None, username: str | None, said: str) -> None:
        await self.ctx.publish(Unauthorized(user_id=user_id, username=username, said=said))

    async def dropped_stale(self, said: str, age_seconds: int) -> None:
        await self.ctx.publish(StaleUpdateDropped(said=said, age_seconds=age_seconds))

    async def front_failed(self, error: BaseException) -> None:
        await self.ctx.publish(HandlerFailed(error=f"{type(error).__name__}: {error}"))
