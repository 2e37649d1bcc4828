"""Property-based fuzzing of every command's arguments and of callback data, through the
real bot (issue 11, "Build": the reliability suite's fuzzing).

Each input goes to a real `BotApp` with the production PTB handlers, through the local
chat, on the paper accounts main and sub1 holding the demo portfolio (marks still, rule
loops quiet). After every single input the oracle checks:

- no escape: no "Something went wrong" reply (`internal_error`, in either language), no
  `handler_failed` event in the database, no error logged, the update processed in time;
- no order: the paper exchange holds no order at all (the fuzzer never presses a genuine
  [Confirm] of a close or a maintenance as the user it belongs to; see `Harness.press`);
- every text fits: messages 4,096 UTF-16 code units, button notices 200;
- every message of an allowed user and every press of one is answered.

How hypothesis drives one bot. Starting a bot takes about 0.15 s, an input 5 to 10 ms,
so each test starts one bot (in the test's event loop) and runs all its examples against
it. A `@given` function must be synchronous and the bot lives in an event loop, so the
`@given`-decorated function runs in a worker thread (`asyncio.to_thread`) and hands each
input to the bot's loop (`asyncio.run_coroutine_threadsafe`), waiting for the oracle's
verdict. That is plain `@given` with the phases that matter: explicit examples (the edge
cases below), generation, and on a failure shrinking and the "Falsifying example" report;
the bot's state is what the inputs before left (the failure message shows the chat), and
each input is judged only by what it did itself, so a shrunk example names its own cause.
Callback data is made of live tokens, which a strategy cannot know: the callbacks test
draws a `Press`, a recipe whose every field is drawn the same whatever the bot holds
(hypothesis requires that of a strategy), and `resolve` makes it concrete against the
tokens and button data harvested from the keyboards the bot actually sent (their kinds
from `store.get_confirmation`). `derandomize=True` makes the inputs the same on every run
of a checkout (hypothesis also draws constants from the project's loaded modules, so a
code change or another selection of tests can change them); `database=None`, and
hypothesis's caches in a temporary directory, write nothing into the repository.
`test_the_oracle_sees_an_escape_and_an_order` proves the oracle fails on what it must.

Figures (`figures("fuzz")`): commands (the commands test sends each different one once)
and callbacks sent, escapes and orders found (0), and genuine [Confirm]s of an
order-placing kind pressed by the user they do not belong to (the owner never presses
one)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from db.records import ConfirmationState
from handlers import buttons, commands, messages
from handlers.common import CANCEL, CONFIRM, SIDE, WATCH
from handlers.local_chat_format import buttons_of
from tests.botkit import FAST_FOLLOW, PAPER_STILL, USER, make_config, running

OTHER = 1002  # a second allowed user: someone else's buttons are not theirs
STRANGERS = range(3001, 3013)  # not allowed: refused, at most once an hour each
# The counts: about 2,100 commands (1,850 different ones from the commands test, 230 from
# the callbacks test) and 550 presses, in 30 to 45 s. An input takes the bot 5 to 10 ms;
# generating one, 2 to 4 ms.
COMMAND_EXAMPLES = 2800  # examples of the commands test, some of them drawn before
COMMAND_COUNT = 1600  # different commands it sends, at least (hypothesis decides how many)
CALLBACK_COUNT = 550  # examples (one press each) of the callbacks test
TEXT, CAPTION, NOTICE = 4096, 1024, 200  # Telegram's limits, UTF-16 code units
# The confirmation kinds whose [Confirm] places orders: never pressed by their owner.
ORDERING_KINDS = frozenset({"close", "maintain", "maintain_retry", "correct"})

SETTINGS = settings(
    deadline=None, derandomize=True, database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink), print_blob=False,
    suppress_health_check=list(HealthCheck))


# -- what the fuzzer types ------------------------------------------------------------------

SYMBOLS = ["APT", "apt", "Apt", "btc", "BTC", "APT-USDT-SWAP", "apt-usdt-swap", "BCH", "STX",
           "AAVE", "eth", "doge", "CRV", "uni", "CRO", "sol", "XRP", "A", "AP", "APT-USDT",
           "BTC/USDT:USDT", "APT-USDT-SWAP-X", "APT_USDT", "0", "9APT", "a" * 30, "a" * 31,
           "-APT", "APT:", "ＡＰＴ", "ΑPT"]  # the last two: fullwidth, a Greek capital alpha
ACCOUNTS = ["main", "sub1", "MAIN", "Sub1", "SUB1", "mAiN", "sub2", "sub", "main,sub1",
            "main:sub1", "acct", "ｍａｉｎ"]
HELD = ["APT", "apt", "APT-USDT-SWAP", "BCH", "bch", "STX", "AAVE", "CRV", "uni", "CRO",
        "cro-usdt-swap"]  # the demo portfolio's coins
SIDES = ["long", "short", "LONG", "Short", "longs", "buy", "sell", "both", "l", "s", "lоng"]
SIZES = ["0.001", "0.01", "1", "10", "60", "61", "1000", "25%", "100%", "100.0%", "101%",
         "0%", "0.5%", "-1", "-1%", "0", "0.0", "all", "ALL", "All", "half", "1e309", "1E3",
         "1e-3", "NaN", "nan", "sNaN", "inf", "-inf", "Infinity", "-0", "+1", ".5", "5.",
         "1..2", "1,5", "1_000", "0x10", "9" * 13, "9" * 12, "9" * 12 + "." + "9" * 18,
         "0." + "0" * 17 + "1", "0." + "0" * 18 + "1", "1" + "0" * 400, "١٠", "１０", "²", "𝟗",
         "½", "۱۲۳", "%", "%%", "25%%", "50 %", "∞", "1/2", "100.000000000000000001%"]
JUNK = ["reset", "RESET", "tp", "/close", "@local_bot", "--all", "-h", "’", "'", '"',
        "<b>x</b>", "*bold*", "_", "`", "\\", "${HOME}", "%s", "%n", "{}", "{0}", "{symbol}",
        "{kind!r}", "null", "None", "true", "DROP TABLE positions;--", "' OR 1=1 --",
        "\u202eevil", "\u200b", "\ufeff", "\u00ad", "🙂", "👍🏽", "🇨🇳", "👨‍👩‍👧", "中文", "平仓",
        "zh", "en", "ZH", "fr", "cf:x", "cs:abc:long", "amount", "target", "-", "+", "."]
CONTROL = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0E, 0x1B, 0x7F, 0x85)] + [
    "\u2028", "\u2029", "\u200e", "\u202e", "\ufffd", "\ufffe", "\U0010ffff"]
SEPARATORS = [" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u3000", " \n "]
EMOJI = ["🙂", "🚀", "💸", "🔥", "👍🏽", "🇨🇳", "👨‍👩‍👧", "❤️", "🧧"]
NAMES = list(commands.COMMANDS)

unicode_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
unicode_digits = st.text(st.characters(categories=("Nd",)), min_size=1, max_size=14)


def weighted(*branches: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each as often as its weight says (`st.one_of` takes each
    branch about as often, whatever repeats it)."""
    pick = st.sampled_from([branch for weight, branch in branches for _ in range(weight)])

    @st.composite
    def one(draw: st.DrawFn) -> Any:
        return draw(draw(pick))
    return one()


