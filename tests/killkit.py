"""Kill points for the reliability suite: the real `bot.py` process, SIGKILLed while it
trades, then started again on the same config, database and exchange.

`TrapOkxServer` is the fake OKX server with a trap on the bot's writes — order placements
(POST /api/v5/trade/order), margin changes and leverage settings: at the n-th write it
kills the bot

- `answered`: after the fake server answered it (the order is at the venue and the bot
  has the answer, but had no time to journal it) — a step boundary;
- `held`: when it arrived, after it landed at the paper engine but before it is answered
  (the bot never hears of an order the venue has) — in flight, landed;
- `dropped`: when it arrived, before it reached the engine (the order never exists) — in
  flight, lost;
- `late`: when it arrived, before it reached the engine, which it reaches once the
  restarted bot has looked it up by its client id `late_after_lookups` times and not found
  it (an order that lands late, as issue 11's case 3 describes) — in flight, landing while
  the restarted bot looks for it (orders only).

It also keeps what a real venue would have made of every placement (`Placement`): OKX
takes a client id again once its first order is final, so a placement whose client id the
venue already had, finished, is a second order there (the paper engine would quietly
answer with the first one, hiding it), and every margin change (`MarginWrite`), which a
venue cannot be asked about afterwards.

`BotProcess` runs `bot.py --config` as a user would, its output in files beside the
database; `KillPoint.run` is one whole kill point: start, act, kill, start again, wait for
the journal to end the action, stop, and say what the exchange and the journal hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from bot.domain import Order, Side
from bot.venues.paper.engine import PaperExchange
from tests.fakes.okx_accounts import CREDENTIALS, KEYS, credentials_of
from tests.fakes.okx_server import Credentials, FakeOkxServer
from tests.fakes.telegram_server import FakeTelegramServer

ROOT = Path(__file__).resolve().parents[1]
USER = 1001
ORDER_PATH = "/api/v5/trade/order"
MARGIN_PATH = "/api/v5/account/position/margin-balance"
LEVERAGE_PATH = "/api/v5/account/set-leverage"
MODES = ("answered", "held", "dropped")  # every order of every action is killed at so
LATE_LANDING_TIMEOUT = 30  # a late order lands by then, looked up or not
LATE = "late"  # ... and some at this (it costs a maintenance a 5 s pause between look-ups)
FINAL_ACTION_STATES = {"done", "partial", "failed", "cancelled"}
OPEN_STEP_STATES = {"planned", "intended", "sent"}
# Fast everything: orders followed every 10 ms, an order of unknown fate may land for
# 0.2 s, batches 0.2 s apart and good for 1 s (they fill at once on the books used here).
FAST_CLOSE = {"follow_poll_seconds": "0.01", "late_window_seconds": "0.2",
              "batch_interval_seconds": "0.2", "gtt_seconds": 1}


# ----- the fake OKX server with a trap -------------------------------------------------

@dataclass(slots=True)
class Placement:
    """One POST /api/v5/trade/order as it arrived."""

    account: str | None
    client_id: str
    known: str | None  # the state of the venue's order with this client id then, or None
    landed: bool = False  # it reached the paper engine

    @property
    def real_order(self) -> bool:
        """Would this placement be an order of its own at OKX? The first of its client id,
        or one sent again after the first ended (OKX refuses an id only while pending)."""
        return self.landed and (self.known is None or self.known in FINAL_ORDER_STATES)


FINAL_ORDER_STATES = {"filled", "canceled", "cancelled", "expired", "rejected"}


@dataclass(slots=True)
class MarginWrite:
    """One POST of a margin change (which has no id of its own to look it up by)."""

    account: str | None
    amount: Decimal  # signed: negative moves margin out
    landed: bool = False


@dataclass(slots=True)
class Trap:
    n: int
    mode: str
    kill: Callable[[], None]
    late_after_lookups: int = 0  # `late`: look-ups of the restarted bot before it lands
    fired: asyncio.Event = field(default_factory=asyncio.Event)
    land: asyncio.Event = field(default_factory=asyncio.Event)
    landed: asyncio.Event = field(default_factory=asyncio.Event)
    seen: int = 0
    client_id: str = ""  # of the order the trap caught
    lookups: int = 0


class TrapOkxServer(FakeOkxServer):
    def __init__(self, exchange: PaperExchange, keys: dict[str, str] = KEYS,
                 credentials: dict[str, Credentials] = CREDENTIALS) -> None:
        super().__init__(exchange, keys, credentials=credentials, demo=False)
        self.placements: list[Placement] = []
        self.margin_writes: list[MarginWrite] = []
        self.writes = 0  # orders, margin changes and leverage settings received
        self.trap: Trap | None = None
        self._late: Trap | None = None  # a `late` trap whose order waits to land

    def arm(self, n: int, mode: str, kill: Callable[[], None], *,
            late_after_lookups: int = 0) -> Trap:
        assert mode in (*MODES, LATE), mode
        self.trap = Trap(n, mode, kill, late_after_lookups)
        return self.trap

    def disarm(self) -> None:
        self.trap = None

    def real_orders(self) -> Counter[tuple[str | None, str]]:
        """(account, client id) -> orders a real venue would hold for it."""
        return Counter((p.account, p.client_id) for p in self.placements if p.real_order)

    async def _handle(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        if (request.method, request.path) == ("GET", ORDER_PATH):
            response = await super()._handle(request)
            late = self._late
            if late is not None and request.query.get("clOrdId") == late.client_id:
                late.lookups += 1  # answered (not found: it has not landed yet)
                if late.lookups >= late.late_after_lookups:
                    late.land.set()
            return response
        if request.method == "POST" and request.path in (MARGIN_PATH, LEVERAGE_PATH):
            return await self._setting(request)
        if (request.method, request.path) != ("POST", ORDER_PATH):
            return await super()._handle(request)
        try:
            body = json.loads(await request.text() or "{}")  # (aiohttp keeps it for super)
        except ValueError:
            body = {}
        account = self.keys.get(request.headers.get("OK-ACCESS-KEY", ""))
        client_id = str(body.get("clOrdId") or "") if isinstance(body, dict) else ""
        placement = Placement(account, client_id, self._known(account, client_id))
        self.placements.append(placement)
        self.writes += 1
        trap = self.trap
        if trap is not None:
            trap.seen += 1
            if trap.seen != trap.n:
                trap = None
        if trap is not None and trap.mode in ("dropped", LATE):
            self._spring(trap)  # the order has not reached the engine
            if trap.mode == "dropped":  # ... and never will
                return web.json_response({"code": "50001", "msg": "killed", "data": []},
                                         status=503)
            trap.client_id, self._late = client_id, trap
            # (aiohttp lets a handler outlive its client; looked up or not, it lands)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(trap.land.wait(), LATE_LANDING_TIMEOUT)
            placement.known = self._known(account, client_id)
        before = self.exchange.next_id
        response = await super()._handle(request)
        placement.landed = self.exchange.next_id != before or placement.known is not None
        if trap is not None and trap.mode == LATE:
            self._late = None
            trap.landed.set()
        elif trap is not None and trap.mode == "held":
            self._spring(trap)  # at the venue; the bot never hears of it
        elif trap is not None:  # answered: every byte of the answer out first
            await response.prepare(request)
            await response.write_eof()
            self._spring(trap)
        return response

    async def _setting(self, request: web.Request) -> web.StreamResponse:
        """A margin change or a leverage setting: a write the trap counts like an order
        (killed once answered, once applied but not answered, or before it applies)."""
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            body = {}
        write, self.writes = None, self.writes + 1
        if request.path == MARGIN_PATH and isinstance(body, dict):
            amount = Decimal(str(body.get("amt") or 0))
            write = MarginWrite(self.keys.get(request.headers.get("OK-ACCESS-KEY", "")),
                                amount if body.get("type") == "add" else -amount)
            self.margin_writes.append(write)
        trap = self.trap
        if trap is not None:
            trap.seen += 1
            if trap.seen != trap.n:
                trap = None
        if trap is not None and trap.mode == "dropped":
            self._spring(trap)
            return web.json_response({"code": "50001", "msg": "killed", "data": []},
                                     status=503)
        response = await super()._handle(request)
        if write is not None and isinstance(response, web.Response) and response.body:
            write.landed = json.loads(bytes(response.body)).get("code") == "0"
        if trap is not None and trap.mode == "held":
            self._spring(trap)
        elif trap is not None:
            await response.prepare(request)
            await response.write_eof()
            self._spring(trap)
        return response

    def _known(self, account: str | None, client_id: str) -> str | None:
        known = self.exchange.client_ids.get((account or "", client_id))
        return None if known is None else self.exchange.orders[known].state.value

    def _spring(self, trap: Trap) -> None:
        self.trap = None
        trap.kill()
        trap.fired.set()


# ----- the bot process -----------------------------------------------------------------

# A fork server: a Python that has imported what bot.py imports, forking one child per
# start. Each child is a process of its own (its own pid, working folder, environment,
# standard streams; SIGKILL ends it like any other) running the unmodified bot.py as
# __main__; only the imports (about two seconds of CPU per start, most of a kill point's
# cost) are paid once. KILLKIT_EXEC=1 starts every bot with `python bot.py` instead.
_ZYGOTE = r"""
import contextlib, ctypes, json, os, runpy, select, signal, sys, traceback

