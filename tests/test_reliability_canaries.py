"""Secret canaries (issue 11, the reliability suite): the real `bot.py` process, configured
with unique canary secrets (the bot token and an OKX main and sub-account's key, secret and
passphrase) given as README says, through `${ENV}` substitution from the environment, from
the `.env` beside the config file and from `./.env`. It is driven through a local Bot API
server (/start, /help, /status, /positions, a confirmed /close, failing commands, a
stranger) while OKX and Telegram answer with errors, so the error paths log; then it is
stopped with SIGTERM. No canary may be found, as written, URL-encoded, HTML- or
JSON-escaped, in base64 (at any alignment) or by its first 8 characters, in:

- its standard output and standard error;
- every call it made to the Bot API (every message it sent or edited, every parameter) and
  the chat as the user sees it; the token in the request path is Telegram's protocol and
  not a leak;
- every request it made to OKX, but for the authentication headers that must carry the key
  and passphrase (OKX's protocol);
- every file it wrote under the test's folders, while it runs (the SQLite WAL) and after it
  stopped: the working folder (database, lock), the config folder, the per-user runtime
  folder of the token lock (XDG_RUNTIME_DIR), HOME and TMPDIR.

(A database password is not among the canaries: the database is SQLite.)"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import os
import re
import secrets
import signal
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from handlers.local_chat_format import ChatEvent
from tests.fakes.okx_accounts import seeded_exchange
from tests.fakes.okx_server import Credentials, FakeOkxServer, Recorded
from tests.fakes.telegram_server import FakeTelegramServer

ROOT = Path(__file__).resolve().parents[1]
USER, STRANGER = 1001, 4242
BOT_ID = "7300125846"  # the token's public part: the lock file's name carries it by design
PREFIX = 8  # a canary's first characters, searched on their own too
# The headers OKX's protocol puts the key and passphrase in (and a signature made with the
# secret): what the exchange must receive, so not a leak.
OKX_AUTH_HEADERS = frozenset({"ok-access-key", "ok-access-passphrase", "ok-access-sign"})
SHOWN = ("sent", "edited", "photo", "answer")


# ----- the canaries and their forms ------------------------------------------------------

def _random(n: int) -> str:
    # Mixed-case letters and digits: 62**8 makes a chance match of a prefix negligible
    # (hex would not be: the bot's own ids are hex).
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


@dataclass(frozen=True, slots=True)
class Canary:
    name: str  # which secret, and where it was given
    value: str
    prefix_searched: bool = True  # False: the first characters are public (the bot id)


def make_canaries() -> dict[str, Canary]:
    """By variable name. Each starts with its own random characters (its prefix) and
    carries characters that YAML, URLs, HTML or a shell would change."""
    secret_part = f"AAH{_random(5)}canaryTG_{_random(22)}"  # Telegram's token alphabet
    token = f"{BOT_ID}:{secret_part}"

    def canary(name: str, middle: str) -> Canary:
        return Canary(name, f"{_random(PREFIX)}{middle}{_random(8)}")

    return {
        "TELEGRAM_BOT_TOKEN": Canary("telegram.token (from ./.env)", token,
                                     prefix_searched=False),
        # the token's secret part alone, e.g. shown after the public bot id was cut off
        "_TOKEN_SECRET_PART": Canary("telegram.token, its secret part", secret_part),
        "OKX_API_KEY": canary("main api_key (from the environment)", "-canary-main-key-"),
        "OKX_API_SECRET": canary("main api_secret (from the environment)",
                                 "+canary/main=secret#"),
        "OKX_PASSPHRASE": canary("main passphrase (from the environment)",
                                 ":canary 'main' pass&"),
        "OKX_SUB1_API_KEY": canary("sub1 api_key (from the .env beside the config)",
                                   "-canary-sub1-key-"),
        "OKX_SUB1_API_SECRET": canary("sub1 api_secret (from the .env beside the config)",
                                      "+canary/sub1=secret#"),
        "OKX_SUB1_PASSPHRASE": canary("sub1 passphrase (from the .env beside the config)",
                                      ":canary sub1 pass<&>"),
    }


def _base64_forms(raw: bytes) -> list[bytes]:
    """The base64 text of `raw` wherever it sits in an encoded stream: for each of the
    three alignments, the characters that depend on `raw` alone (standard and URL-safe)."""
    found = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).rstrip(b"=")
        start = -(-shift * 8 // 6)  # ceil: the characters touched by the padding bytes
        end = (shift + len(raw)) * 8 // 6  # floor: the last character made of raw alone
        core = encoded[start:end]
        found += [core, core.replace(b"+", b"-").replace(b"/", b"_")]
    return found


def forms(canary: Canary) -> dict[str, bytes]:
    """How a canary might show: name of the form -> the bytes searched."""
    value = canary.value
    found: dict[str, bytes] = {"as is": value.encode()}
    for name, text in (("URL-encoded", quote(value, safe="")),
                       ("URL-encoded (form)", quote_plus(value)),
                       ("URL-encoded (path)", quote(value)),
                       ("HTML-escaped", html.escape(value)),
                       ("JSON-escaped", json.dumps(value)[1:-1])):
        found.setdefault(name, text.encode())
    for n, needle in enumerate(_base64_forms(value.encode())):
        found[f"base64 #{n}"] = needle
    if canary.prefix_searched:
        found[f"first {PREFIX} characters"] = value[:PREFIX].encode()
    unique: dict[str, bytes] = {}  # one name per needle: the first, the plainest
    for name, needle in found.items():
        if needle not in unique.values():
            unique[name] = needle
    return unique


@dataclass(frozen=True, slots=True)
class Leak:
    place: str
    canary: str
    form: str
    offset: int
    line: int
    context: bytes

    def __str__(self) -> str:
        return (f"{self.canary} found {self.form} in {self.place} at byte {self.offset} "
                f"(line {self.line}): ...{self.context!r}...")


def search(places: dict[str, bytes], canaries: dict[str, Canary]) -> list[Leak]:
    leaks = []
    for place, data in places.items():
        for canary in canaries.values():
            for form, needle in forms(canary).items():
                for match in re.finditer(re.escape(needle), data):
                    at = match.start()
                    leaks.append(Leak(place, canary.name, form, at, data.count(b"\n", 0, at) + 1,
                                      data[max(0, at - 60):match.end() + 60]))
    return leaks


def files_under(folders: dict[str, Path], inputs: dict[Path, bytes], when: str,
                ) -> dict[str, bytes]:
    """Every file under `folders` but the test's own unchanged inputs, by place name."""
    found = {}
    for label, folder in folders.items():
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # a side file that went away while we walked
                continue
            if inputs.get(path) == data:
                continue
            found[f"file {label}/{path.relative_to(folder)} ({when})"] = data
    return found


