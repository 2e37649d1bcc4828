"""Typed configuration: one YAML file, `${ENV}` secrets, validated at start.

Every default of the product lives here and in bot/config_rules.py, nowhere else
(README lists them all).
A bad file stops the bot with one line naming the key (see bot/config_errors.py).
"""

import ipaddress
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.config_errors import (
    ConfigError,
    blank_is_none,
    choice,
    field_problem,
    from_validation_error,
    http_url,
    id_list,
    parse_yaml,
    problem,
    read_dotenv,
    secret_text,
    secrets_in,
    shown,
    substitute,
    ws_url,
)
from bot.config_rules import (
    Money,
    NoBoolInt,
    RulesConfig,
    Seconds,
    TakeProfitOverride,
    TakeProfitTier,
    _Section,
)

# The user id the console chat (no token) speaks as.
CONSOLE_USER_ID = 1
DEFAULT_DATABASE_URL = "sqlite:///data/bot.db"
RULE_NAMES = ("take_profit", "hedge", "correction", "grid")
# Words of `/close SYMBOL SIZE [account] [long|short]` an account name would collide with.
_RESERVED_NAMES = frozenset({"long", "short", "all"})
# ccxt exchanges that refuse to sign without a passphrase (ccxt calls it `password`).
_PASSPHRASE_EXCHANGES = frozenset({"bitget", "okx", "kucoin", "kucoinfutures"})

Venue = Literal["paper", "okx", "lighter", "ccxt"]
Role = Literal["main", "sub"]
Side = Literal["long", "short"]
RuleName = Literal["take_profit", "hedge", "correction", "grid"]


class RuleMode(StrEnum):
    """SPEC §8: OBSERVE decides, records and notifies, but sends nothing to the venue."""

    ON = "on"
    OFF = "off"
    OBSERVE = "observe"


class WatcherMode(StrEnum):
    OFF = "off"
    ASK = "ask"
    AUTO = "auto"


class AlertMode(StrEnum):
    ON = "on"
    SILENT = "silent"
    OFF = "off"


def _switch(
    words: dict[str, str], true: str | None, false: str | None, expected: str
) -> BeforeValidator:
    # YAML 1.1 reads on/off/yes/no as booleans, so a boolean stands for the word it was.
    return BeforeValidator(partial(choice, words=words, true=true, false=false, expected=expected))


_ON_OFF = {"on": "on", "true": "on", "yes": "on", "off": "off", "false": "off", "no": "off"}
Mode = Annotated[
    RuleMode, _switch({**_ON_OFF, "observe": "observe"}, "on", "off", "true, false or observe")
]
# `watcher: on` could mean ask or auto: that boolean is refused rather than guessed.
Watcher = Annotated[
    WatcherMode, _switch({w: w for w in WatcherMode}, None, "off", "off, ask or auto")
]
Alert = Annotated[
    AlertMode, _switch({**_ON_OFF, "silent": "silent"}, "on", "off", "on, silent or off")
]
Ids = Annotated[list[int], BeforeValidator(id_list)]
Secret = Annotated[SecretStr | None, BeforeValidator(secret_text)]
Url = Annotated[str | None, BeforeValidator(blank_is_none), AfterValidator(http_url)]
WsUrl = Annotated[str | None, BeforeValidator(blank_is_none), AfterValidator(ws_url)]


class AccountRules(_Section):
    take_profit: Mode = RuleMode.ON
    hedge: Mode = RuleMode.ON
    # AccountConfig fills this from the role when the file leaves it out.
    correction: Mode = RuleMode.OFF
    grid: Mode = RuleMode.OFF
    watcher: Watcher = WatcherMode.ASK