sys.path.insert(0, sys.argv[1])
import bot.app, bot.config, bot.secrecy, bot.venues.okx.venue  # what a start would import

def child(order):
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # PR_SET_PDEATHSIG: no bot outlives the fork server (a test run interrupted)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    os.chdir(order["cwd"])
    fds = [os.open(os.devnull, os.O_RDONLY)] + [
        os.open(order[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for name in ("stdout", "stderr")]
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.closerange(3, 1024)
    os.environ.clear()
    os.environ.update(order["env"])
    sys.argv = list(order["argv"])
    sys.path[0] = os.path.dirname(sys.argv[0])
    code = 1
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)

live = set()
woken, wake = os.pipe()
os.set_blocking(wake, False)
signal.signal(signal.SIGCHLD, lambda *_: None)
signal.set_wakeup_fd(wake)
print(json.dumps({"ready": os.getpid()}), flush=True)
stdin = sys.stdin.buffer.raw
pending = b""
while True:
    try:
        readable, _, _ = select.select([stdin, woken], [], [])
    except InterruptedError:
        continue
    if woken in readable:
        os.read(woken, 4096)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            live.discard(pid)
            print(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}),
                  flush=True)
    if stdin in readable:
        data = os.read(stdin.fileno(), 65536)
        if not data:  # the test process is gone or done: so are its bots
            for pid in live:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            break
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            pid = os.fork()
            if pid == 0:
                child(json.loads(line))
            live.add(pid)
            print(json.dumps({"pid": pid}), flush=True)
