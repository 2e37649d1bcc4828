"""An in-process Telegram Bot API for one private chat.

The production handlers run unchanged: PTB talks to `LocalChat` through `LocalChatRequest`
(a `BaseRequest` transport) instead of HTTPS, so the console chat and end-to-end tests exercise
the real Application, handlers, keyboards and error mapping without any network access.

Wiring (see `handlers.local_transport.local_application_builder`):
    chat = LocalChat(user_id=1001)
    app = local_application_builder(chat).build()   # + add handlers
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from handlers.local_chat_format import JSON, ApiError, ChatEvent, buttons_of, render

_LOGGER = logging.getLogger(__name__)
SHOWN_KINDS = ("sent", "edited", "photo")  # what `ask` returns: messages the user sees


class LocalChat:
    """State and Bot API semantics of one private chat between a user and the bot."""

    def __init__(self, user_id: int = 1001, first_name: str = "Tester",
                 username: str | None = "tester", *, bot_id: int = 7000001,
                 bot_username: str = "local_bot", bot_name: str = "Local Bot") -> None:
        self.bot_user: JSON = {"id": bot_id, "is_bot": True, "first_name": bot_name,
                               "username": bot_username, "can_join_groups": False,
                               "can_read_all_group_messages": False,
                               "supports_inline_queries": False}
        self.user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            self.user["username"] = username
        self.users: dict[int, JSON] = {user_id: self.user}  # chats the bot may write to
        self.messages: dict[int, JSON] = {}
        self.transcript: list[ChatEvent] = []
        self.calls: list[tuple[str, JSON]] = []  # every API call with decoded parameters
        self.commands: list[JSON] = []
        self.listeners: list[Callable[[ChatEvent], None]] = []
        self.inbox: asyncio.Queue[JSON] = asyncio.Queue()
        self._delivered: list[JSON] = []  # handed out by getUpdates, not yet confirmed by offset
        self._arrived = asyncio.Event()
        self._unfinished: set[int] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)  # shared by both sides, as in a private chat
        self._query_ids = itertools.count(1)
        self._open_queries: set[str] = set()
        self._keyboard_order: list[int] = []  # message ids, most recently sent/edited last
        self._failures: dict[str, list[ApiError]] = {}

    # ----- the user's side -------------------------------------------------------------
    async def say(self, text: str, user_id: int | None = None) -> int:
        """Enqueue a text message from the user (or another user); returns its update_id."""
        user = self._user(user_id)
        message: JSON = {"message_id": next(self._message_ids), "date": int(time.time()),
                         "chat": self._chat(user["id"]), "from": user, **self._text_fields(text)}
        self.messages[message["message_id"]] = message
        self._record(ChatEvent("said", text, [], message["message_id"], user["id"]))
        return self._enqueue({"message": message})

    async def press(self, label_or_number: int | str, message_id: int | None = None,
                    user_id: int | None = None) -> int:
        """Press a button of the latest keyboard (or of `message_id`) by 1-based number or
        exact label; returns the update_id of the callback query."""
        message = (self.messages.get(message_id) if message_id is not None
                   else self._latest_keyboard_message())
        buttons = buttons_of(message)
        if message is None or not buttons:
            where = f"message {message_id}" if message_id is not None else "the chat"
            raise LookupError(f"no inline keyboard in {where} to press {label_or_number!r}")
        labels = [button["text"] for button in buttons]
        if isinstance(label_or_number, str) and label_or_number in labels:
            button = buttons[labels.index(label_or_number)]
        elif str(label_or_number).isdecimal() and 1 <= int(label_or_number) <= len(buttons):
            button = buttons[int(label_or_number) - 1]
        else:
            raise LookupError(f"no button {label_or_number!r}; choices are "
                              + ", ".join(f"[{i}] {label}" for i, label in enumerate(labels, 1)))
        if "callback_data" not in button:
            raise LookupError(f"button {button['text']!r} is not a callback button: {button}")
        return self._query(message, button["text"], button["callback_data"], user_id)

    async def press_data(self, data: str | None, message_id: int | None = None,
                         user_id: int | None = None) -> int:
        """Press with callback data of our own, as a modified client can (None: a query
        without data), on the latest keyboard's message or `message_id`; returns the
        update_id of the callback query."""
        message = (self.messages.get(message_id) if message_id is not None
                   else self._latest_keyboard_message())
        if message is None:
            raise LookupError(f"no message {message_id} to press on" if message_id is not None
                              else "no inline keyboard in the chat to press on")
        return self._query(message, f"[data] {data!r}", data, user_id)

    async def edit(self, message_id: int, text: str, user_id: int | None = None) -> int:
        """The user edits their message `message_id` to `text`; returns the update_id of
        the edited_message update."""
        user = self._user(user_id)
        message = self.messages.get(message_id)
        if message is None or message["from"]["id"] != user["id"]:
            raise LookupError(f"no message {message_id} of user {user['id']} to edit")
        message.pop("entities", None)
        message.update(self._text_fields(text), edit_date=int(time.time()))
        self._record(ChatEvent("revised", text, [], message_id, user["id"]))
        return self._enqueue({"edited_message": copy.deepcopy(message)})

    async def inject(self, payload: JSON) -> int:
        """An update of a kind the chat does not model (a channel post, a business
        message): `payload` is the update without its update_id; returns the update_id."""
        self._record(ChatEvent("injected", json.dumps(payload)))
        return self._enqueue(copy.deepcopy(payload))

    @property
    def choices(self) -> list[str]:
        """Labels of the latest keyboard; choices[0] is button number 1."""
        return [button["text"] for button in buttons_of(self._latest_keyboard_message())]

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every enqueued update was fetched and fully processed by the app."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"LocalChat.settle: updates {sorted(self._unfinished)} not processed within "
                f"{timeout}s (is the app polling and built with LocalChatApplication?)") from None

    async def ask(self, text: str, user_id: int | None = None, timeout: float = 5.0) -> list[str]:
        """Say `text`, settle, and return the texts the bot sent or edited in response."""
        mark = len(self.transcript)
        await self.say(text, user_id)
        return await self._responses_since(mark, timeout)

    async def choose(self, label_or_number: int | str, message_id: int | None = None,
                     user_id: int | None = None, timeout: float = 5.0) -> list[str]:
        """Like `ask`, but presses a button."""
        mark = len(self.transcript)
        await self.press(label_or_number, message_id, user_id)
        return await self._responses_since(mark, timeout)

    def update_done(self, update_id: int) -> None:
        """Called by LocalChatApplication once the app finished processing an update."""
        self._unfinished.discard(update_id)
        if not self._unfinished:
            self._idle.set()

    def fail_next(self, method: str, status: int = 429, description: str | None = None,
                  retry_after: int | None = None, times: int = 1) -> None:
        """Make the next `times` calls of `method` fail, e.g. a 429 flood-control answer."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = (f"Too Many Requests: retry after {retry_after}" if status == 429
                           else "Bad Request: injected failure")
        params = {"retry_after": retry_after} if retry_after is not None else None
        self._failures.setdefault(method.lower(), []).extend(
            ApiError(status, description, params) for _ in range(times))

    def interrupt_polls(self) -> None:
        """Make pending long polls return now (a server shutting down must not wait them out)."""
        self._arrived.set()

    # ----- the Bot API side -------------------------------------------------------------
    async def call(self, method: str, params: JSON) -> tuple[int, JSON]:
        """Answer one Bot API call: returns (HTTP status, response JSON)."""
        self.calls.append((method, params))
        name = method.lower()  # Telegram method names are case-insensitive
        try:
            if self._failures.get(name):
                raise self._failures[name].pop(0)
            impl = getattr(self, f"_api_{name}", None)
            if impl is None:
                raise ApiError(400, f"Bad Request: method {method} not supported by the local chat")
            result = impl(params)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as exc:
            return exc.code, exc.payload()
        return 200, {"ok": True, "result": json.loads(json.dumps(result))}  # detach from state

    def _api_getme(self, p: JSON) -> JSON:
        return self.bot_user

    def _api_setmycommands(self, p: JSON) -> bool:
        self.commands = list(p.get("commands") or [])
        return True

    def _api_deletemycommands(self, p: JSON) -> bool:
        self.commands = []
        return True

    def _api_getmycommands(self, p: JSON) -> list[JSON]:
        return self.commands

    def _api_deletewebhook(self, p: JSON) -> bool:
        if p.get("drop_pending_updates"):
            self._drain()
            for update in self._delivered:
                self.update_done(update["update_id"])
            self._delivered = []
        return True

    def _api_sendchataction(self, p: JSON) -> bool:
        self._chat_for(p)
        return True

    def _api_close(self, p: JSON) -> bool:
        return True

    _api_logout = _api_close

    async def _api_getupdates(self, p: JSON) -> list[JSON]:
        offset, limit = int(p.get("offset") or 0), int(p.get("limit") or 100)
        self._delivered = [u for u in self._delivered if u["update_id"] >= offset]
        self._drain()
        if not self._delivered and float(p.get("timeout") or 0) > 0:
            self._arrived.clear()  # long poll: wait for say/press (or interrupt_polls)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), float(p["timeout"]))
            self._drain()
        return self._delivered[:limit]

    def _api_sendmessage(self, p: JSON) -> JSON:
        text = render(p.get("text"), p.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._new_message(p, "sent", {"text": text})

    def _api_sendphoto(self, p: JSON) -> JSON:
        caption = render(p.get("caption"), p.get("parse_mode"))
        if len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        photo = [{"file_id": f"photo{len(self.messages)}", "file_unique_id": "u", "width": 1,
                  "height": 1, "file_size": 1}]
        return self._new_message(p, "photo", {"photo": photo, "caption": caption} if caption
                                 else {"photo": photo})

    def _api_editmessagetext(self, p: JSON) -> JSON:
        message = self._message_to_edit(p)
        if "photo" in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = render(p.get("text"), p.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        # Telegram drops the inline keyboard when an edit does not pass reply_markup again.
        return self._apply_edit(message, text, self._markup(p.get("reply_markup")))

    def _api_editmessagecaption(self, p: JSON) -> JSON:
        message = self._message_to_edit(p)
        if "photo" not in message:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = render(p.get("caption"), p.get("parse_mode"))
        return self._apply_edit(message, caption, self._markup(p.get("reply_markup")))

    def _api_editmessagereplymarkup(self, p: JSON) -> JSON:
        message = self._message_to_edit(p)
        return self._apply_edit(message, message.get("text", message.get("caption", "")),
                                self._markup(p.get("reply_markup")))

    def _api_deletemessage(self, p: JSON) -> bool:
        message = self.messages.pop(int(p.get("message_id") or 0), None)
        if message is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        self._record(ChatEvent("deleted", message.get("text", ""), [], message["message_id"],
                               message["chat"]["id"]))
        return True

    def _api_answercallbackquery(self, p: JSON) -> bool:
        query_id = str(p.get("callback_query_id"))
        if query_id not in self._open_queries:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                                "or query ID is invalid")
        if len(str(p.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._open_queries.discard(query_id)
        if p.get("text"):
            self._record(ChatEvent("answer", str(p["text"])))
        return True

    # ----- helpers ----------------------------------------------------------------------
    @staticmethod
    def _text_fields(text: str) -> JSON:
        """A user message's text, and its command entity when it starts with one."""
        if not text.startswith("/"):
            return {"text": text}
        command = text.split(maxsplit=1)[0]  # entity lengths count UTF-16 code units
        length = len(command.encode("utf-16-le")) // 2
        return {"text": text, "entities": [{"type": "bot_command", "offset": 0,
                                             "length": length}]}

    def _query(self, message: JSON, label: str, data: str | None, user_id: int | None) -> int:
        user = self._user(user_id)
        query_id = str(next(self._query_ids))
        self._open_queries.add(query_id)
        self._record(ChatEvent("pressed", label, [], message["message_id"], user["id"]))
        query: JSON = {"id": query_id, "from": user, "chat_instance": str(message["chat"]["id"]),
                       "message": copy.deepcopy(message)}
        if data is not None:
            query["data"] = data
        return self._enqueue({"callback_query": query})

    def _user(self, user_id: int | None) -> JSON:
        if user_id is None:
            return self.user
        return self.users.setdefault(user_id, {"id": user_id, "is_bot": False,
                                               "first_name": f"User{user_id}"})

    def _chat(self, user_id: int) -> JSON:
        user = self.users[user_id]
        chat = {"id": user_id, "type": "private", "first_name": user["first_name"]}
        return chat | ({"username": user["username"]} if "username" in user else {})

    def _chat_for(self, p: JSON) -> JSON:
        try:
            return self._chat(int(p.get("chat_id")))  # type: ignore[arg-type]
        except (TypeError, ValueError, KeyError):
            raise ApiError(400, "Bad Request: chat not found") from None

    def _enqueue(self, payload: JSON) -> int:
        update_id = next(self._update_ids)
        self._unfinished.add(update_id)
        self._idle.clear()
        self.inbox.put_nowait({"update_id": update_id, **payload})
        self._arrived.set()
        return update_id

    def _drain(self) -> None:
        while not self.inbox.empty():
            self._delivered.append(self.inbox.get_nowait())

    def _markup(self, raw: Any) -> JSON | None:
        markup = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None  # reply keyboards are not part of the message in Telegram either
        for button in (b for row in markup["inline_keyboard"] for b in row):
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return json.loads(json.dumps(markup))

    def _new_message(self, p: JSON, kind: str, content: JSON) -> JSON:
        message: JSON = {"message_id": next(self._message_ids), "from": self.bot_user,
                         "chat": self._chat_for(p), "date": int(time.time()), **content}
        if markup := self._markup(p.get("reply_markup")):
            message["reply_markup"] = markup
        self.messages[message["message_id"]] = message
        self._record_message(kind, message)
        return message

    def _message_to_edit(self, p: JSON) -> JSON:
        if p.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the local chat")
        message = self.messages.get(int(p.get("message_id") or 0))
        if message is None or message["chat"]["id"] != self._chat_for(p)["id"]:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _apply_edit(self, message: JSON, text: str, markup: JSON | None) -> JSON:
        key = "caption" if "photo" in message else "text"
        if message.get(key, "") == text and message.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                           "content and reply markup are exactly the same as a current content "
                           "and reply markup of the message")
        message[key] = text
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        self._record_message("edited", message)
        return message

    def _latest_keyboard_message(self) -> JSON | None:
        for message_id in reversed(self._keyboard_order):
            if buttons_of(self.messages.get(message_id)):
                return self.messages[message_id]
        return None

    def _record_message(self, kind: str, message: JSON) -> None:
        if buttons_of(message):
            with contextlib.suppress(ValueError):
                self._keyboard_order.remove(message["message_id"])
            self._keyboard_order.append(message["message_id"])
        text = message.get("text", message.get("caption", ""))
        self._record(ChatEvent(kind, text, [b["text"] for b in buttons_of(message)],
                               message["message_id"], message["chat"]["id"]))

    def _record(self, event: ChatEvent) -> None:
        self.transcript.append(event)
        for listener in list(self.listeners):
            try:  # a broken console must not turn into a failed Bot API call for the handler
                listener(event)
            except Exception:
                _LOGGER.exception("LocalChat listener failed on %s", event)

    async def _responses_since(self, mark: int, timeout: float) -> list[str]:
        await self.settle(timeout)
        return [e.text for e in self.transcript[mark:] if e.kind in SHOWN_KINDS]