def bot_api_calls(server: FakeTelegramServer) -> dict[str, bytes]:
    places = {}
    for n, (method, params) in enumerate(list(server.calls), 1):
        strings = [str(v) for v in params.values() if isinstance(v, str)]
        data = "\n".join([json.dumps(params, ensure_ascii=False, default=str), *strings])
        places[f"Bot API call {n} {method} (chat {params.get('chat_id')})"] = data.encode()
    transcript = "\n".join(f"{e.kind} {e.chat_id} {e.text} {e.buttons}"
                           for e in server.chat.transcript)
    places["the chat as the users see it"] = transcript.encode()
    return places


def okx_requests(requests: list[Recorded]) -> dict[str, bytes]:
    places = {}
    for n, r in enumerate(list(requests), 1):
        headers = {k: v for k, v in r.headers.items() if k.lower() not in OKX_AUTH_HEADERS}
        data = json.dumps([r.method, r.path, r.query, r.body, headers], ensure_ascii=False,
                          default=str)
        places[f"OKX request {n} {r.method} {r.path} (auth headers excepted)"] = data.encode()
    return places


def test_the_canary_search_finds_every_form(tmp_path):
    """The search itself: a canary written in any of its forms, anywhere in a file, is found."""
    canary = make_canaries()["OKX_API_SECRET"]
    for form, needle in forms(canary).items():
        for pad in range(3):  # base64 at every alignment, inside a longer encoded text
            if form.startswith("base64"):
                raw = b"x" * pad + canary.value.encode() + b"yz"
                encoded = base64.b64encode(raw)
                data = encoded + b" " + base64.urlsafe_b64encode(raw)
            else:
                data = b"log line\n" + b"-" * pad + needle + b"\n"
            path = tmp_path / "written.bin"
            path.write_bytes(data)
            leaks = search(files_under({"tmp": tmp_path}, {}, "now"), {"c": canary})
            assert leaks, (form, pad)
    assert forms(canary)["URL-encoded"] != canary.value.encode()  # the forms differ
    assert search({"clean": b"nothing here " * 100}, make_canaries()) == []


