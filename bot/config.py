"""Typed configuration: one YAML file, `${ENV}` secrets, validated at start.

Every default of the product lives here and nowhere else (docs/config.md lists them).
A bad file stops the bot with one line naming the key (see bot/config_errors.py).
"""

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.config_errors import (
    SECRET_KEYS,
    ConfigError,
    field_problem,
    from_validation_error,
    join_path,
    problem,
    shown,
)

__all__ = [
    "CONSOLE_USER_ID",
    "AccountConfig",
    "AccountRules",
    "AlertMode",
    "Config",
    "ConfigError",
    "RuleMode",
    "WatcherMode",
    "demo_config",
    "load_config",
    "parse_config",
]

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


def _rule_mode(value: Any) -> RuleMode:
    # YAML 1.1 turns on/off/yes/no into booleans, so both spellings must mean the same.
    if isinstance(value, bool):
        return RuleMode.ON if value else RuleMode.OFF
    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("on", "true", "yes"):
        return RuleMode.ON
    if text in ("off", "false", "no"):
        return RuleMode.OFF
    if text == "observe":
        return RuleMode.OBSERVE
    raise problem(f"expected true, false or observe, got {shown(value)}")


def _watcher_mode(value: Any) -> WatcherMode:
    if value is False:  # `watcher: off` reaches us as a YAML boolean
        return WatcherMode.OFF
    if isinstance(value, str) and value.strip().lower() in set(WatcherMode):
        return WatcherMode(value.strip().lower())
    if value is True:  # `on`/`yes` could mean ask or auto: make the user say which
        raise problem("expected off, ask or auto, got true (YAML reads on/yes/true as true)")
    raise problem(f"expected off, ask or auto, got {shown(value)}")


def _alert_mode(value: Any) -> AlertMode:
    if isinstance(value, bool):
        return AlertMode.ON if value else AlertMode.OFF
    if isinstance(value, str) and value.strip().lower() in set(AlertMode):
        return AlertMode(value.strip().lower())
    raise problem(f"expected on, silent or off, got {shown(value)}")


def _no_bool(value: Any) -> Any:
    # pydantic would read `yes` (True) as the integer 1.
    if isinstance(value, bool):
        raise problem(f"expected an integer, got {shown(value)}")
    return value


def _id_list(value: Any) -> list[int]:
    if value is None:
        return []
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, list):
        raise problem(f"expected a list of integers, got {shown(value)}")
    ids = []
    for item in items:
        text = item.strip() if isinstance(item, str) else None
        if isinstance(item, int) and not isinstance(item, bool):
            ids.append(item)
        elif text and re.fullmatch(r"-?\d+", text):  # from `${ADMIN_ID}`
            ids.append(int(text))
        else:
            raise problem(f"expected a list of integers, got {shown(item)}")
    return ids


