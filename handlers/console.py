"""The console chat: standard input and output as a Telegram private chat, on top of the
in-process LocalChat, so `python bot.py` without a token shows the real handlers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from typing import TextIO

from telegram.ext import Application

from handlers.local_chat import LocalChat
from handlers.local_chat_format import ChatEvent


class ConsoleChat:
    """Pumps input lines into a LocalChat and prints what the bot shows to the user."""

    def __init__(self, chat: LocalChat, stdin: TextIO | None = None,
                 stdout: TextIO | None = None, settle_timeout: float = 60.0) -> None:
        self.chat, self.settle_timeout = chat, settle_timeout
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.done = asyncio.Event()
        self._tty = bool(getattr(self.stdin, "isatty", lambda: False)())
        self._fd: int | None = None
        with contextlib.suppress(AttributeError, OSError, ValueError):
            self._fd = self.stdin.fileno()  # StringIO raises io.UnsupportedOperation (OSError)
        self._pending = b""

    def attach(self) -> None:
        """Print what the bot shows from now on (`run` does it for its own span)."""
        if self.show not in self.chat.listeners:
            self.chat.listeners.append(self.show)

    def detach(self) -> None:
        if self.show in self.chat.listeners:
            self.chat.listeners.remove(self.show)

    async def run(self) -> None:
        """Read and handle lines until EOF, each one only after the previous one settled."""
        attached = self.show not in self.chat.listeners
        self.attach()
        try:
            while True:
                if self._tty:
                    self._write("> ")
                line = await self._read_line()
                if line is None:
                    break
                await self.handle_line(line)
        finally:
            if attached:
                self.detach()
            self.done.set()

    async def handle_line(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        if text.isdecimal() and 1 <= int(text) <= len(self.chat.choices):
            await self.chat.press(int(text))
        else:
            await self.chat.say(text)
        try:
            await self.chat.settle(self.settle_timeout)
        except TimeoutError as exc:
            self._write(f"(still busy) {exc}\n")

    def show(self, event: ChatEvent) -> None:
        prefix = {"edited": "(edited) ", "photo": "[photo] ", "deleted": "(deleted) ",
                  "answer": "(notice) "}.get(event.kind)
        if prefix is None and event.kind != "sent":
            return  # the user's own input is already on screen
        if event.chat_id not in (None, self.chat.user["id"]):
            prefix = f"(to chat {event.chat_id}) {prefix or ''}"
        block = (prefix or "") + event.text + "\n"
        if event.buttons:
            block += "  " + "   ".join(f"[{i}] {b}" for i, b in enumerate(event.buttons, 1)) + "\n"
        self._write(block + "\n")

    def _write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    async def _read_line(self) -> str | None:
        # A daemon thread rather than asyncio.to_thread: on Ctrl-C, asyncio.run would join the
        # default executor and hang in readline until Enter is pressed.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()

        def deliver(result: str | None, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        def worker() -> None:
            try:
                result, error = self._blocking_read_line(), None
            except Exception as exc:
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(deliver, result, error)

        threading.Thread(target=worker, name="console-stdin", daemon=True).start()
        return await future

    def _blocking_read_line(self) -> str | None:
        if self._fd is None:
            return self.stdin.readline() or None
        # os.read on the descriptor: a daemon thread blocked inside sys.stdin.readline holds
        # the buffer lock and can abort the interpreter at exit.
        while b"\n" not in self._pending:
            chunk = os.read(self._fd, 4096)
            if not chunk:
                line, self._pending = self._pending, b""
                return line.decode(errors="replace") or None
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode(errors="replace")


async def run_console(app: Application, chat: LocalChat,  # type: ignore[type-arg]
                      stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    """Run `app` against `chat` with a console until EOF (or cancellation), then stop it."""
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)  # type: ignore[union-attr]
        try:
            await ConsoleChat(chat, stdin, stdout).run()
        finally:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