"""


class Zygote:
    """The fork server of this event loop's kill points (see _ZYGOTE)."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self._spawned: asyncio.Queue[int] = asyncio.Queue()
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Zygote:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _ZYGOTE, str(ROOT), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, cwd=ROOT)
        assert self.process.stdout is not None
        ready = json.loads(await asyncio.wait_for(self.process.stdout.readline(), 60))
        assert "ready" in ready, ready
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.close()
        await asyncio.wait_for(self.process.wait(), 10)
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            said = json.loads(line)
            if "pid" in said:
                self._spawned.put_nowait(said["pid"])
            elif "exit" in said:
                self._exit(said["exit"]).set_result(said["code"])

    def _exit(self, pid: int) -> asyncio.Future[int]:
        if pid not in self._exits:
            self._exits[pid] = asyncio.get_running_loop().create_future()
        return self._exits[pid]

    async def spawn(self, argv: list[str], *, cwd: Path, env: dict[str, str], stdout: Path,
                    stderr: Path) -> ForkedProcess:
        assert self.process is not None and self.process.stdin is not None
        async with self._lock:
            order = {"argv": argv, "cwd": str(cwd), "env": env, "stdout": str(stdout),
                     "stderr": str(stderr)}
            self.process.stdin.write(json.dumps(order).encode() + b"\n")
            await self.process.stdin.drain()
            pid = await asyncio.wait_for(self._spawned.get(), 30)
        return ForkedProcess(pid, self._exit(pid))


