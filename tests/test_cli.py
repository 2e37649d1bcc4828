"""`python bot.py` as a user runs it: the console demo through a pipe, and bad configs that
end with one line naming the key and the problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from db.session import SCHEMA_HEAD

ROOT = Path(__file__).resolve().parents[1]


def run_bot(tmp_path, *args, stdin="", env=None):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("BOT_CONFIG", "TELEGRAM_BOT_TOKEN")}
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), *args], input=stdin,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**clean, **(env or {})})


def test_console_demo_through_a_pipe(tmp_path):
    done = run_bot(tmp_path, stdin="/positions\n")
    assert done.returncode == 0, done.stderr
    # a newcomer is told what this is, how to list the commands and to switch language
    greeting = done.stdout.split("👋 ", 1)[1].split("\n\n", 1)[0]
    assert greeting.startswith("这是模拟盘演示：两个模拟账户 main 和 sub1 持有仓位")
    assert "/help 列出全部命令" in greeting and greeting.endswith("Type /lang en for English.")
    assert "持仓 — main（paper）" in done.stdout
    # (the rule loops start at once and may already have taken profit on the demo)
    assert "APT-USDT-SWAP 多 " in done.stdout and " · 保证金 " in done.stdout
    assert "Traceback" not in done.stderr
    # the state is where a newcomer would look for it, and a second run reuses it
    assert (tmp_path / "data" / "bot.db").exists() and (tmp_path / "data" / "paper.json").exists()
    again = run_bot(tmp_path, stdin="/lang en\n/positions sub1\n")
    assert again.returncode == 0, again.stderr
    assert "📈 Positions — sub1 (paper)\nAPT-USDT-SWAP long " in again.stdout


BAD_CONFIGS = [
    ("language: zh\ntelegram: {allowed_user_ids: abc}\n",
     "config error: telegram.allowed_user_ids:"),
    ("accounts:\n  - {name: a, venue: binance}\n", "config error: accounts[0].venue:"),
    ("accounts:\n  - {name: a, venue: okx, api_key: k, passphrase: p}\n",
     "config error: accounts[0].api_secret:"),
    ("rules:\n  take_profit: {interval_seconds: fast}\n",
     "config error: rules.take_profit.interval_seconds:"),
    ("accounts: [\n", "config error: bad YAML"),
]


@pytest.mark.parametrize(("text", "start"), BAD_CONFIGS)
def test_bad_config_exits_with_one_line(tmp_path, text, start):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    done = run_bot(tmp_path, "--config", str(path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), done.stderr
    assert "Traceback" not in done.stderr


def test_unreadable_config_file(tmp_path):
    done = run_bot(tmp_path, env={"BOT_CONFIG": str(tmp_path / "missing.yaml")})
    assert done.returncode == 2
    assert done.stderr.strip() == (f"config error: cannot read {tmp_path / 'missing.yaml'}: "
                                   "No such file or directory")


def test_a_venue_that_cannot_be_opened_stops_the_start_with_one_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("accounts:\n  - {name: main, venue: lighter, api_key: '${K}', "
                    "account_index: 1, api_key_index: 3}\n")
    done = run_bot(tmp_path, "--config", str(path), env={"K": "secret-key-material"})
    assert done.returncode == 1
    assert done.stderr.strip() == ("cannot start: accounts[0] (main): api_key is not a Lighter "
                                   "API private key (80 hex digits, as Lighter's create_api_key "
                                   "gives it)")
    assert "secret-key-material" not in done.stderr + done.stdout


def test_a_second_bot_on_the_same_database_refuses_to_start(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in ("BOT_CONFIG", "TELEGRAM_BOT_TOKEN")}
    first = subprocess.Popen([sys.executable, str(ROOT / "bot.py")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=tmp_path, env=clean)
    try:
        first.stdin.write("/start\n")
        first.stdin.flush()
        first.stdout.readline()  # the greeting: the first bot is up and holds the lock
        second = run_bot(tmp_path, stdin="/positions\n")
        assert second.returncode == 1
        assert second.stderr.strip().startswith(
            "cannot start: another bot is already running on data/bot.db")
        assert "持仓" not in second.stdout
    finally:
        first.stdin.close()
        assert first.wait(timeout=30) == 0


def test_the_console_demo_on_postgresql_keeps_its_state_there(tmp_path, postgres):
    url = postgres.new_database(migrated=False)  # the bot runs the migrations itself
    path = tmp_path / "config.yaml"
    path.write_text(f"language: en\ndatabase: {{url: '{url}'}}\n")
    done = run_bot(tmp_path, "--config", str(path), stdin="/positions sub1\n")
    assert done.returncode == 0, done.stderr
    assert "📈 Positions — sub1 (paper)\nAPT-USDT-SWAP long " in done.stdout
    assert not (tmp_path / "data" / "bot.db").exists()
    with psycopg.connect(url.replace("+psycopg", "")) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == (
            SCHEMA_HEAD,)
        started = connection.execute(
            "SELECT count(*) FROM events WHERE name = 'bot_started'").fetchone()
    again = run_bot(tmp_path, "--config", str(path), stdin="/lang zh\n")
    assert again.returncode == 0, again.stderr
    with psycopg.connect(url.replace("+psycopg", "")) as connection:
        assert connection.execute(
            "SELECT count(*) FROM events WHERE name = 'bot_started'").fetchone() == (
            started[0] + 1,)
        assert connection.execute(
            "SELECT value FROM settings WHERE key = 'language'").fetchone() is not None
