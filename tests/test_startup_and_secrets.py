"""Issue 11, cases 6, 10 and 12, against the real `bot.py` process: every start-up failure
ends in one line and a non-zero exit, never a traceback and never a secret; configured
secrets are masked in every log record and traceback; a job failing every run logs its
traceback once per problem; the data files are the owner's alone; one bot per database
(through symlinks too) and one poller per bot token."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.ops.context import PauseSwitch
from bot.venues.base import AuthenticationFailed
from db.session import Database
from jobs.scheduler import Jobs
from tests.fakes.telegram_server import FakeTelegramServer

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:TEST-TOKEN"  # the fake Bot API server's
CONFLICT = ("Conflict: terminated by other getUpdates request; make sure that only one bot "
            "instance is running")


def _env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("BOT_CONFIG", "TELEGRAM_BOT_TOKEN", "XDG_RUNTIME_DIR")}
    # The per-user runtime folder, where the token locks live, of this test alone.
    return {**clean, "XDG_RUNTIME_DIR": str(tmp_path / "run"), **(extra or {})}


def run_bot(cwd: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), *args], input=stdin,
                          capture_output=True, text=True, timeout=60, cwd=cwd,
                          env=env if env is not None else _env(cwd),
                          preexec_fn=lambda: os.umask(0o022))  # the usual umask


async def start_bot(cwd: Path, *args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bot.py"), *args, cwd=cwd, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


async def finished(process: asyncio.subprocess.Process, timeout: float = 20) -> tuple[int, str]:
    """(exit code, stderr); a bot still running after `timeout` seconds fails the test."""
    try:
        _, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        _, err = await process.communicate()
        pytest.fail(f"the bot did not stop by itself; stderr:\n{err.decode()[-3000:]}")
    assert process.returncode is not None
    return process.returncode, err.decode()


def one_line_refusal(stderr: str) -> str:
    """The start-up failure: the last line, the only `cannot start` line, no traceback.
    (Log lines before it, e.g. the migrations of a new database, are ordinary events.)"""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    refusals = [line for line in lines if line.startswith("cannot start: ")]
    assert refusals == lines[-1:], stderr
    return refusals[0]


def telegram_config(path: Path, base_url: str, token: str = TOKEN) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = path / "config.yaml"
    config.write_text(f"telegram:\n  token: '{token}'\n  base_url: {base_url}\n"
                      "  allowed_user_ids: [1001]\n")
    return config


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ----- case 6: one line for every start-up failure, secrets never shown ------------------

async def test_a_token_telegram_rejects_is_one_line_and_never_printed(tmp_path):
    rejected = "123456:CANARY-rejected-token-material"
    async with FakeTelegramServer() as server:  # answers 401 to any other token
        config = telegram_config(tmp_path, server.base_url, token=rejected)
        process = await start_bot(tmp_path, "--config", str(config), env=_env(tmp_path))
        code, stderr = await finished(process)
    assert code == 1
    assert one_line_refusal(stderr) == (f"cannot start: the Bot API at {server.base_url} "
                                        "rejected telegram.token (check it with @BotFather)")
    assert "CANARY-rejected" not in stderr


def test_an_unreachable_bot_api_is_one_line(tmp_path):
    base_url = f"http://127.0.0.1:{closed_port()}/bot"
    done = run_bot(tmp_path, "--config", str(telegram_config(tmp_path, base_url)))
    assert done.returncode == 1
    assert one_line_refusal(done.stderr).startswith(
        f"cannot start: cannot reach the Bot API at {base_url}: ")


def test_a_missing_database_driver_is_one_line(tmp_path):
    pytest.importorskip("sqlalchemy")
    # (PostgreSQL's driver is a dependency; MySQL's is not)
    assert subprocess.run([sys.executable, "-c", "import pymysql"],
                          capture_output=True).returncode != 0, "pymysql is installed here"
    config = tmp_path / "config.yaml"
    config.write_text("database: {url: 'mysql+pymysql://bot:CANARYdbpw@127.0.0.1/bot'}\n")
    done = run_bot(tmp_path, "--config", str(config))
    assert done.returncode == 1
    assert one_line_refusal(done.stderr) == (
        "cannot start: database mysql+pymysql://bot:***@127.0.0.1/bot: the driver for "
        "mysql+pymysql is not installed (No module named 'pymysql')")
    assert "CANARYdbpw" not in done.stderr


def test_a_data_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "data").write_text("not a folder")
    done = run_bot(tmp_path, stdin="/positions\n")
    assert done.returncode == 1
    refusal = one_line_refusal(done.stderr)
    assert refusal == f"cannot start: cannot write {tmp_path / 'data'}: File exists"


SCRUB_PROBE = """
import logging, os
from urllib.parse import quote
from bot.app import configure_logging
from bot.config import parse_config
from bot.secrecy import config_secrets