Int = Annotated[int, BeforeValidator(_no_bool)]
Seconds = Annotated[int, BeforeValidator(_no_bool), Field(ge=1)]
Money = Annotated[Decimal, Field(gt=0)]
Pct = Annotated[Decimal, Field(gt=0, lt=100)]
Ids = Annotated[list[int], BeforeValidator(_id_list)]
Mode = Annotated[RuleMode, BeforeValidator(_rule_mode)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_default(cls, data: Any) -> Any:
        # `telegram:` with every child commented out parses as null.
        return {} if data is None else data


class TakeProfitTier(_Section):
    profit_pct: Money
    close_pct: Annotated[Decimal, Field(gt=0, le=100)]


def _ladder(tiers: list[TakeProfitTier]) -> list[TakeProfitTier]:
    for i in range(1, len(tiers)):
        if tiers[i].profit_pct <= tiers[i - 1].profit_pct:
            previous = tiers[i - 1].profit_pct
            raise field_problem(f"[{i}].profit_pct", f"must be above the previous tier's {previous}")
    return tiers


Ladder = Annotated[list[TakeProfitTier], Field(min_length=1), AfterValidator(_ladder)]


def _tiers(*pairs: tuple[int, int]) -> list[TakeProfitTier]:
    return [TakeProfitTier(profit_pct=Decimal(p), close_pct=Decimal(c)) for p, c in pairs]


class TakeProfitLadders(_Section):
    """Tier 1 closes close_pct of the size; each later tier close_pct of what is left."""

    long: Ladder = Field(default_factory=lambda: _tiers((25, 30), (35, 50), (50, 50)))
    short: Ladder = Field(default_factory=lambda: _tiers((35, 30), (45, 50), (55, 50)))


class TakeProfitOverride(_Section):
    long: Ladder | None = None
    short: Ladder | None = None


class TakeProfitSettings(TakeProfitLadders):
    interval_seconds: Seconds = 10
    min_margin: Annotated[Decimal, Field(ge=0)] = Decimal(1)


class HedgeSettings(_Section):
    keep_margin: Money = Decimal(1)
    min_margin: Annotated[Decimal, Field(ge=0)] = Decimal(1)


class SuperTier(_Section):
    amount: Money
    target: Money

    @model_validator(mode="after")
    def _target_below_amount(self) -> "SuperTier":
        if self.target >= self.amount:
            raise field_problem("target", f"must be below amount ({self.amount})")
        return self


class WatcherSettings(_Section):
    loss_pct: Annotated[Decimal, Field(lt=0)] = Decimal(-30)
    cooldown_seconds: Seconds = 6 * 3600
    interval_seconds: Seconds = 10


class MaintenanceSettings(_Section):
    multiplier: Annotated[Decimal, Field(gt=1)] = Decimal(10)
    keep_share_pct: Pct = Decimal(8)
    super_ladder: Annotated[list[SuperTier], Field(min_length=1)] = Field(
        default_factory=lambda: [
            SuperTier(amount=Decimal(a), target=Decimal(t)) for a, t in ((100, 10), (100, 10), (200, 20))
        ]
    )
    watcher: WatcherSettings = Field(default_factory=WatcherSettings)


class CorrectionTarget(_Section):
    notional: Money
    margin: Money


class CorrectionSettings(_Section):
    interval_seconds: Seconds = 300
    leverage: Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=125)] = 10
    tolerance_pct: Annotated[Decimal, Field(ge=0)] = Decimal(5)
    margin_step: Money = Decimal(5)
    # Indexed by maintenance count; counts past the end use the last entry.
    targets: Annotated[list[CorrectionTarget], Field(min_length=1)] = Field(
        default_factory=lambda: [
            CorrectionTarget(notional=Decimal(n), margin=Decimal(m)) for n, m in ((100, 10), (100, 10), (200, 20))
        ]
    )

    def target_for(self, maintenance_count: int) -> CorrectionTarget:
        return self.targets[min(max(maintenance_count, 0), len(self.targets) - 1)]


class CloseSettings(_Section):
    slippage_pct: Pct = Decimal("0.5")
    limit_offset_pct: Pct = Decimal("0.5")
    gtt_seconds: Seconds = 3600
    batches: Annotated[int, BeforeValidator(_no_bool), Field(ge=1)] = 5
    batch_interval_seconds: Annotated[Decimal, Field(ge=0)] = Decimal(2)
    book_levels: Annotated[int, BeforeValidator(_no_bool), Field(ge=1)] = 3
    follow_timeout_seconds: Seconds = 60
    follow_poll_seconds: Annotated[Decimal, Field(gt=0)] = Decimal(1)


class GridSettings(_Section):
    interval_seconds: Seconds = 5
    sell_protection_ratio: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.95")


class RulesConfig(_Section):
    take_profit: TakeProfitSettings = Field(default_factory=TakeProfitSettings)
    hedge: HedgeSettings = Field(default_factory=HedgeSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    correction: CorrectionSettings = Field(default_factory=CorrectionSettings)
    close: CloseSettings = Field(default_factory=CloseSettings)
    grid: GridSettings = Field(default_factory=GridSettings)


class AccountRules(_Section):
    take_profit: Mode = RuleMode.ON
    hedge: Mode = RuleMode.ON
    # AccountConfig fills this from the role when the file leaves it out.
    correction: Mode = RuleMode.OFF
    grid: Mode = RuleMode.OFF
    watcher: Annotated[WatcherMode, BeforeValidator(_watcher_mode)] = WatcherMode.ASK


def _check_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"https?://\S+$", value):
        raise problem(f"expected an http:// or https:// URL, got {shown(value)}")
    return value