class AccountConfig(_Section):
    name: str
    venue: Venue
    role: Role = "main"
    api_key: Secret = None
    api_secret: Secret = None
    passphrase: Secret = None
    demo: bool = False
    base_url: Url = None
    # Prices and positions over the venue's websockets, REST polling when they are down
    # (OKX, Lighter, ccxt where it can watch). `ws_url`: scheme and host only; none: the
    # venue's own, or base_url's host.
    streams: bool = True
    ws_url: WsUrl = None
    exchange: str | None = None
    account_index: Annotated[NoBoolInt | None, Field(ge=0)] = None
    api_key_index: Annotated[NoBoolInt | None, Field(ge=0, le=255)] = None
    rules: AccountRules = Field(default_factory=AccountRules)
    take_profit: TakeProfitOverride | None = None

    @model_validator(mode="before")
    @classmethod
    def _correction_by_role(cls, data: Any) -> Any:
        # SPEC §6: error correction runs on sub-accounts by default, not on main.
        if isinstance(data, dict) and isinstance(data.get("rules", {}), dict | None):
            rules = dict(data.get("rules") or {})
            rules.setdefault("correction", data.get("role") == "sub")
            data = {**data, "rules": rules}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", name):
            raise problem(
                f"expected letters, digits, '_', '-' or '.' (no spaces), got {shown(name)}"
            )
        if name.lower() in _RESERVED_NAMES:
            raise problem(f"{name!r} is reserved (it is a /close argument)")
        return name

    @field_validator("exchange")
    @classmethod
    def _exchange(cls, exchange: str | None) -> str | None:
        if exchange is not None and not re.fullmatch(r"[a-z][a-z0-9]*", exchange):
            raise problem(f"expected a ccxt exchange id such as 'bitget', got {shown(exchange)}")
        return exchange

    @model_validator(mode="after")
    def _venue_needs(self) -> "AccountConfig":
        required = {
            "okx": ("api_key", "api_secret", "passphrase"),
            "ccxt": ("api_key", "api_secret", "exchange"),
            "lighter": ("api_key", "account_index", "api_key_index"),
        }.get(self.venue, ())
        for key in required:
            if getattr(self, key) is None:
                raise field_problem(key, f"required for venue {self.venue}")
        if (
            self.venue == "ccxt"
            and self.passphrase is None
            and self.exchange in _PASSPHRASE_EXCHANGES
        ):
            raise field_problem("passphrase", f"required for ccxt exchange {self.exchange}")
        if self.exchange is not None and self.venue != "ccxt":
            raise field_problem("exchange", "only used with venue ccxt")
        for key in ("account_index", "api_key_index"):
            if getattr(self, key) is not None and self.venue != "lighter":
                raise field_problem(key, "only used with venue lighter")
        if self.ws_url is not None and self.venue not in ("okx", "lighter", "ccxt"):
            raise field_problem("ws_url", "only used with venues okx, lighter and ccxt")
        return self

    def rule_mode(self, rule_name: RuleName) -> RuleMode:
        if rule_name not in RULE_NAMES:
            raise ValueError(
                f"unknown rule {rule_name!r} (expected one of: {', '.join(RULE_NAMES)})"
            )
        mode: RuleMode = getattr(self.rules, rule_name)
        return mode


class AlertsConfig(_Section):
    """Push alerts by kind: on, silent (delivered without sound) or off."""

    take_profit: Alert = AlertMode.ON
    hedge: Alert = AlertMode.ON
    maintenance: Alert = AlertMode.ON
    watcher: Alert = AlertMode.ON
    correction: Alert = AlertMode.ON
    grid: Alert = AlertMode.ON
    close: Alert = AlertMode.ON
    system: Alert = AlertMode.ON


class TelegramConfig(_Section):
    token: Secret = None
    base_url: Url = None
    allowed_user_ids: Ids = Field(default_factory=list)
    alert_chat_ids: Ids = Field(default_factory=list)
    drop_updates_older_than_seconds: Annotated[NoBoolInt, Field(ge=0)] = 60
    confirm_timeout_seconds: Seconds = 120
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    @field_validator("token")
    @classmethod
    def _token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not re.fullmatch(r"\d+:[\w-]+", token.get_secret_value().strip()):
            raise problem("does not look like a bot token from @BotFather (digits:letters)")
        return token

    @model_validator(mode="after")
    def _default_chats(self) -> "TelegramConfig":
        if not self.allowed_user_ids:
            if self.token is not None:
                raise field_problem("allowed_user_ids", "required when telegram.token is set")
            self.allowed_user_ids = [CONSOLE_USER_ID]
        if not self.alert_chat_ids:  # a user's private chat id is the user id
            self.alert_chat_ids = list(self.allowed_user_ids)
        return self


class DatabaseConfig(_Section):
    # Hidden from repr: a server URL carries its password.
    url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url):
            raise problem("expected an SQLAlchemy URL such as sqlite:///data/bot.db")
        return url

    @property
    def display_url(self) -> str:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", self.url)


class ClusterConfig(_Section):
    """Several processes sharing the accounts through leases in PostgreSQL (bot/cluster.py,
    README "A cluster"): a process that stops renewing loses its accounts within
    `lease_seconds`, and another takes them over."""

    enabled: bool = False
    lease_seconds: Annotated[NoBoolInt, Field(ge=3, le=300)] = 10


class PaperBalances(_Section):
    main: Annotated[Decimal, Field(ge=0)] = Decimal(500)
    sub: Annotated[Decimal, Field(ge=0)] = Decimal(200)


class PaperConfig(_Section):
    seed: NoBoolInt = 7
    random_walk_step: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.002")
    tick_seconds: Seconds = 1
    state_path: str = "data/paper.json"
    demo_portfolio: bool = True
    # USDT a new paper account starts with, by role.
    start_balance: PaperBalances = Field(default_factory=PaperBalances)
    taker_fee_pct: Annotated[Decimal, Field(ge=0, lt=100)] = Decimal("0.05")
    maker_fee_pct: Annotated[Decimal, Field(ge=0, lt=100)] = Decimal("0.02")


# A token shorter than this could be guessed by a script hammering the page.
MIN_STATUS_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Only this machine can reach a server bound to `host` (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip()).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


