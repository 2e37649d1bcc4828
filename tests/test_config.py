"""bot/config.py: the example file, the demo config, and one-line errors for bad files."""

import os
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import (
    CONSOLE_USER_ID,
    AlertMode,
    Config,
    ConfigError,
    RuleMode,
    WatcherMode,
    load_config,
    parse_config,
)

# The contract example: other tools write files of exactly this shape.
EXAMPLE = """\
language: zh                 # zh | en
telegram: {token: "${TELEGRAM_BOT_TOKEN}", base_url: null, allowed_user_ids: [123456], alert_chat_ids: []}
database: {url: "sqlite:///data/bot.db"}
accounts:
  - name: main
    venue: okx            # paper | okx | lighter | ccxt
    role: main            # main | sub
    api_key: "${OKX_API_KEY}"
    api_secret: "${OKX_API_SECRET}"
    passphrase: "${OKX_PASSPHRASE}"
    demo: false
    base_url: null        # e.g. http://127.0.0.1:9000
    rules: {take_profit: true, hedge: true, correction: false, watcher: ask}
rules:
  take_profit: {interval_seconds: 10, min_margin: 1}
  correction: {interval_seconds: 300}
"""  # noqa: E501 - kept verbatim

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


def test_example_loads_with_environment_variables(tmp_path: Path) -> None:
    config = load_config(str(write(tmp_path, EXAMPLE)), environ=SECRETS)

    assert config.language == "zh"
    assert config.telegram.token is not None
    assert config.telegram.token.get_secret_value() == SECRETS["TELEGRAM_BOT_TOKEN"]
    assert config.telegram.allowed_user_ids == [123456]
    assert config.telegram.alert_chat_ids == [123456]  # [] means the users' private chats
    assert config.telegram.drop_updates_older_than_seconds == 60
    assert config.database.url == "sqlite:///data/bot.db"
    assert not config.is_demo

    main = config.account("main")
    assert (main.venue, main.role, main.demo, main.base_url) == ("okx", "main", False, None)
    assert main.api_key is not None and main.api_key.get_secret_value() == SECRETS["OKX_API_KEY"]
    assert main.api_secret is not None
    assert main.api_secret.get_secret_value() == SECRETS["OKX_API_SECRET"]
    assert main.passphrase is not None
    assert main.passphrase.get_secret_value() == SECRETS["OKX_PASSPHRASE"]
    assert main.rule_mode("take_profit") is RuleMode.ON
    assert main.rule_mode("hedge") is RuleMode.ON
    assert main.rule_mode("correction") is RuleMode.OFF
    assert main.rule_mode("grid") is RuleMode.OFF
    assert main.rules.watcher is WatcherMode.ASK

    assert config.rules.take_profit.interval_seconds == 10
    assert config.rules.take_profit.min_margin == Decimal(1)
    assert config.rules.correction.interval_seconds == 300


def test_secrets_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    config = load_config(str(write(tmp_path, EXAMPLE)), environ=SECRETS)
    shown = repr(config) + str(config) + config.model_dump_json()
    for secret in SECRETS.values():
        assert secret not in shown


