"""bot/config.py: every bad file stops the bot with one line naming the key, and no secret."""

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, parse_config
from tests.config_cases import BASE, SECRETS, _isolated_cwd, write  # noqa: F401 (fixture)


def test_parse_config_rejects_a_top_level_list() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(["language", "zh"])
    assert str(caught.value) == (
        "config error: expected a mapping of keys at the top of the file, got a list"
    )


# (case id, replacements applied to BASE, exact message). Replacements keep each case
# readable as "the base file, except ...".
BAD_CONFIGS: list[tuple[str, list[tuple[str, str]], str]] = [
    (
        "unknown venue",
        [("venue: paper", "venue: binance")],
        "accounts[1].venue: unknown venue 'binance' (expected one of: paper, okx, lighter, ccxt)",
    ),
    (
        "user ids not a list",
        [("allowed_user_ids: [123456]", "allowed_user_ids: abc")],
        "telegram.allowed_user_ids: expected a list of integers, got 'abc'",
    ),
    (
        "user id not an integer",
        [("allowed_user_ids: [123456]", "allowed_user_ids: [123456, abc]")],
        "telegram.allowed_user_ids: expected a list of integers, got 'abc'",
    ),
    (
        "okx without secret",
        [('    api_secret: "${OKX_API_SECRET}"\n', "")],
        "accounts[0].api_secret: required for venue okx",
    ),
    (
        "okx with empty passphrase",
        [('"${OKX_PASSPHRASE}"', '"${OKX_PASSPHRASE_TYPO:-}"')],
        "accounts[0].passphrase: required for venue okx",
    ),
    (
        "interval below one second",
        [("interval_seconds: 10", "interval_seconds: 0")],
        "rules.take_profit.interval_seconds: must be at least 1",
    ),
    (
        "unset variable",
        [("${OKX_API_KEY}", "${OKX_API_KEY_MISSING}")],
        "${OKX_API_KEY_MISSING} is not set (accounts[0].api_key)",
    ),
    (
        "malformed variable",
        [("${OKX_API_KEY}", "${OKX API KEY}")],
        "accounts[0].api_key: bad ${...} reference (expected ${NAME} or ${NAME:-default})",
    ),
    (
        "misspelt key",
        [("    api_key:", "    apikey:")],
        "accounts[0].apikey: unknown key",
    ),
    (
        "misspelt section",
        [("rules:\n  take_profit:", "rulez:\n  take_profit:")],
        "rulez: unknown key",
    ),
    (
        "duplicate account name",
        [("name: sub1", "name: Main")],
        "accounts[1].name: duplicate account name 'Main' (also accounts[0])",
    ),
    (
        "reserved account name",
        [("name: sub1", "name: all")],
        "accounts[1].name: 'all' is reserved (it is a /close argument)",
    ),
    (
        "bad YAML",
        [("    role: sub\n", "    role: [sub\n")],
        "bad YAML at line 17 column 6: did not find expected ',' or ']'",  # libyaml's words
    ),
    (
        "duplicate YAML key",
        [("language: zh\n", "language: zh\nlanguage: en\n")],
        "bad YAML at line 2 column 1: duplicate key 'language'",
    ),
    (
        "unknown language",
        [("language: zh", "language: fr")],
        "language: unknown language 'fr' (expected one of: zh, en)",
    ),
    (
        "unknown role",
        [("role: sub", "role: boss")],
        "accounts[1].role: unknown role 'boss' (expected one of: main, sub)",
    ),
    (
        "watcher on",
        [("watcher: ask", "watcher: on")],
        "accounts[0].rules.watcher: expected off, ask or auto, got true"
        " (YAML reads on/yes/true as true)",
    ),
    (
        "rule switch typo",
        [("hedge: true", "hedge: maybe")],
        "accounts[0].rules.hedge: expected true, false or observe, got 'maybe'",
    ),
    (
        "NaN money",
        [("min_margin: 1", "min_margin: .nan")],
        "rules.take_profit.min_margin: expected a finite number, got nan",
    ),
    (
        "infinite money",
        [("min_margin: 1", "min_margin: '-inf'")],
        "rules.take_profit.min_margin: expected a finite number, got '-inf'",
    ),
    (
        "ladder out of order",
        [
            (
                "{interval_seconds: 10, min_margin: 1}",
                "{long: [{profit_pct: 25, close_pct: 30}, {profit_pct: 20, close_pct: 50}]}",
            )
        ],
        "rules.take_profit.long[1].profit_pct: must be above the previous tier's 25",
    ),
    (
        "close more than everything",
        [("{interval_seconds: 10, min_margin: 1}", "{short: [{profit_pct: 35, close_pct: 150}]}")],
        "rules.take_profit.short[0].close_pct: must be at most 100",
    ),
    (
        "empty ladder",
        [("{interval_seconds: 10, min_margin: 1}", "{long: []}")],
        "rules.take_profit.long: must not be empty",
    ),
    (
        "section of the wrong shape",
        [("correction: {interval_seconds: 300}", "correction: [300]")],
        "rules.correction: expected a mapping of keys, got a list",
    ),
    (
        "boolean leverage",
        [("correction: {interval_seconds: 300}", "correction: {leverage: yes}")],
        "rules.correction.leverage: expected an integer, got true",
    ),
    (
        "super maintenance target above amount",
        [
            (
                "correction: {interval_seconds: 300}",
                "maintenance: {super_ladder: [{amount: 10, target: 20}]}",
            )
        ],
        "rules.maintenance.super_ladder[0].target: must be below amount (10)",
    ),
    (
        "token without users",
        [("  allowed_user_ids: [123456]\n", "")],
        "telegram.allowed_user_ids: required when telegram.token is set",
    ),
    (
        "token of the wrong shape",
        [('token: "${TELEGRAM_BOT_TOKEN}"', 'token: "${OKX_API_SECRET}"')],
        "telegram.token: does not look like a bot token from @BotFather (digits:letters)",
    ),
    (
        "numeric secret",
        [('api_key: "${OKX_API_KEY}"', "api_key: 12345678")],
        "accounts[0].api_key: expected a quoted string, got a number"
        " (YAML alters unquoted numbers)",
    ),
    (
        "secret of the wrong type",
        [('passphrase: "${OKX_PASSPHRASE}"', "passphrase: [okx-pass-Tr0ub4dor-SECRET]")],
        "accounts[0].passphrase: expected a string, got a list",
    ),
    (
        "base URL without scheme",
        [("role: sub", "role: sub\n    base_url: 127.0.0.1:9000")],
        "accounts[1].base_url: expected an http:// or https:// URL, got '127.0.0.1:9000'",
    ),
    (
        "ccxt without exchange",
        [("venue: okx", "venue: ccxt"), ('    passphrase: "${OKX_PASSPHRASE}"\n', "")],
        "accounts[0].exchange: required for venue ccxt",
    ),
    (
        "bitget without passphrase",
        [
            ("venue: okx", "venue: ccxt\n    exchange: bitget"),
            ('    passphrase: "${OKX_PASSPHRASE}"\n', ""),
        ],
        "accounts[0].passphrase: required for ccxt exchange bitget",
    ),
    (
        "exchange on okx",
        [("venue: okx", "venue: okx\n    exchange: bitget")],
        "accounts[0].exchange: only used with venue ccxt",
    ),
    (
        "lighter without account index",
        [("venue: okx", "venue: lighter\n    api_key_index: 3")],
        "accounts[0].account_index: required for venue lighter",
    ),
    (
        "database URL without scheme",
        [('url: "sqlite:///data/bot.db"', 'url: "data/bot.db"')],
        "database.url: expected an SQLAlchemy URL such as sqlite:///data/bot.db",
    ),
    (
        "grid on an unknown account",
        [
            (
                "rules:\n  take_profit:",
                "grids:\n  - {name: g, account: nope, symbol: BTC, size: 1,"
                " buy_levels: [1], sell_levels: [2]}\nrules:\n  take_profit:",
            )
        ],
        "grids[0].account: no account named 'nope'",
    ),
    (
        "several problems",
        [
            ("language: zh", "language: fr"),
            ("role: sub", "role: boss"),
            ("    api_key:", "    apikey:"),
        ],
        "language: unknown language 'fr' (expected one of: zh, en) (and 2 more)",
    ),
]


@pytest.mark.parametrize(
    ("replacements", "expected"),
    [pytest.param(r, e, id=case) for case, r, e in BAD_CONFIGS],
)
def test_bad_config_gives_one_line_naming_the_key(
    tmp_path: Path, replacements: list[tuple[str, str]], expected: str
) -> None:
    text = BASE
    for old, new in replacements:
        assert old in text, f"test case does not apply: {old!r}"
        text = text.replace(old, new, 1)

    with pytest.raises(ConfigError) as caught:
        load_config(str(write(tmp_path, text)), environ=SECRETS)

    message = str(caught.value)
    assert message == "config error: " + expected
    assert "\n" not in message
    for secret in [*SECRETS.values(), "12345678", "Tr0ub4dor"]:
        assert secret not in message
        assert secret not in repr(caught.value)


def test_empty_account_list(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(str(write(tmp_path, "accounts: []\n")), environ={})
    assert str(caught.value) == "config error: accounts: at least one account is required"


def test_a_boolean_key_is_reported_as_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(str(write(tmp_path, "telegram:\n  on: 1\n")), environ={})
    assert str(caught.value) == "config error: telegram.True: unknown key"