class StatusPageConfig(_Section):
    enabled: bool = False
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Annotated[NoBoolInt, Field(ge=0, le=65535)] = 8080  # 0: any free port
    token: Secret = None

    @field_validator("token")
    @classmethod
    def _token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value().strip()) < MIN_STATUS_TOKEN_LENGTH:
            raise problem(f"too short: use at least {MIN_STATUS_TOKEN_LENGTH} random characters"
                          " (e.g. `openssl rand -hex 16`)")
        return token

    @model_validator(mode="after")
    def _token_off_this_machine(self) -> "StatusPageConfig":
        # Without a token the page has no login: only this machine may reach it.
        if self.enabled and self.token is None and not is_loopback(self.host):
            raise field_problem(
                "token", f"required when host is not local ({self.host!r} can be reached from"
                " other machines); set status_page.token or bind to 127.0.0.1")
        return self


class GridConfig(_Section):
    name: str
    account: str
    symbol: Annotated[str, Field(min_length=1)]
    leg: Side = "long"
    size: Money
    buy_levels: Annotated[list[Money], Field(min_length=1)]
    sell_levels: Annotated[list[Money], Field(min_length=1)]


def _demo_accounts() -> list[AccountConfig]:
    return [
        AccountConfig(name="main", venue="paper", role="main"),
        AccountConfig(name="sub1", venue="paper", role="sub"),
    ]


class Config(_Section):
    language: Literal["zh", "en"] = "zh"
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    accounts: list[AccountConfig] = Field(default_factory=_demo_accounts)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    paper: PaperConfig = Field(default_factory=PaperConfig)
    status_page: StatusPageConfig = Field(default_factory=StatusPageConfig)
    grids: list[GridConfig] = Field(default_factory=list)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

    @model_validator(mode="after")
    def _cross_checks(self) -> "Config":
        if not self.accounts:
            raise field_problem("accounts", "at least one account is required")
        if self.cluster.enabled:
            self._cluster_checks()
        seen: dict[str, int] = {}
        for i, account in enumerate(self.accounts):
            first = seen.setdefault(account.name.lower(), i)
            if first != i:
                raise field_problem(
                    f"accounts[{i}].name",
                    f"duplicate account name {account.name!r} (also accounts[{first}])",
                )
        grid_names: dict[str, int] = {}
        for i, grid in enumerate(self.grids):
            if grid.account.lower() not in seen:
                raise field_problem(f"grids[{i}].account", f"no account named {grid.account!r}")
            first = grid_names.setdefault(grid.name.lower(), i)
            if first != i:
                raise field_problem(
                    f"grids[{i}].name", f"duplicate grid name {grid.name!r} (also grids[{first}])"
                )
        return self

    def _cluster_checks(self) -> None:
        if not self.database.url.startswith("postgresql"):
            raise field_problem("cluster.enabled", "needs a PostgreSQL database.url (the "
                                "processes share it and its row locks)")
        if self.telegram.token is None:
            raise field_problem("cluster.enabled", "needs telegram.token (the console chat "
                                "is one terminal's)")
        for i, account in enumerate(self.accounts):
            if account.venue == "paper":
                raise field_problem(f"accounts[{i}].venue", "paper accounts live inside one "
                                    "process: a cluster shares real venues only")

    @property
    def is_demo(self) -> bool:
        """No bot token: the handlers run in the console chat instead of Telegram."""
        return self.telegram.token is None

    def account(self, name: str) -> AccountConfig:
        """The account by name, ignoring case as commands do; KeyError if none."""
        for account in self.accounts:
            if account.name.lower() == name.lower():
                return account
        raise KeyError(
            f"no account named {name!r} (configured: {', '.join(a.name for a in self.accounts)})"
        )

    def take_profit_ladder(self, account_name: str, side: Side) -> list[TakeProfitTier]:
        override = self.account(account_name).take_profit
        tiers = getattr(override, side) if override is not None else None
        return tiers if tiers is not None else getattr(self.rules.take_profit, side)


def demo_config() -> Config:
    """The config of `python bot.py` with no file: paper main + sub1, console chat."""
    return Config()


def parse_config(data: Any) -> Config:
    """Validate already-substituted data (the parsed YAML) into a Config."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping of keys at the top of the file, got {shown(data)}")
    # `x-` keys hold YAML anchors for reuse elsewhere in the file, as in docker compose.
    data = {key: value for key, value in data.items() if not str(key).startswith("x-")}
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc, secrets_in(data)) from None


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """The config from `path`, else from $BOT_CONFIG, else the demo config.

    `${NAME}` and `${NAME:-default}` are read from `environ` (default: os.environ), then
    from the .env beside the config file, then from ./.env; the environment always wins.
    The .env files are read, not exported: os.environ is left as it was.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    local_env = read_dotenv(Path.cwd() / ".env")
    chosen = path or env.get("BOT_CONFIG") or local_env.get("BOT_CONFIG")
    if not chosen:
        return demo_config()
    file = Path(chosen)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {os.fspath(file)}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {os.fspath(file)}: not UTF-8 text") from None
    lookup = {**local_env, **read_dotenv(file.parent / ".env"), **env}
    return parse_config(substitute(parse_yaml(text), lookup))