def test_example_loads_via_dotenv_beside_the_config(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    (tmp_path / ".env").write_text(
        "".join(f"{key}={value}\n" for key, value in SECRETS.items()), encoding="utf-8"
    )
    before = dict(os.environ)

    config = load_config(str(path), environ={})

    assert config.account("main").api_key.get_secret_value() == SECRETS["OKX_API_KEY"]  # type: ignore[union-attr]
    assert dict(os.environ) == before  # read, not exported


def test_dotenv_in_current_dir_and_environment_wins(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    (Path.cwd() / ".env").write_text(
        "".join(f"{key}={value}\n" for key, value in SECRETS.items()) + "OKX_API_KEY=from-dotenv\n",
        encoding="utf-8",
    )

    from_dotenv = load_config(str(path), environ={})
    from_environment = load_config(str(path), environ={"OKX_API_KEY": "from-environment"})

    assert from_dotenv.account("main").api_key.get_secret_value() == "from-dotenv"  # type: ignore[union-attr]
    key = from_environment.account("main").api_key
    assert key is not None and key.get_secret_value() == "from-environment"


def test_demo_config_when_no_file_is_given() -> None:
    config = load_config(None, environ={})

    assert config.language == "zh"
    assert config.telegram.token is None and config.is_demo
    assert config.telegram.allowed_user_ids == [CONSOLE_USER_ID]
    assert config.telegram.alert_chat_ids == [CONSOLE_USER_ID]
    assert config.database.url == "sqlite:///data/bot.db"
    assert [(a.name, a.venue, a.role) for a in config.accounts] == [
        ("main", "paper", "main"),
        ("sub1", "paper", "sub"),
    ]
    # SPEC §6: correction is on for sub-accounts by default, off for the main account.
    assert config.account("main").rule_mode("correction") is RuleMode.OFF
    assert config.account("sub1").rule_mode("correction") is RuleMode.ON
    assert config.paper.seed == 7 and config.paper.demo_portfolio
    assert config.paper.state_path == "data/paper.json"


def test_path_from_bot_config_and_explicit_path_wins(tmp_path: Path) -> None:
    english = write(tmp_path, "language: en\n", "en.yaml")
    chinese = write(tmp_path, "language: zh\n", "zh.yaml")

    assert load_config(None, environ={"BOT_CONFIG": str(english)}).language == "en"
    assert load_config(str(chinese), environ={"BOT_CONFIG": str(english)}).language == "zh"


def test_empty_file_gives_every_default(tmp_path: Path) -> None:
    config = load_config(str(write(tmp_path, "# nothing yet\n")), environ={})
    assert config == Config()
    assert [a.name for a in config.accounts] == ["main", "sub1"]


def test_spec_defaults() -> None:
    rules = Config().rules
    ladder = [(t.profit_pct, t.close_pct) for t in rules.take_profit.long]
    assert ladder == [(25, 30), (35, 50), (50, 50)]
    assert [(t.profit_pct, t.close_pct) for t in rules.take_profit.short] == [
        (35, 30),
        (45, 50),
        (55, 50),
    ]
    assert (rules.hedge.keep_margin, rules.hedge.min_margin) == (1, 1)
    maintenance = rules.maintenance
    assert (maintenance.multiplier, maintenance.keep_share_pct) == (10, 8)
    assert [(t.amount, t.target) for t in maintenance.super_ladder] == [
        (100, 10),
        (100, 10),
        (200, 20),
    ]
    assert maintenance.watcher.loss_pct == -30
    assert maintenance.watcher.cooldown_seconds == 6 * 3600
    correction = rules.correction
    assert (correction.interval_seconds, correction.leverage) == (300, 10)
    assert (correction.tolerance_pct, correction.margin_step) == (5, 5)
    targets = [correction.target_for(n) for n in range(5)]
    assert [(t.notional, t.margin) for t in targets] == [
        (100, 10),
        (100, 10),
        (200, 20),
        (200, 20),
        (200, 20),
    ]
    close = rules.close
    assert (close.slippage_pct, close.limit_offset_pct) == (Decimal("0.5"), Decimal("0.5"))
    assert (close.gtt_seconds, close.batches, close.batch_interval_seconds) == (3600, 5, 2)
    assert rules.grid.interval_seconds == 5
    assert Config().paper.random_walk_step == Decimal("0.002")


def test_numbers_become_exact_decimals(tmp_path: Path) -> None:
    text = "rules:\n  close: {slippage_pct: 0.1, limit_offset_pct: '0.3'}\n"
    close = load_config(str(write(tmp_path, text)), environ={}).rules.close
    assert close.slippage_pct == Decimal("0.1")
    assert close.limit_offset_pct == Decimal("0.3")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", RuleMode.ON),
        ("on", RuleMode.ON),
        ("yes", RuleMode.ON),
        ("false", RuleMode.OFF),
        ("off", RuleMode.OFF),
        ("no", RuleMode.OFF),
        ("observe", RuleMode.OBSERVE),
        ("Observe", RuleMode.OBSERVE),
        ('"on"', RuleMode.ON),
    ],
)
def test_rule_switches(tmp_path: Path, value: str, expected: RuleMode) -> None:
    rules = f"{{take_profit: {value}, grid: {value}}}"
    text = f"accounts:\n  - {{name: a, venue: paper, rules: {rules}}}\n"
    account = load_config(str(write(tmp_path, text)), environ={}).account("a")
    assert account.rule_mode("take_profit") is expected
    assert account.rule_mode("grid") is expected


def test_observe_mode_per_rule(tmp_path: Path) -> None:
    text = (
        "accounts:\n"
        "  - name: a\n    venue: paper\n"
        "    rules: {take_profit: observe, hedge: false, correction: observe, grid: true}\n"
    )
    account = load_config(str(write(tmp_path, text)), environ={}).account("A")
    assert [account.rule_mode(r) for r in ("take_profit", "hedge", "correction", "grid")] == [
        RuleMode.OBSERVE,
        RuleMode.OFF,
        RuleMode.OBSERVE,
        RuleMode.ON,
    ]
    with pytest.raises(ValueError, match="unknown rule 'watcher'"):
        account.rule_mode("watcher")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("off", WatcherMode.OFF),  # a YAML 1.1 boolean false
        ("no", WatcherMode.OFF),
        ("false", WatcherMode.OFF),
        ('"off"', WatcherMode.OFF),
        ("ask", WatcherMode.ASK),
        ("auto", WatcherMode.AUTO),
        ("AUTO", WatcherMode.AUTO),
    ],
)
def test_watcher_accepts_yaml_booleans_for_off(
    tmp_path: Path, value: str, expected: WatcherMode
) -> None:
    text = f"accounts:\n  - {{name: a, venue: paper, rules: {{watcher: {value}}}}}\n"
    assert (
        load_config(str(write(tmp_path, text)), environ={}).account("a").rules.watcher is expected
    )


