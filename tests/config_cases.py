"""What the config tests share: the secrets they substitute, a two-account base file to
break in one place at a time, and a working directory without a developer's .env."""

from pathlib import Path

import pytest

SECRETS = {
    "TELEGRAM_BOT_TOKEN": "123456789:AAH-secret-token-value",
    "OKX_API_KEY": "okx-key-c0ffee-SECRET",
    "OKX_API_SECRET": "okx-secret-deadbeef-SECRET",
    "OKX_PASSPHRASE": "okx-pass-Tr0ub4dor-SECRET",
}

# Two accounts, so that errors can point at accounts[1].
BASE = """\
language: zh
telegram:
  token: "${TELEGRAM_BOT_TOKEN}"
  allowed_user_ids: [123456]
database: {url: "sqlite:///data/bot.db"}
accounts:
  - name: main
    venue: okx
    role: main
    api_key: "${OKX_API_KEY}"
    api_secret: "${OKX_API_SECRET}"
    passphrase: "${OKX_PASSPHRASE}"
    rules: {take_profit: true, hedge: true, correction: false, watcher: ask}
  - name: sub1
    venue: paper
    role: sub
rules:
  take_profit: {interval_seconds: 10, min_margin: 1}
  correction: {interval_seconds: 300}
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No test may pick up a developer's ./.env.
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