env = os.environ
config = parse_config({
    "telegram": {"token": env["T"], "allowed_user_ids": [1]},
    "database": {"url": "postgresql://bot:" + env["DBPW"] + "@db.example/bot"},
    "accounts": [{"name": "main", "venue": "okx", "api_key": env["K"],
                  "api_secret": env["S"], "passphrase": env["P"]}]})
configure_logging(console=False, secrets=config_secrets(config))
log = logging.getLogger("probe")
log.info("token=%s url=https://x/bot%s/getMe", env["T"], env["T"])
log.warning("signed with " + env["S"] + " quoted " + quote(env["S"], safe=""))
try:
    raise RuntimeError("okx 50111 Invalid OK-ACCESS-KEY " + env["K"] + " " + env["P"])
except RuntimeError:
    log.exception("job_failed name=take_profit:main")
raise SystemError("uncaught, with the password " + env["DBPW"])
"""


def test_configured_secrets_are_masked_in_every_log_record_and_traceback(tmp_path):
    canaries = {"T": "987654:CANARYtelegramTOKEN", "K": "CANARY-api-key",
                "S": "CANARY/api+secret", "P": "CANARY-passphrase", "DBPW": "CANARY-db-pw"}
    done = subprocess.run([sys.executable, "-c", SCRUB_PROBE], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=_env(tmp_path, canaries))
    assert done.returncode == 1, done.stderr  # the uncaught error, logged
    assert "CANARY" not in done.stderr + done.stdout, done.stderr
    assert "token=*** url=https://x/bot***/getMe" in done.stderr
    assert "signed with *** quoted ***" in done.stderr
    assert "RuntimeError: okx 50111 Invalid OK-ACCESS-KEY *** ***" in done.stderr
    assert "SystemError: uncaught, with the password ***" in done.stderr
    assert done.stderr.count("Traceback (most recent call last)") == 2  # kept, masked


# ----- case 12: a failing job's traceback once per problem; data files the owner's -------

async def test_a_job_failing_every_run_logs_its_traceback_once_per_problem(caplog):
    jobs = Jobs(None, PauseSwitch(False, lambda *_: None))  # type: ignore[arg-type]
    failures = iter([
        AuthenticationFailed("Invalid OK-ACCESS-KEY (ts 1)", code="50111", venue="okx"),
        AuthenticationFailed("Invalid OK-ACCESS-KEY (ts 2)", code="50111", venue="okx"),
        AuthenticationFailed("Invalid OK-ACCESS-KEY (ts 3)", code="50111", venue="okx"),
        KeyError("positions"),
        AuthenticationFailed("Invalid OK-ACCESS-KEY (ts 5)", code="50111", venue="okx"),
    ])

    async def bad_key() -> None:
        raise next(failures)

    jobs.add("take_profit:main", 10, bad_key)
    caplog.set_level(logging.INFO, logger="jobs.scheduler")
    for _ in range(5):
        await jobs.run_now("take_profit:main")
    # the traceback once per problem; every run's one line is the job_failed event's own
    records = [r for r in caplog.records if r.name == "jobs.scheduler"]
    assert [type(r.exc_info[1]).__name__ for r in records] == ["AuthenticationFailed",
                                                               "KeyError"]
    assert [r.levelname for r in records] == ["ERROR", "ERROR"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_files_are_readable_by_the_owner_only(tmp_path):
    data = tmp_path / "data"
    files = [data / "bot.db", data / "paper.json", data / "bot.db.lock"]
    done = run_bot(tmp_path, stdin="/positions\n")
    assert done.returncode == 0, done.stderr
    assert _mode(data) == 0o700
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    # ... also when they were there with wider modes
    data.chmod(0o755)
    for file in files:
        file.chmod(0o644)
    done = run_bot(tmp_path, stdin="/lang en\n")
    assert done.returncode == 0, done.stderr
    assert _mode(data) == 0o700
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_sqlite_side_files_are_readable_by_the_owner_only(tmp_path):
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    (folder / "bot.db-wal").touch(mode=0o644)  # left by a crash, before this change
    db = Database(f"sqlite:///{folder / 'bot.db'}")
    try:
        db.migrate()
        assert _mode(folder) == 0o700
        for name in ("bot.db", "bot.db-wal", "bot.db-shm"):
            assert _mode(folder / name) == 0o600, name
    finally:
        db.dispose()


# ----- case 10: one bot per database (whatever the path) and one poller per token --------

@pytest.mark.parametrize("path", ["absolute", "relative"])
def test_one_bot_per_database_through_a_symlink(tmp_path, path):
    first = subprocess.Popen([sys.executable, str(ROOT / "bot.py")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=tmp_path, env=_env(tmp_path))
    try:
        assert first.stdin is not None and first.stdout is not None
        first.stdin.write("/start\n")
        first.stdin.flush()
        first.stdout.readline()  # the greeting: the first bot is up and holds the lock
        other = tmp_path / "other"
        other.mkdir()
        (other / "alias.db").symlink_to(tmp_path / "data" / "bot.db")
        url = (f"sqlite:///{other / 'alias.db'}" if path == "absolute"
               else "sqlite:///./other/../other/alias.db")
        config = other / "config.yaml"
        config.write_text(f"database: {{url: '{url}'}}\n"
                          f"paper: {{state_path: '{other / 'paper.json'}'}}\n")
        second = run_bot(tmp_path, "--config", str(config), stdin="/positions\n")
        assert second.returncode == 1
        assert one_line_refusal(second.stderr).startswith(
            f"cannot start: another bot is already running on {url.removeprefix('sqlite:///')}"
            f" (lock {tmp_path.resolve() / 'data' / 'bot.db.lock'})")
        assert "持仓" not in second.stdout
    finally:
        if first.stdin is not None:
            first.stdin.close()
        assert first.wait(timeout=30) == 0


async def _polling(server: FakeTelegramServer, timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not any(method == "getUpdates" for method, _ in server.calls):
        assert loop.time() < deadline, "the first bot never polled"
        await asyncio.sleep(0.1)


async def test_a_second_bot_on_the_same_token_is_refused(tmp_path):
    env = _env(tmp_path)
    async with FakeTelegramServer() as server:
        one, two = tmp_path / "one", tmp_path / "two"  # two databases, one token
        first = await start_bot(one, "--config", str(telegram_config(one, server.base_url)),
                                env=env)
        try:
            await _polling(server)
            second = await start_bot(two, "--config", str(telegram_config(two, server.base_url)),
                                     env=env)
            code, stderr = await finished(second)
            assert code == 1
            assert one_line_refusal(stderr).startswith(
                "cannot start: another bot is already polling Telegram as bot 123456 on this "
                f"machine (lock {tmp_path / 'run' / 'anchor-bot'}/telegram-123456-")
            assert not (two / "data" / "bot.db").exists()  # refused before anything else
        finally:
            first.send_signal(signal.SIGTERM)
            code, stderr = await finished(first)
        assert code == 0, stderr


async def test_telegram_conflict_at_start_is_a_one_line_refusal(tmp_path):
    async with FakeTelegramServer() as server:
        # What Telegram answers the newer of two pollers when the older one polls again.
        server.chat.fail_next("getUpdates", status=409, description=CONFLICT)
        config = telegram_config(tmp_path, server.base_url)
        code, stderr = await finished(
            await start_bot(tmp_path, "--config", str(config), env=_env(tmp_path)))
    assert code == 1
    assert one_line_refusal(stderr) == (
        f"cannot start: another bot is polling the Bot API at {server.base_url} with this "
        f"token ({CONFLICT})")