@pytest.mark.parametrize("value", ["on", "yes", "true"])
def test_watcher_refuses_a_true_it_would_have_to_guess(tmp_path: Path, value: str) -> None:
    text = f"accounts:\n  - {{name: a, venue: paper, rules: {{watcher: {value}}}}}\n"
    with pytest.raises(ConfigError) as caught:
        load_config(str(write(tmp_path, text)), environ={})
    assert str(caught.value) == (
        "config error: accounts[0].rules.watcher: expected off, ask or auto, got true"
        " (YAML reads on/yes/true as true)"
    )


def test_alert_switches(tmp_path: Path) -> None:
    text = "telegram:\n  alerts: {take_profit: silent, grid: off, hedge: on}\n"
    alerts = load_config(str(write(tmp_path, text)), environ={}).telegram.alerts
    assert (alerts.take_profit, alerts.grid, alerts.hedge) == (
        AlertMode.SILENT,
        AlertMode.OFF,
        AlertMode.ON,
    )
    assert alerts.correction is AlertMode.ON


def test_other_venues(tmp_path: Path) -> None:
    text = """\
accounts:
  - {name: bitget, venue: ccxt, exchange: bitget, api_key: k1234, api_secret: s1234,
     passphrase: p1234, rules: {grid: true}}
  - {name: lighter, venue: lighter, api_key: "0xabc123", account_index: 7, api_key_index: 2,
     base_url: "http://127.0.0.1:9000"}
  - {name: s2, venue: okx, role: sub, api_key: a1234, api_secret: b1234, passphrase: c1234,
     demo: true}
grids:
  - {name: btc, account: bitget, symbol: BTC, size: 0.001, buy_levels: [90000, 89000],
     sell_levels: [91000, 92000]}
"""
    config = load_config(str(write(tmp_path, text)), environ={})
    assert config.account("bitget").exchange == "bitget"
    lighter = config.account("lighter")
    assert (lighter.account_index, lighter.api_key_index) == (7, 2)
    assert lighter.base_url == "http://127.0.0.1:9000"
    assert config.account("s2").rule_mode("correction") is RuleMode.ON
    assert config.grids[0].leg == "long" and config.grids[0].size == Decimal("0.001")


def test_take_profit_ladder_override_per_account(tmp_path: Path) -> None:
    text = """\
accounts:
  - name: main
    venue: paper
    take_profit:
      long: [{profit_pct: 10, close_pct: 20}]
  - {name: sub1, venue: paper, role: sub}
"""
    config = load_config(str(write(tmp_path, text)), environ={})
    assert [(t.profit_pct, t.close_pct) for t in config.take_profit_ladder("main", "long")] == [
        (10, 20)
    ]
    assert config.take_profit_ladder("main", "short") == config.rules.take_profit.short
    assert config.take_profit_ladder("sub1", "long") == config.rules.take_profit.long


def test_variable_defaults_and_escapes(tmp_path: Path) -> None:
    text = """\
telegram:
  token: "${TELEGRAM_BOT_TOKEN:-}"
  allowed_user_ids: ["${ADMIN_ID:-42}"]
accounts:
  - {name: a, venue: paper, api_key: "$${NOT_A_VARIABLE}"}
"""
    config = load_config(str(write(tmp_path, text)), environ={})
    assert config.telegram.token is None and config.is_demo  # empty default: no token
    assert config.telegram.allowed_user_ids == [42]
    assert config.account("a").api_key.get_secret_value() == "${NOT_A_VARIABLE}"  # type: ignore[union-attr]


def test_account_lookup() -> None:
    config = Config()
    assert config.account("SUB1").name == "sub1"
    with pytest.raises(KeyError, match="no account named 'nope'"):
        config.account("nope")


def test_database_url_password_is_masked(tmp_path: Path) -> None:
    text = 'database: {url: "postgresql://bot:${DB_PASSWORD}@db/bot"}\n'
    config = load_config(str(write(tmp_path, text)), environ={"DB_PASSWORD": "hunter2-SECRET"})
    assert config.database.url == "postgresql://bot:hunter2-SECRET@db/bot"
    assert config.database.display_url == "postgresql://bot:***@db/bot"
    assert "hunter2" not in repr(config)


def test_unreadable_file() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("/x/y.yaml", environ={})
    assert str(caught.value) == "config error: cannot read /x/y.yaml: No such file or directory"


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
        "bad YAML at line 17 column 6: expected ',' or ']', but got ':'",
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


def test_x_keys_hold_anchors_for_reuse(tmp_path: Path) -> None:
    text = """\
x-okx: &okx {venue: okx, api_key: "${OKX_API_KEY}", api_secret: "${OKX_API_SECRET}",
             passphrase: "${OKX_PASSPHRASE}"}
accounts:
  - {<<: *okx, name: main}
  - {<<: *okx, name: sub1, role: sub}
"""
    config = load_config(str(write(tmp_path, text)), environ=SECRETS)
    assert [(a.name, a.venue, a.role) for a in config.accounts] == [
        ("main", "okx", "main"),
        ("sub1", "okx", "sub"),
    ]


def test_a_boolean_key_is_reported_as_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(str(write(tmp_path, "telegram:\n  on: 1\n")), environ={})
    assert str(caught.value) == "config error: telegram.True: unknown key"