numbers = weighted(  # what hypothesis makes of numbers, bare and as a percentage
    (1, st.decimals(allow_nan=True, allow_infinity=True).map(str)),
    (1, st.floats().map(repr)),
    (1, st.integers(-(10**40), 10**40).map(str)),
    (1, unicode_digits),
    (1, st.builds("{}%".format, st.one_of(st.integers(-200, 300), unicode_digits))))
long_words = st.builds(lambda unit, n: unit * n,
                       st.sampled_from(["A", "9", "🙂", "x ", "ﷺ", "a\u0300", "%", "{"]),
                       st.integers(60, 2100))


def bent(word: str) -> list[str]:
    """A word's bent forms: case, control characters, emoji, doubled, cut, joined."""
    half = len(word) // 2
    forms = [word.upper(), word.swapcase(), word + "🙂", word * 2, word[:half] or word,
             word + ":" + word, word + ",main", word + "%", "\x00" + word,
             word[:half] + "\u200b" + word[half:], word + "\x1b[0m", "\u202e" + word,
             word + "\u0301", "＠" + word]
    return [f for f in dict.fromkeys(forms) if f != word]


def words(plain: list[str]) -> st.SearchStrategy[str]:
    """One of `plain`, as is (3 in 4) or bent: one draw from a fixed list, cheap."""
    return weighted((3, st.sampled_from(plain)),
                    (1, st.sampled_from([f for w in plain for f in bent(w)])))


symbol_w, account_w, side_w = words(SYMBOLS), words(ACCOUNTS), words(SIDES)
size_w = weighted((4, words(SIZES)), (1, numbers))
any_word = weighted((2, symbol_w), (1, account_w), (1, side_w), (2, size_w), (2, words(JUNK)),
                    (1, unicode_text), (1, st.sampled_from(CONTROL + EMOJI)), (1, long_words))