def _blank_is_none(value: Any) -> Any:
    # `${VAR:-}` yields "": the key is then as good as absent.
    return None if isinstance(value, str) and not value.strip() else value


def _secret_text(value: Any) -> Any:
    value = _blank_is_none(value)
    # An unquoted numeric passphrase parses as a YAML number.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Secret = Annotated[SecretStr | None, BeforeValidator(_secret_text)]
Url = Annotated[str | None, BeforeValidator(_blank_is_none), AfterValidator(_check_url)]


class AccountConfig(_Section):
    name: str
    venue: Venue
    role: Role = "main"
    api_key: Secret = None
    api_secret: Secret = None
    passphrase: Secret = None
    demo: bool = False
    base_url: Url = None
    exchange: str | None = None
    account_index: Annotated[int | None, BeforeValidator(_no_bool), Field(ge=0)] = None
    api_key_index: Annotated[int | None, BeforeValidator(_no_bool), Field(ge=0, le=255)] = None
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
                f"expected a name of letters, digits, '_', '-' or '.' without spaces, got {shown(name)}"
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
        if self.venue == "ccxt" and self.passphrase is None and self.exchange in _PASSPHRASE_EXCHANGES:
            raise field_problem("passphrase", f"required for ccxt exchange {self.exchange}")
        if self.exchange is not None and self.venue != "ccxt":
            raise field_problem("exchange", "only used with venue ccxt")
        for key in ("account_index", "api_key_index"):
            if getattr(self, key) is not None and self.venue != "lighter":
                raise field_problem(key, "only used with venue lighter")
        return self

    def rule_mode(self, rule_name: RuleName) -> RuleMode:
        if rule_name not in RULE_NAMES:
            raise ValueError(f"unknown rule {rule_name!r} (expected one of: {', '.join(RULE_NAMES)})")
        mode: RuleMode = getattr(self.rules, rule_name)
        return mode


class AlertsConfig(_Section):
    """Push alerts by kind: on, silent (delivered without sound) or off."""

    take_profit: Annotated[AlertMode, BeforeValidator(_alert_mode)] = AlertMode.ON
    hedge: Annotated[AlertMode, BeforeValidator(_alert_mode)] = AlertMode.ON
    maintenance: Annotated[AlertMode, BeforeValidator(_alert_mode)] = AlertMode.ON
    watcher: Annotated[AlertMode, BeforeValidator(_alert_mode)] = AlertMode.ON
    correction: Annotated[AlertMode, BeforeValidator(_alert_mode)] = AlertMode.ON
    grid: Annotated[AlertMode, BeforeValidator(_alert_mode)] = AlertMode.ON
    close: Annotated[AlertMode, BeforeValidator(_alert_mode)] = AlertMode.ON
    system: Annotated[AlertMode, BeforeValidator(_alert_mode)] = AlertMode.ON


class TelegramConfig(_Section):
    token: Secret = None
    base_url: Url = None
    allowed_user_ids: Ids = Field(default_factory=list)
    alert_chat_ids: Ids = Field(default_factory=list)
    drop_updates_older_than_seconds: Annotated[int, BeforeValidator(_no_bool), Field(ge=0)] = 60
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


class PaperConfig(_Section):
    seed: Int = 7
    random_walk_step: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.002")
    tick_seconds: Seconds = 1
    state_path: str = "data/paper.json"
    demo_portfolio: bool = True
    start_balance: Annotated[Decimal, Field(ge=0)] = Decimal(1000)
    taker_fee_pct: Annotated[Decimal, Field(ge=0, lt=100)] = Decimal("0.05")
    maker_fee_pct: Annotated[Decimal, Field(ge=0, lt=100)] = Decimal("0.02")