class ForkedProcess:
    """The parts of asyncio.subprocess.Process a BotProcess uses, for a forked bot."""

    def __init__(self, pid: int, exited: asyncio.Future[int]) -> None:
        self.pid, self._exited = pid, exited

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)


_zygotes: dict[asyncio.AbstractEventLoop, Zygote] = {}


@contextlib.asynccontextmanager
async def bot_launcher() -> Any:
    """Where the kill points of one event loop start their bots: a fork server, or (with
    KILLKIT_EXEC=1) none, each bot then `python bot.py`."""
    if os.environ.get("KILLKIT_EXEC") == "1":
        yield None
        return
    loop = asyncio.get_running_loop()
    async with Zygote() as zygote:
        _zygotes[loop] = zygote
        try:
            yield zygote
        finally:
            del _zygotes[loop]


def write_config(folder: Path, okx_url: str, telegram: FakeTelegramServer, *,
                 rules: dict[str, dict[str, Any]] | None = None,
                 close: dict[str, Any] | None = None,
                 take_profit: dict[str, Any] | None = None,
                 correction: dict[str, Any] | None = None) -> Path:
    """main and sub1 on the fake OKX server, Telegram at the fake Bot API server, every rule
    loop off unless `rules[account]` switches one on."""
    def account(name: str, role: str) -> dict[str, Any]:
        switches = {"take_profit": False, "hedge": False, "correction": False,
                    "watcher": "off", **(rules or {}).get(name, {})}
        return {"name": name, "role": role, "venue": "okx", "base_url": okx_url,
                "streams": False, **credentials_of(name), "rules": switches}

    config = {
        "language": "en",
        "telegram": {"token": telegram.token, "base_url": telegram.base_url,
                     "allowed_user_ids": [USER]},
        "database": {"url": f"sqlite:///{folder / 'bot.db'}"},
        "accounts": [account("main", "main"), account("sub1", "sub")],
        "rules": {"close": {**FAST_CLOSE, **(close or {})},
                  "take_profit": {"interval_seconds": 1, **(take_profit or {})},
                  "correction": {"interval_seconds": 1, **(correction or {})}},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class BotProcess:
    """`python bot.py --config FILE` in `folder`; stdout and stderr kept in files there,
    one pair per start."""

    def __init__(self, folder: Path, config: Path) -> None:
        self.folder, self.config = folder, config
        self.process: asyncio.subprocess.Process | ForkedProcess | None = None
        self.starts = 0

    def _env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items()
                 if k not in ("BOT_CONFIG", "TELEGRAM_BOT_TOKEN", "XDG_RUNTIME_DIR")}
        return {**clean, "XDG_RUNTIME_DIR": str(self.folder / "run")}

    async def start(self) -> None:
        self.starts += 1
        argv = [str(ROOT / "bot.py"), "--config", str(self.config)]
        stdout, stderr = (self.folder / f"stdout.{self.starts}",
                          self.folder / f"stderr.{self.starts}")
        zygote = _zygotes.get(asyncio.get_running_loop())
        if zygote is not None:
            self.process = await zygote.spawn(argv, cwd=self.folder, env=self._env(),
                                              stdout=stdout, stderr=stderr)
            return
        with stdout.open("wb") as out, stderr.open("wb") as err:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *argv, cwd=self.folder, env=self._env(),
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err)

    def kill(self) -> None:
        """SIGKILL, at once: nothing of the bot runs after this."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)

    async def wait(self, timeout: float = 10) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self, timeout: float = 15) -> int:
        """SIGTERM, as a service manager stops it; SIGKILL if it does not stop in time."""
        assert self.process is not None
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        try:
            return await self.wait(timeout)
        except TimeoutError:
            self.kill()
            await self.wait()
            return -9

    def stderr(self, start: int | None = None) -> str:
        path = self.folder / f"stderr.{start or self.starts}"
        return path.read_text(errors="replace") if path.exists() else ""


# ----- the journal, read as it is on disk ---------------------------------------------

@dataclass(slots=True)
class Journal:
    actions: list[dict[str, Any]]
    steps: list[dict[str, Any]]

    @classmethod
    def read(cls, database: Path) -> Journal:
        if not database.exists():
            return cls([], [])
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True,
                                                timeout=5)) as db:
            db.row_factory = sqlite3.Row
            try:
                actions = [dict(r) for r in db.execute("SELECT * FROM actions ORDER BY id")]
                steps = [dict(r) for r in db.execute(
                    "SELECT * FROM action_steps ORDER BY action_id, seq")]
            except sqlite3.OperationalError:  # not migrated yet
                return cls([], [])
        for row in actions:
            row["plan"] = json.loads(row["plan"]) if row["plan"] else {}
        for row in steps:
            row["params"] = json.loads(row["params"]) if row["params"] else {}
            row["result"] = json.loads(row["result"]) if row["result"] else {}
        return cls(actions, steps)

    @property
    def settled(self) -> bool:
        """Every action final and no step of theirs still open."""
        return bool(self.actions) and all(
            a["state"] in FINAL_ACTION_STATES for a in self.actions) and not any(
            s["state"] in OPEN_STEP_STATES for s in self.steps)


# ----- one kill point ------------------------------------------------------------------

Act = Callable[["KillPoint"], Awaitable[None]]


@dataclass(slots=True)
class Ending:
    """What one kill point left: the exchange, the journal, the placements."""

    name: str
    killed: bool
    at_kill: Journal | None  # the journal as the killed bot left it
    journal: Journal  # as the restarted bot left it
    exchange: PaperExchange
    placements: list[Placement]
    margin_writes: list[MarginWrite]
    writes: int
    real_orders: Counter[tuple[str | None, str]]
    seconds: float
    stderr: str

    def orders(self, account: str) -> list[Order]:
        return [o.to_order() for o in self.exchange.orders.values() if o.account == account]

    def size(self, account: str, symbol: str, side: Side) -> Decimal:
        return sum((p.size for p in self.exchange.positions(account)
                    if p.symbol == symbol and p.side is side), Decimal(0))

    @property
    def duplicates(self) -> int:
        """Orders a real venue would hold beyond one per client id."""
        return sum(n - 1 for n in self.real_orders.values() if n > 1)

    def unjournaled(self) -> list[str]:
        """Client ids of orders at the venue that no journaled step carries."""
        journaled = {s["client_id"] for s in self.journal.steps if s["client_id"]}
        return sorted({o.client_id for o in self.exchange.orders.values()} - journaled)


@dataclass(slots=True)
class KillPoint:
    """One action, killed at the n-th write — an order placement, a margin change, a
    leverage setting (`mode`: answered, held, dropped; `late` for orders), then
    recovered. `act` starts the action once the bot is up (a command through
    the chat; nothing for a rule that fires by itself)."""

    folder: Path
    exchange: PaperExchange
    act: Act
    n: int
    mode: str
    rules: dict[str, dict[str, Any]] | None = None
    close: dict[str, Any] | None = None
    take_profit: dict[str, Any] | None = None
    correction: dict[str, Any] | None = None
    late_after_lookups: int = 0  # `late`: the order lands after this many look-ups
    recover_seconds: float = 30
    linger: float = 0  # seconds the restarted bot keeps running once recovered
    chat: Any = None
    server: TrapOkxServer | None = None
    at_kill: Journal | None = None

    @property
    def name(self) -> str:
        return f"{self.folder.name}: order {self.n} {self.mode}"

    async def run(self) -> Ending:
        began = time.monotonic()
        self.folder.mkdir(parents=True, exist_ok=True)
        async with TrapOkxServer(self.exchange) as okx, FakeTelegramServer() as telegram:
            self.chat, self.server = telegram.chat, okx
            config = write_config(self.folder, okx.base_url, telegram, rules=self.rules,
                                  close=self.close, take_profit=self.take_profit,
                                  correction=self.correction)
            bot = BotProcess(self.folder, config)
            trap = okx.arm(self.n, self.mode, bot.kill,
                           late_after_lookups=self.late_after_lookups)
            await bot.start()
            try:
                await self.polling(telegram, 0, bot, trap)
                fired = asyncio.create_task(trap.fired.wait())
                exited = asyncio.create_task(bot.process.wait())  # type: ignore[union-attr]
                ended = asyncio.create_task(self._acted_and_settled())
                await asyncio.wait({fired, exited, ended}, timeout=30,
                                   return_when=asyncio.FIRST_COMPLETED)
                killed = trap.fired.is_set()
                for task in (fired, exited, ended):
                    task.cancel()
                okx.disarm()
                if not killed:  # fewer orders than n (the run without a kill), or a failure
                    if ended.done() and not ended.cancelled() and ended.exception():
                        raise ended.exception()  # type: ignore[misc]
                    await asyncio.sleep(self.linger)
                    await bot.stop()
                    return self._ending(began, False, bot)
                await bot.wait()
                self.at_kill = Journal.read(self.folder / "bot.db")
                calls = len(telegram.calls)
                await bot.start()  # the same config: same database, same exchange
                await self.polling(telegram, calls, bot)
                await self.recovered()
                if self.mode == LATE:  # judged once the late order is at the venue
                    await asyncio.wait_for(trap.landed.wait(), LATE_LANDING_TIMEOUT + 5)
                    await self.recovered()
                await asyncio.sleep(self.linger)  # e.g. a rule's next run: nothing again
            finally:
                await bot.stop()
            return self._ending(began, True, bot)

    async def polling(self, telegram: FakeTelegramServer, since: int, bot: BotProcess,
                      trap: Trap | None = None, timeout: float = 30) -> None:
        """Until the bot (started after `since` Bot API calls) polls Telegram, or the trap
        killed it first (a rule acts before the bot polls)."""
        deadline = time.monotonic() + timeout
        while not any(method == "getUpdates" for method, _ in telegram.calls[since:]):
            if trap is not None and trap.fired.is_set():
                return
            if bot.process is not None and bot.process.returncode is not None:
                raise AssertionError(f"{self.name}: the bot exited "
                                     f"{bot.process.returncode}:\n{bot.stderr()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: the bot never polled:\n"
                                     f"{bot.stderr()[-3000:]}")
            await asyncio.sleep(0.05)

    async def _acted_and_settled(self) -> None:
        await self.act(self)
        await self.recovered(bounded=False)

    async def recovered(self, *, bounded: bool = True) -> None:
        """Until the journal ends every action and the venue has nothing resting, or the
        bounded time is over (the checks then say what was left)."""
        deadline = time.monotonic() + self.recover_seconds
        database = self.folder / "bot.db"
        while not bounded or time.monotonic() < deadline:
            resting = any(self.exchange.open_orders(a) for a in self.exchange.accounts)
            if not resting and Journal.read(database).settled:
                return
            await asyncio.sleep(0.1)

    def _ending(self, began: float, killed: bool, bot: BotProcess) -> Ending:
        assert self.server is not None
        return Ending(self.name, killed, self.at_kill, Journal.read(self.folder / "bot.db"),
                      self.exchange, list(self.server.placements),
                      list(self.server.margin_writes), self.server.writes,
                      self.server.real_orders(),
                      time.monotonic() - began,
                      "\n".join(bot.stderr(k)[-4000:] for k in range(1, bot.starts + 1)))

    # -- what an act does through the chat ----------------------------------------------

    async def command_confirmed(self, text: str, timeout: float = 20) -> None:
        """Say `text`, then press [Confirm] on the question it gets."""
        chat = self.chat
        mark = len(chat.transcript)
        await chat.say(text)
        deadline = time.monotonic() + timeout
        while True:
            asked = [e for e in chat.transcript[mark:]
                     if e.kind in ("sent", "edited") and e.buttons and "Confirm" in e.buttons[0]]
            if asked:
                await chat.press(asked[-1].buttons[0], message_id=asked[-1].message_id)
                return
            if time.monotonic() > deadline:
                said = [e.text for e in chat.transcript[mark:] if e.kind in ("sent", "edited")]
                raise AssertionError(f"{self.name}: {text!r} was not asked to confirm: {said}")
            await asyncio.sleep(0.02)


async def nothing(point: KillPoint) -> None:
    """A rule's action: it starts by itself."""