def slot(good: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A grammar slot: mostly (5 in 6) what belongs there, sometimes anything."""
    return weighted((5, good), (1, any_word))


def chance(percent: int) -> st.SearchStrategy[bool]:
    return st.sampled_from([True] * percent + [False] * (100 - percent))


FILL = {"account": slot(account_w), "side": slot(side_w), "extra": any_word,
        "number": slot(size_w), "symbol": weighted((3, slot(words(HELD))), (1, slot(symbol_w)))}
# Only words a trader would type: most of these commands reach a confirmation.
CLEAN = {"account": st.sampled_from(["main", "sub1", "MAIN", "Sub1"]),
         "side": st.sampled_from(["long", "short", "LONG", "Short"]),
         "number": st.sampled_from(["0.001", "0.01", "0.1", "1", "2", "10", "60", "25%",
                                    "50%", "100%", "all", "ALL", "5", "20", "100", "200"]),
         "symbol": st.sampled_from(HELD), "extra": st.sampled_from(["main", "long", "1"])}
# Each optional word of a command: how often it is there.
OPTIONAL = {"close": {"account": chance(80), "side": chance(50), "extra": chance(8)},
            "maintain": {"account": chance(80), "side": chance(50), "extra": chance(8)},
            "supermaintain": {"account": chance(80), "side": chance(50), "number": chance(60),
                              "number ": chance(45), "extra": chance(8)},
            "tp": {"side": chance(85), "account": chance(60), "extra": chance(8)}}
TP_HEADS = st.sampled_from([[], ["reset"], ["reset"], ["reset"], ["RESET"], ["reset", "reset"]])
LANGS = st.lists(slot(words(["zh", "en", "ZH", "En", "fr", "cn", "中文"])), max_size=2)
ACCOUNT_ARGS, FEW_WORDS = st.lists(FILL["account"], max_size=2), st.lists(any_word, max_size=3)
SOMETIMES = chance(10)


@st.composite
def structured_args(draw: st.DrawFn, name: str, fill: dict[str, Any] = FILL) -> list[str]:
    """Arguments shaped like the command's usage, slots filled from `fill` (good and bad
    words), optional words in any order. (Every strategy is built once, at import:
    building them per draw is slow.)"""
    if name == "positions":
        return draw(ACCOUNT_ARGS)
    if name == "lang":
        return draw(LANGS)
    if name not in OPTIONAL:
        return draw(FEW_WORDS)
    reset = draw(TP_HEADS) if name == "tp" else []
    head = [*reset, draw(fill["symbol"])] + ([draw(fill["number"])] if name == "close" else [])
    tail = [draw(fill[slot_.strip()]) for slot_, there in OPTIONAL[name].items()
            if draw(there)]
    if len(tail) > 1:
        tail = draw(st.permutations(tail))
    args = head + tail
    if name == "tp" and draw(SOMETIMES):  # /tp, /tp reset: without a symbol
        args = list(reset)
    if len(args) > 1 and draw(SOMETIMES):  # all the words in another order
        args = draw(st.permutations(args))
    return args


HEADS = ["/", "//close", "/closeall", "/close_", "close", "／close", "/clo", "/start@",
         "/tp:reset", "/помощь", "/🙂", "/" + "x" * 64, "@local_bot", " /close", "/close\x00",
         "/_", "/1", "/help" * 3, "/CLOSE@local_bot@local_bot", "/close@", "/close@@local_bot"]
MANY_WORDS = st.builds(lambda some, n: (some * n)[:80],
                       st.lists(any_word, min_size=2, max_size=5), st.integers(3, 30))


def _command(name: str) -> st.SearchStrategy[tuple[str, list[str]]]:
    spelled = [f"/{name.upper()}", f"/{name.title()}", f"/{name}@local_bot",
               f"/{name}@LOCAL_BOT", f"/{name}@other_bot"]  # with HEADS: 1 in 5 or so
    head = st.sampled_from([f"/{name}"] * 100 + spelled * 3 + HEADS)
    args = weighted((4, structured_args(name, CLEAN)), (4, structured_args(name)),
                    (1, st.lists(any_word, max_size=6)), (1, MANY_WORDS))
    return st.tuples(head, args)


# The commands that take arguments are drawn more often.
COMMAND = weighted(*[(1, _command(name)) for name in NAMES],
                   (6, _command("close")), (3, _command("maintain")),
                   (3, _command("supermaintain")), (3, _command("tp")),
                   (1, _command("positions")), (1, _command("lang")))
SEPARATOR = st.sampled_from(SEPARATORS)
TRAILER = st.sampled_from([""] * 60 + CONTROL + EMOJI + SEPARATORS)  # now and then


@st.composite
def command_texts(draw: st.DrawFn) -> str:
    """A command (or something like one) and its arguments, as one message."""
    head, args = draw(COMMAND)
    return fit_message(draw(SEPARATOR).join([head, *args]) + draw(TRAILER))


def fit_message(text: str) -> str:
    """Telegram delivers at most 4,096 UTF-16 code units of a message."""
    units, kept = 0, []
    for char in text:
        units += 2 if ord(char) > 0xFFFF else 1
        if units > TEXT:
            break
        kept.append(char)
    return "".join(kept)


senders = st.sampled_from(["owner"] * 8 + ["other", "stranger"])


def user_of(sender: str, stranger: int) -> int:
    return {"owner": USER, "other": OTHER}.get(sender, stranger)


# -- the oracle -----------------------------------------------------------------------------


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, from any logger, while the fuzz runs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def error_log() -> Iterator[ErrorLog]:
    handler, root = ErrorLog(), logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


class Clock:
    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


INTERNAL_ERROR = [messages.text(lang, "internal_error", kind="\x00").split("\x00")[0]
                  for lang in messages.LANGUAGES]


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class Escape(AssertionError):
    """An input the bot answered with an error, an order or an oversized text."""


class Harness:
    """Sends one input at a time to the running bot and checks everything after it. Its
    coroutines run in the bot's loop; `sync` runs one from the hypothesis thread."""

    def __init__(self, app: Any, chat: Any, clock: Clock, counts: Any, errors: ErrorLog,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.app, self.chat, self.clock, self.counts = app, chat, clock, counts
        self.errors, self.loop = errors, loop
        self.said: dict[int, list[int]] = {}  # each user's own message ids
        self.tokens: list[str] = []  # every token the bot's keyboards carried, first seen first
        self.button_data: list[str] = []  # and those buttons' data, as sent
        self.known: set[str] = set()
        self.sent: list[int] = []  # the bot's messages
        # The latest handler_failed event and the orders seen so far: each input is
        # judged by what it did, so shrinking a failure finds that failure's own cause.
        self.failed: list[Any] = []
        self.orders = 0
        for key in ("commands", "callbacks", "escapes", "orders"):
            counts[key] += 0

    def sync(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    # -- inputs ----------------------------------------------------------------------------

    async def say(self, text: str, user: int, *, edit: bool = False) -> list[str]:
        """A message from `user` (or their edit of their latest message), checked."""
        mark, calls = len(self.chat.transcript), len(self.chat.calls)
        mine = self.said.get(user)
        if edit and mine:
            await self.chat.edit(mine[-1], text, user_id=user)
            what = f"user {user} edits their message to {text!r}"
        else:
            await self.chat.say(text, user_id=user)
            self.said.setdefault(user, []).append(self.chat.transcript[mark].message_id)
            what = f"user {user} says {text!r}"
        self.counts["commands"] += 1
        return await self.check(what, mark, calls, answered=user in (USER, OTHER),
                                 press=False)

    async def press(self, data: str | None, user: int, message_id: int) -> list[str]:
        """A press with `data` by `user` on message `message_id`, checked. A genuine
        [Confirm] of a close or a maintenance is pressed by the other allowed user instead
        of its owner: the fuzz places no order, so any order is a bug."""
        if (owner := self.genuine_confirm(data)) == user:
            user = OTHER if owner == USER else USER
            self.counts["genuine confirms pressed by another user"] += 1
        mark, calls = len(self.chat.transcript), len(self.chat.calls)
        await self.chat.press_data(data, message_id=message_id, user_id=user)
        self.counts["callbacks"] += 1
        what = f"user {user} presses {data!r} on message {message_id}"
        return await self.check(what, mark, calls, answered=user in (USER, OTHER), press=True)

    async def watcher_alert(self, n: int) -> None:
        """The watcher's alert for the `n`th of WATCHED (modulo), as handlers/alerts.py
        sends it: [Maintain] [Super maintain] [Skip] under one token of the owner's."""
        account, symbol, side = WATCHED[n % len(WATCHED)]
        token = self.app.store.create_confirmation(
            USER, USER, "watcher", {"account": account, "symbol": symbol, "side": side},
            ttl_seconds=6 * 3600)
        markup = InlineKeyboardMarkup([[
            InlineKeyboardButton(choice, callback_data=f"{WATCH}:{token}:{choice}")
            for choice in ("maintain", "supermaintain", "skip")]])
        mark, calls = len(self.chat.transcript), len(self.chat.calls)
        await self.app.application.bot.send_message(
            USER, f"⚠️ {symbol} {side} on {account}: profit rate at the watcher's loss",
            reply_markup=markup)
        await self.check(f"a watcher alert for {symbol} {side} on {account}", mark, calls,
                         answered=False, press=False)

    def genuine_confirm(self, data: str | None) -> int | None:
        """The owner of the live confirmation that `data` confirms and that would order."""
        match = re.fullmatch(f"{CONFIRM}:([A-Za-z0-9_-]+)", data or "")
        found = self.app.store.get_confirmation(match[1]) if match else None
        if found is None or found.kind not in ORDERING_KINDS:
            return None
        expires = found.expires_at.replace(tzinfo=found.expires_at.tzinfo or UTC)
        if found.state is not ConfirmationState.PENDING or expires <= self.clock():
            return None
        return found.user_id

    # -- the oracle ------------------------------------------------------------------------

    async def check(self, what: str, mark: int, calls: int, *, answered: bool,
                     press: bool) -> list[str]:
        problems: list[str] = []
        try:
            await self.chat.settle(timeout=30)
        except TimeoutError as exc:
            problems.append(f"not processed: {exc}")
        events = self.chat.transcript[mark:]
        shown = [e.text for e in events if e.kind in ("sent", "edited", "photo")]
        for e in events:
            if e.kind not in ("sent", "edited", "photo"):
                continue
            if any(e.text.startswith(prefix) for prefix in INTERNAL_ERROR):
                problems.append(f"internal error reply: {e.text!r}")
            limit = CAPTION if e.kind == "photo" else TEXT
            if units(e.text) > limit:
                problems.append(f"a {e.kind} text of {units(e.text)} UTF-16 code units")
        for e in events:
            if e.kind == "answer" and units(e.text) > NOTICE:
                problems.append(f"a notice of {units(e.text)} UTF-16 code units")
        [*latest] = self.app.store.recent_events(limit=1, name="handler_failed")
        if latest != self.failed:  # a handler_failed event newer than the last one seen
            self.failed = latest
            problems.append(f"handler_failed event: {latest[0].message}")
        for record in self.errors.records:
            trace = "".join(traceback.format_exception(*record.exc_info)) \
                if record.exc_info else ""
            problems.append(f"logged {record.levelname} {record.name}: "
                            f"{record.getMessage()[:500]}\n{trace}")
        if answered:
            replies = [m for m, _ in self.chat.calls[calls:] if m in (
                ("answerCallbackQuery",) if press else ("sendMessage", "sendPhoto"))]
            if not replies:
                problems.append("no answer")
        self._harvest(events)
        orders = list(self.app.paper.exchange.orders.values())[self.orders:]
        if orders:
            self.orders += len(orders)
            self.counts["orders"] += len(orders)
            problems.append(f"{len(orders)} orders reached the exchange: {orders}")
        if problems:
            self.counts["escapes"] += 1
            self.errors.records.clear()
            tail = [f"{e.kind}: {e.text[:300]!r}" for e in events]
            raise Escape(f"{what}\n" + "\n".join(problems) + "\nchat:\n" + "\n".join(tail))
        return shown

    def _harvest(self, events: list[Any]) -> None:
        """The tokens and data of the keyboards the bot has just sent or edited in."""
        self.sent += [e.message_id for e in events if e.kind == "sent"]
        for event in events:
            if event.kind not in ("sent", "edited") or not event.buttons:
                continue
            for button in buttons_of(self.chat.messages.get(event.message_id)):
                data = button.get("callback_data")
                if data is None or data in self.known:
                    continue
                self.known.add(data)
                self.button_data.append(data)
                token = data.split(":")[1]
                if token not in self.tokens:
                    self.tokens.append(token)

    def bot_messages(self) -> list[int]:
        """The ids of the messages the bot sent, oldest first."""
        return self.sent


@contextlib.asynccontextmanager
async def harness(tmp_path: Any, figures: Callable[[str], Any]) -> Any:
    clock = Clock()
    config = make_config(tmp_path, users=(USER, OTHER), paper=PAPER_STILL, close=FAST_FOLLOW,
                         rules={"watcher": "off"})

    def second_user(app: Any) -> None:  # their chat exists, so alerts (start, stop) reach it
        app.chat.users[OTHER] = {"id": OTHER, "is_bot": False, "first_name": "Other"}

    with error_log() as errors:
        async with running(config, clock=clock, prepare=second_user) as (app, chat):
            yield Harness(app, chat, clock, figures("fuzz"), errors, asyncio.get_running_loop())


async def in_thread(run: Callable[[], None]) -> None:
    """Hypothesis in a worker thread; the bot goes on serving in this loop meanwhile."""
    await asyncio.to_thread(run)


# -- the tests ------------------------------------------------------------------------------


# Tried first, every run, as hypothesis's explicit examples: the edges of the parsers
# and of the sizing (the extremes of a 12.18-digit number, sizes below the minimum order
# and above the position, other scripts' digits, maintenances too big for the balance or
# closing nothing in step 3), texts near Telegram's limit, and odd spellings.
EDGE_CASES = [
    "/close APT 0.000000000000000001 sub1", "/close APT 999999999999.999999999999999999 sub1",
    "/close APT 1e309 sub1", "/close APT NaN sub1", "/close APT -1 sub1", "/close APT 0 sub1",
    "/close APT ١٠٠% sub1", "/close APT １０ sub1", "/close APT ٠.٥ sub1", "/close APT ² sub1",
    "/close APT 100.000000000000000001% sub1", "/close AAVE 0.000000000000000001% main",
    "/close APT 25%", "/close btc 0.001", "/close APT-USDT-SWAP all sub1 long",
    "/close BCH 0.01 main long", "/close CRO 49.99 main long", "/close APT 1 MAIN short",
    "/close APT all main long short", "/close APT all main sub1", "/close APT 1 2 3 4 5",
    "/supermaintain APT sub1 999999999999.999999999999999999 0.000000000000000001",
    "/supermaintain APT sub1 0.000000000000000002 0.000000000000000001",
    "/supermaintain APT sub1 100 99.999999999999999999", "/supermaintain APT sub1 1 0.5",
    "/supermaintain BCH main short 0.1 0.05", "/supermaintain APT main short 5",
    "/supermaintain APT +1 -1", "/supermaintain APT .5", "/supermaintain APT 1 2 3",
    "/maintain APT 5", "/maintain APT main main", "/maintain STX main short",
    "/maintain AAVE main", "/tp reset " + "x" * 3000 + " long", "/tp " + "ß" * 2000,
    "/tp reset APT long main", "/tp reset APT", "/tp reset APT long sub1 x", "/tp BTC",
    "/positions " + "x" * 4000, "/positions MAIN", "/lang ZH", "/lang en", "/lang",
    "/close " + "🙂" * 2040, "/start " + "\x00" * 100, "/help\u202e", "/unknown " + "A" * 4000,
    "/close\u00a0APT\u00a01\u00a0sub1", "/close\tAPT\t1\tsub1", "/close@local_bot APT 1 sub1",
    "/close@other_bot APT 1 sub1", "/CLOSE APT 1 sub1", "/",
]


def with_edge_cases(test: Callable[..., None]) -> Callable[..., None]:
    for text in reversed(EDGE_CASES):
        test = example(text=text, sender="owner", stranger=STRANGERS[0], edit=False)(test)
    return test


@pytest.fixture(autouse=True)
def hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis's caches (of constants, of Unicode data) outside the repository."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


async def test_fuzzed_commands_never_escape_nor_order(tmp_path, figures):
    async with harness(tmp_path, figures) as h:

        passed: set[tuple[str, str, bool]] = set()

        @settings(SETTINGS, max_examples=COMMAND_EXAMPLES)
        @given(text=command_texts(), sender=senders, stranger=st.sampled_from(STRANGERS),
               edit=st.sampled_from([False] * 24 + [True]))
        @with_edge_cases
        def fuzz(text: str, sender: str, stranger: int, edit: bool) -> None:
            # Hypothesis draws some inputs many times ("/positions" alone, most of all):
            # one that passed is not sent again, so the count is of different commands.
            if (text, sender, edit) in passed:
                return
            h.sync(h.say(text, user_of(sender, stranger), edit=edit))
            passed.add((text, sender, edit))

        await in_thread(fuzz)
        assert h.counts["commands"] >= COMMAND_COUNT
        assert (h.counts["escapes"], h.counts["orders"]) == (0, 0)


# Commands that make the bot issue confirmations: a side prompt (close_side,
# maintain_side), a close, a maintenance, a take-profit reset.
ISSUING = ["/close APT 1 main", "/close APT 10 sub1", "/close APT 25% sub1 long",
           "/close BCH all main", "/close STX 10 main short", "/maintain APT main",
           "/supermaintain APT sub1 100 10", "/supermaintain APT sub1", "/maintain STX main",
           "/tp reset APT long sub1", "/tp reset STX short main", "/close CRV 50% main"]
# The watcher's alert buttons, with the payload handlers/alerts.py gives them (the
# watcher is off here): for held positions and one since gone.
WATCHED = [("main", "STX-USDT-SWAP", "short"), ("sub1", "APT-USDT-SWAP", "long"),
           ("main", "APT-USDT-SWAP", "long"), ("main", "BTC-USDT-SWAP", "long")]
PREFIXES = [CONFIRM, CANCEL, SIDE, WATCH]
CHOICES = ["long", "short", "maintain", "supermaintain", "skip"]
BAD_PREFIXES = ["CF", "Cx", "c", "cff", "", "zz", " cf", "cf ", "wa\n", "cs\x00", "🙂"]
BAD_CHOICES = ["LONG", "Long", "x", "", "long:long", "both", "long ", "skip\x00", "🙂",
               "maintain:skip", "close", "confirm", "0", "-1", "long" * 20]
ODD_TOKENS = ["tok.en", "tok/en", "🙂", "a b", "%00", "../x", "*", "\x00", "None", "null",
              "' OR 1=1 --", "A" * 43 + "🙂"]
# How a real button's data (or a real token) is bent before it is pressed.
BENDS: dict[str, Callable[[str, int], str]] = {
    "as is": lambda d, n: d,
    "suffix": lambda d, n: d + [":", "::", " ", "\n", ":long", ":x", "\x00", "="][n % 8],
    "prefix": lambda d, n: [" ", "\u200b", ":", "cf:", "x"][n % 5] + d,
    "upper": lambda d, n: d.upper(),
    "swapcase": lambda d, n: d.swapcase(),
    "cut": lambda d, n: d[:n % max(1, len(d))],
    "other choice": lambda d, n: ":".join(d.split(":")[:2] + [CHOICES[n % len(CHOICES)]]),
    "other prefix": lambda d, n: ":".join([PREFIXES[n % 4], *d.split(":")[1:]]),
    "reversed": lambda d, n: d[::-1],
}


@dataclass(frozen=True)
class Press:
    """One step of the callbacks test as hypothesis draws it: every field drawn the same
    way whatever the bot holds (hypothesis needs the same choices to mean the same draws),
    made concrete against the live tokens and messages by `resolve`. Before the press,
    `wait` seconds pass (confirmations expire) and `command` is sent ("watcher": a watcher
    alert with its buttons)."""

    wait: int
    command: str | None
    shape: str  # real: a button the bot sent; built: prefix:token[:choice]; random; none
    breaks: str  # what of a built press is not what a button would carry, if anything
    recent: bool  # the real button or token among the latest few, or any of them
    pick: int  # which real button, token or message: an index, modulo how many there are
    bend: str  # a key of BENDS, for a real button's data or a "bent" token
    prefix: str  # the prefix when it breaks
    token: str  # the token when it breaks: bent, made up, long, empty, odd
    made_up: str
    choice: str | None  # the third part when it breaks, None for none
    junk: str  # the data of a random press
    on: str  # own (the confirmation's message), keyboard (the latest), any (a bot message)
    sender: str
    stranger: int


TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
presses = st.builds(
    Press,
    wait=st.sampled_from([0] * 24 + [1, 61, 121, 3601]),
    command=st.sampled_from([None] * 4 + ["issuing", "issuing", "watcher", "any"]).flatmap(
        lambda c: {"issuing": st.sampled_from(ISSUING), "any": command_texts()}.get(
            c, st.just(c))),
    shape=st.sampled_from(["real"] * 5 + ["built"] * 6 + ["random", "none"]),
    breaks=st.sampled_from(["nothing"] * 4 + ["prefix", "token", "choice", "all"]),
    recent=st.sampled_from([True] * 3 + [False]),
    pick=st.integers(0, 2**20),
    bend=st.sampled_from(["as is"] * 6 + list(BENDS)),
    prefix=st.sampled_from(PREFIXES * 2 + BAD_PREFIXES),
    token=st.sampled_from(["bent", "bent", "made up", "made up", "long", "empty", "odd"]),
    made_up=st.text(TOKEN_CHARS, min_size=1, max_size=43),
    choice=st.sampled_from([None] * 3 + CHOICES + BAD_CHOICES),
    junk=st.one_of(unicode_text, st.text(max_size=70), st.from_regex(
        r"[a-z]{0,3}:[A-Za-z0-9_=.-]{0,50}(:[a-z]{0,14})?", fullmatch=True)),
    on=st.sampled_from(["own"] * 4 + ["keyboard", "any"]),
    sender=senders,
    stranger=st.sampled_from(STRANGERS))
# The prefixes of the buttons the bot gives each confirmation kind, and their choices.
KIND_PREFIXES = {"close_side": [SIDE, CANCEL], "maintain_side": [SIDE, CANCEL],
                 "watcher": [WATCH], "close": [CONFIRM, CANCEL], "maintain": [CONFIRM, CANCEL],
                 "tp_reset": [CONFIRM, CANCEL], "maintain_retry": [CONFIRM],
                 "correct": [CONFIRM, CANCEL], "order_pick": [CONFIRM],
                 "order_cancel": [CONFIRM, CANCEL]}
PREFIX_CHOICES = {SIDE: ["long", "short"], WATCH: ["maintain", "supermaintain", "skip"]}


def chosen(items: list[Any], recent: bool, pick: int) -> Any:
    """One of `items` (not empty): among the latest six, or any."""
    return items[-1 - pick % min(6, len(items))] if recent else items[pick % len(items)]


def resolve(h: Harness, p: Press) -> tuple[str | None, int, int]:
    """(data, user, message id) of a drawn press, against what the bot has issued."""
    data: str | None
    if p.shape == "none":
        data = None
    elif p.shape == "random":
        data = p.junk
    elif p.shape == "real" and h.button_data:
        data = BENDS[p.bend](chosen(h.button_data, p.recent, p.pick), p.pick)
    else:  # a real token under the prefix and choice its kind takes, but for what breaks
        token = chosen(h.tokens, p.recent, p.pick) if h.tokens else p.made_up
        found = h.app.store.get_confirmation(token)
        fits = KIND_PREFIXES.get(found.kind, PREFIXES) if found else PREFIXES
        prefix = p.prefix if p.breaks in ("prefix", "all") else fits[p.pick % len(fits)]
        choices = PREFIX_CHOICES.get(prefix, [None])
        choice = p.choice if p.breaks in ("choice", "all") else choices[p.pick % len(choices)]
        if p.breaks in ("token", "all"):
            token = {"bent": BENDS[p.bend](token, p.pick), "made up": p.made_up,
                     "long": "A" * (44 + p.pick % 40), "empty": "",
                     "odd": ODD_TOKENS[p.pick % len(ODD_TOKENS)]}[p.token]
        data = f"{prefix}:{token}" + ("" if choice is None else f":{choice}")
    messages_ = h.bot_messages()
    message_id = messages_[p.pick % len(messages_)]
    if p.on == "keyboard":
        message_id = next((i for i in reversed(messages_)
                           if buttons_of(h.chat.messages[i])), message_id)
    elif p.on == "own" and data and len(parts := data.split(":")) > 1:
        found = h.app.store.get_confirmation(parts[1])
        if found is not None and found.message_id in h.chat.messages:
            message_id = found.message_id
    return data, user_of(p.sender, p.stranger), message_id


async def test_fuzzed_callback_data_never_escapes_nor_orders(tmp_path, figures):
    async with harness(tmp_path, figures) as h:
        for command in ISSUING:
            await h.say(command, USER)
        for n in range(len(WATCHED)):
            await h.watcher_alert(n)
        assert len(h.tokens) == len(ISSUING) + len(WATCHED)  # each one asked something

        @settings(SETTINGS, max_examples=CALLBACK_COUNT)
        @given(press=presses)
        def fuzz(press: Press) -> None:
            h.clock.shift += timedelta(seconds=press.wait)
            if press.command == "watcher":
                h.sync(h.watcher_alert(press.pick))
            elif press.command is not None:  # fresh confirmations, or any command
                h.sync(h.say(press.command, USER))
            h.sync(h.press(*resolve(h, press)))

        await in_thread(fuzz)
        assert h.counts["callbacks"] >= CALLBACK_COUNT
        assert (h.counts["escapes"], h.counts["orders"]) == (0, 0)


# -- the oracle fails on what it must -------------------------------------------------------


async def test_the_oracle_sees_an_escape_and_an_order(tmp_path, monkeypatch):
    async def broken(update: object, context: object) -> None:
        raise RuntimeError("planted")

    monkeypatch.setitem(commands.COMMANDS, "help", broken)
    counts: Counter[str] = Counter()  # not the run's figures: these escapes are planted
    async with harness(tmp_path, lambda _: counts) as h:
        with pytest.raises(Escape, match=r"(?s)internal error reply.*handler_failed.*planted"):
            await h.say("/help", USER)
        [confirm] = await h.say("/close APT 10 sub1", USER)  # only new failures count
        assert confirm.startswith("Close APT-USDT-SWAP long on sub1?")
        token = h.tokens[-1]
        assert h.genuine_confirm(f"cf:{token}") == USER
        # Pressed by its owner, past the fuzzer's guard: the order is seen.
        mark, calls = len(h.chat.transcript), len(h.chat.calls)
        await h.chat.press_data(f"cf:{token}", user_id=USER)
        with pytest.raises(Escape, match="1 orders reached the exchange"):
            await h.check("the owner confirms", mark, calls, answered=True, press=True)
    assert (counts["escapes"], counts["orders"]) == (2, 1)
    # the others reset a ladder, ask about a resting order, or cancel one: none orders
    assert buttons.ON_CONFIRM.keys() - {"tp_reset", "order_pick", "order_cancel"} == \
        ORDERING_KINDS
