"""bot/config.py: the example file, the demo config, defaults and switches."""

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
)
from tests.config_cases import SECRETS, _isolated_cwd, write  # noqa: F401 (fixture)

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


def test_readme_grid_example_loads_as_written(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("## Grid hedge", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    path = tmp_path / "config.yaml"
    path.write_text(example)
    config = load_config(path, {"BITGET_KEY": "k", "BITGET_SECRET": "s",
                                "BITGET_PASSPHRASE": "p"})
    [grid] = config.grids
    assert (grid.account, grid.symbol, grid.size, len(grid.buy_levels),
            len(grid.sell_levels)) == ("bg", "BTC", Decimal("0.0008"), 3, 2)
    assert config.account("bg").rule_mode("grid") is RuleMode.ON