# ----- the running bot -------------------------------------------------------------------

class Bot:
    """The bot.py process, its output read as it comes (a full pipe would stall it)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stdout, self.stderr = bytearray(), bytearray()
        assert process.stdout is not None and process.stderr is not None
        self._readers = [asyncio.create_task(self._read(process.stdout, self.stdout)),
                         asyncio.create_task(self._read(process.stderr, self.stderr))]

    @staticmethod
    async def _read(stream: asyncio.StreamReader, into: bytearray) -> None:
        while chunk := await stream.read(65536):
            into.extend(chunk)

    async def stop(self, timeout: float = 20) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            pytest.fail(f"the bot did not stop on SIGTERM; stderr:\n{self.tail()}")
        await asyncio.gather(*self._readers)
        return code

    def tail(self) -> str:
        return bytes(self.stderr[-4000:]).decode(errors="replace")


async def until(check: Callable[[], object], what: str, bot: Bot, chat_events: Callable[[], str],
                timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if bot.process.returncode is not None:
            pytest.fail(f"the bot exited ({bot.process.returncode}) waiting for {what}; "
                        f"stderr:\n{bot.tail()}")
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}; chat:\n{chat_events()}\n"
                        f"stderr:\n{bot.tail()}")
        await asyncio.sleep(0.05)


def write_inputs(tmp_path: Path, canaries: dict[str, Canary], telegram_url: str,
                 okx_url: str) -> tuple[dict[str, Path], dict[Path, bytes], dict[str, str]]:
    """(folders, input files with their bytes, environment) of the run."""
    folders = {name: tmp_path / name for name in ("work", "conf", "run", "home", "tmp")}
    for folder in folders.values():
        folder.mkdir()

    def account(name: str, role: str, prefix: str) -> str:
        return (f"  - name: {name}\n    venue: okx\n    role: {role}\n"
                f"    base_url: {okx_url}\n"
                f"    api_key: \"${{{prefix}API_KEY}}\"\n"
                f"    api_secret: \"${{{prefix}API_SECRET}}\"\n"
                f"    passphrase: \"${{{prefix}PASSPHRASE}}\"\n"
                # observe: the rule loops run every second, read, decide and report, and
                # send nothing (main's long sits at +25%, take-profit tier 1)
                "    rules: {take_profit: observe, hedge: observe, correction: observe}\n")

    config = folders["conf"] / "config.yaml"
    config.write_text(
        "language: en\n"
        "telegram:\n"
        "  token: \"${TELEGRAM_BOT_TOKEN}\"\n"
        f"  base_url: {telegram_url}\n"
        f"  allowed_user_ids: [{USER}]\n"
        "database: {url: 'sqlite:///data/bot.db'}\n"
        "accounts:\n" + account("main", "main", "OKX_") + account("sub1", "sub", "OKX_SUB1_")
        + "rules:\n"
        "  take_profit: {interval_seconds: 1}\n"
        "  close: {follow_poll_seconds: '0.01', late_window_seconds: '0.2'}\n")
    value = {name: c.value for name, c in canaries.items()}
    beside = folders["conf"] / ".env"  # single quotes: '#', ':', '&' are kept as they are
    beside.write_text("".join(f"{name}='{value[name]}'\n" for name in (
        "OKX_SUB1_API_KEY", "OKX_SUB1_API_SECRET", "OKX_SUB1_PASSPHRASE")))
    local = folders["work"] / ".env"  # ./.env: the token, and where the config is
    local.write_text(f"BOT_CONFIG={config}\nTELEGRAM_BOT_TOKEN='{value['TELEGRAM_BOT_TOKEN']}'\n")
    inputs = {path: path.read_bytes() for path in (config, beside, local)}

    clean = {k: v for k, v in os.environ.items()
             if k not in ("BOT_CONFIG", "XDG_RUNTIME_DIR", "HOME", "TMPDIR")
             and not k.startswith(("TELEGRAM_", "OKX_"))}
    env = {**clean, "XDG_RUNTIME_DIR": str(folders["run"]), "HOME": str(folders["home"]),
           "TMPDIR": str(folders["tmp"]),
           **{name: value[name] for name in ("OKX_API_KEY", "OKX_API_SECRET", "OKX_PASSPHRASE")}}
    return folders, inputs, env


async def test_no_secret_canary_leaks_from_the_running_bot(tmp_path, figures):
    canaries = make_canaries()
    okx_keys = {canaries["OKX_API_KEY"].value: "main", canaries["OKX_SUB1_API_KEY"].value: "sub1"}
    credentials = {
        canaries["OKX_API_KEY"].value: Credentials(canaries["OKX_API_SECRET"].value,
                                                   canaries["OKX_PASSPHRASE"].value),
        canaries["OKX_SUB1_API_KEY"].value: Credentials(canaries["OKX_SUB1_API_SECRET"].value,
                                                        canaries["OKX_SUB1_PASSPHRASE"].value)}
    exchange = seeded_exchange()
    places: dict[str, bytes] = {}
    async with (FakeTelegramServer(token=canaries["TELEGRAM_BOT_TOKEN"].value) as telegram,
                FakeOkxServer(exchange, okx_keys, credentials=credentials,
                              demo=False) as okx):
        folders, inputs, env = write_inputs(tmp_path, canaries, telegram.base_url,
                                            okx.base_url)
        chat = telegram.chat
        bot = Bot(await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bot.py"), cwd=folders["work"], env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE))
        try:
            def shown(mark: int, chat_id: int = USER) -> list[ChatEvent]:
                return [e for e in chat.transcript[mark:]
                        if e.kind in SHOWN and e.chat_id in (chat_id, None)]

            def chat_lines() -> str:
                return "\n".join(f"{e.kind} {e.chat_id}: {e.text}" for e in chat.transcript[-30:])

            async def wait_for(check: Callable[[], object], what: str) -> None:
                await until(check, what, bot, chat_lines)

            async def ask(text: str, expect: str | tuple[str, ...], user: int = USER,
                          mark: int | None = None) -> list[ChatEvent]:
                """Say `text` and wait for an answer containing `expect` (one of them)."""
                mark = len(chat.transcript) if mark is None else mark
                wanted = (expect,) if isinstance(expect, str) else expect
                await chat.say(text, user_id=user)
                await wait_for(lambda: any(w in e.text for e in shown(mark, user)
                                           for w in wanted), f"{expect!r} after {text!r}")
                return shown(mark, user)

            async def confirm(question: str, expect: str) -> list[ChatEvent]:
                [asked] = [e for e in shown(0) if e.text.startswith(question) and e.buttons][-1:]
                mark = len(chat.transcript)
                await chat.press("Confirm", message_id=asked.message_id)
                await wait_for(lambda: any(e.text.startswith(expect) for e in shown(mark)),
                               f"{expect!r} after confirming {question!r}")
                return shown(mark)

            def okx_calls(path: str) -> int:
                return len(okx.requests_to(path))

            # Up: polling, and the start notice (a system alert) sent to the owner.
            await wait_for(lambda: any(m == "getUpdates" for m, _ in telegram.calls)
                           and shown(0), "the bot to poll and announce its start")

            # The ordinary commands.
            await ask("/start", "Hello, I control your perpetual-swap positions.")
            await ask("/help", "Commands:")
            said = await ask("/status", "📊 Status")
            assert "✅ main (okx) reachable" in "\n".join(e.text for e in said), said
            said = await ask("/positions", "Positions — sub1 (okx)")
            assert "APT-USDT-SWAP long 60 ct (60 APT)" in "\n".join(e.text for e in said)
            await ask("/tp", "Take-profit — sub1 (observe)")

            # A confirmed close, through to the fill.
            await ask("/close APT 25% sub1", "Close APT-USDT-SWAP long on sub1?")
            await confirm("Close APT-USDT-SWAP long on sub1?", "✅ Closed APT-USDT-SWAP long")

            # Failing commands: bad arguments, an order OKX refuses (51008), a read with a
            # key OKX refuses (50111; the rule loops meet it too), rate limits (429, retried)
            # and a busy exchange (5xx) on /status, and an unexpected error on every read.
            await ask("/close APT lots sub1", "Not a size: lots")
            await ask("/close NOPE 5 sub1", "Unknown symbol")
            await ask("/positions nobody", "Unknown account: nobody")
            okx.fail_next("51008", path="/api/v5/trade/order", method="POST")
            await ask("/close APT 10 sub1", "Close APT-USDT-SWAP long on sub1?")
            await confirm("Close APT-USDT-SWAP long on sub1?", "❌ Not closed")

            positions = "/api/v5/account/positions"
            mark_positions = okx_calls(positions)
            okx.fail_next("50111", times=6, path=positions)
            await ask("/positions", "could not read positions")
            await wait_for(lambda: okx_calls(positions) >= mark_positions + 6,
                           "the rule loops to meet the refused key")
            okx.fail_next("50011", times=2)  # rate limited: HTTP 429, retried
            okx.fail_next("50013", times=2)  # system busy: HTTP 503, retried
            await ask("/status", "📊 Status")
            okx.fail_next("50000", times=8, message="Body can not be empty")
            await ask("/status", "📊 Status")
            await ask("/tp", ("Take-profit", "could not read positions"))

            # Telegram failing: a poll answered 502, a reply refused.
            chat.fail_next("getUpdates", status=502, description="Bad Gateway")
            chat.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
            mark = len(chat.transcript)
            await chat.say("/help")
            await asyncio.sleep(1.5)  # the refused reply: nothing to wait for but the log
            await ask("/help", "Commands:", mark=mark)

            # A stranger.
            await ask("/start", "not allowed", user=STRANGER)
            await ask("/positions", "not allowed", user=STRANGER + 1)

            await asyncio.sleep(1.5)  # a last run of the rule loops
            places |= files_under(folders, inputs, "while running")
        finally:
            code = await bot.stop()
        assert code == 0, bot.tail()
        await asyncio.sleep(0.2)  # the stop notice has been recorded by the server
        places |= bot_api_calls(telegram)
        places |= okx_requests(okx.requests)
        assert okx.errors == []

    places["stdout"] = bytes(bot.stdout)
    places["stderr"] = bytes(bot.stderr)
    places |= files_under(folders, inputs, "after the stop")
    # the run went where it should: the error paths logged, the files were written
    stderr = places["stderr"].decode(errors="replace")
    for logged in ("okx 50111", "close_failed", "venue_retry", "job_failed", "handler_failed",
                   "telegram_polling_failed", "unauthorized refused user", "bot_stopped"):
        assert logged in stderr, (logged, stderr[-3000:])
    written = {p for p in places if p.startswith("file ")}
    assert any("work/data/bot.db (after" in p for p in written), written
    assert any(p.startswith("file run/anchor-bot/telegram-") for p in written), written

    leaks = search(places, canaries)
    section = figures("canaries")
    section["canaries"] += len(canaries)
    section["searched places"] += len(places)
    section["leaked"] += len({leak.canary for leak in leaks})
    assert not leaks, f"{len(leaks)} canary finding(s):\n" + "\n".join(map(str, leaks[:40]))