class StatusPageConfig(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=65535)] = 8080


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

    @model_validator(mode="after")
    def _cross_checks(self) -> "Config":
        if not self.accounts:
            raise field_problem("accounts", "at least one account is required")
        seen: dict[str, int] = {}
        for i, account in enumerate(self.accounts):
            first = seen.setdefault(account.name.lower(), i)
            if first != i:
                raise field_problem(
                    f"accounts[{i}].name", f"duplicate account name {account.name!r} (also accounts[{first}])"
                )
        grid_names: dict[str, int] = {}
        for i, grid in enumerate(self.grids):
            if grid.account.lower() not in seen:
                raise field_problem(f"grids[{i}].account", f"no account named {grid.account!r}")
            first = grid_names.setdefault(grid.name.lower(), i)
            if first != i:
                raise field_problem(f"grids[{i}].name", f"duplicate grid name {grid.name!r} (also grids[{first}])")
        return self

    @property
    def is_demo(self) -> bool:
        """No bot token: the handlers run in the console chat instead of Telegram."""
        return self.telegram.token is None

    def account(self, name: str) -> AccountConfig:
        """The account by name, ignoring case as commands do; KeyError if none."""
        for account in self.accounts:
            if account.name.lower() == name.lower():
                return account
        raise KeyError(f"no account named {name!r} (configured: {', '.join(a.name for a in self.accounts)})")

    def take_profit_ladder(self, account_name: str, side: Side) -> list[TakeProfitTier]:
        override = self.account(account_name).take_profit
        tiers = getattr(override, side) if override is not None else None
        return tiers if tiers is not None else getattr(self.rules.take_profit, side)


def demo_config() -> Config:
    """The config of `python bot.py` with no file: paper main + sub1, console chat."""
    return Config()


# `$${` escapes a literal `${`; anything else opened with `${` must be a well-formed reference.
_VARIABLE = re.compile(r"\$\$\{|\$\{([^}]*)(\}?)")
_REFERENCE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


def _expand(text: str, env: Mapping[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        reference = _REFERENCE.fullmatch(match.group(1)) if match.group(2) else None
        if reference is None:
            raise ConfigError("bad ${...} reference (expected ${NAME} or ${NAME:-default})", where)
        name, default = reference.groups()
        value = env.get(name)
        if default is not None and not value:  # shell semantics: unset or empty
            return default
        if value is None:
            raise ConfigError(f"${{{name}}} is not set ({where})")
        return value

    return _VARIABLE.sub(replace, text)


def _substitute(node: Any, env: Mapping[str, str], loc: tuple[str | int, ...]) -> Any:
    # After parsing, not before: a secret with `#` or `: ` in it cannot break the YAML,
    # and the error can name the key the reference sits in.
    if isinstance(node, dict):
        return {key: _substitute(value, env, (*loc, str(key))) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, env, (*loc, i)) for i, value in enumerate(node)]
    if isinstance(node, str):
        return _expand(node, env, join_path(loc))
    return node


def _secrets_in(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SECRET_KEYS and isinstance(value, str | int) and not isinstance(value, bool):
                found.add(str(value))
            elif key == "url" and isinstance(value, str):
                found.update(re.findall(r"://[^:/@]*:([^@]+)@", value))
            else:
                found |= _secrets_in(value)
    elif isinstance(node, list):
        for value in node:
            found |= _secrets_in(value)
    return found


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a repeated section is a typo to report."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` may override on purpose
            continue
        key = loader.construct_object(key_node)
        if isinstance(key, str | int | float | bool) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {shown(key)}", key_node.start_mark
            )
        seen.add(key) if isinstance(key, str | int | float | bool) else None
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ConfigError(f"bad YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"bad YAML: {exc}") from None


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return {key: value for key, value in values.items() if value is not None}


def parse_config(data: Any) -> Config:
    """Validate already-substituted data (the parsed YAML) into a Config."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping of keys at the top of the file, got {shown(data)}")
    try:
        return Config.model_validate(dict(data))
    except ValidationError as exc:
        raise from_validation_error(exc, _secrets_in(dict(data))) from None


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """The config from `path`, else from $BOT_CONFIG, else the demo config.

    `${NAME}` and `${NAME:-default}` are read from `environ` (default: os.environ), then
    from the .env beside the config file, then from ./.env; the environment always wins.
    The .env files are read, not exported: os.environ is left as it was.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    local_env = _read_dotenv(Path.cwd() / ".env")
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
    lookup = {**local_env, **_read_dotenv(file.parent / ".env"), **env}
    return parse_config(_substitute(_parse_yaml(text), lookup, ()))
