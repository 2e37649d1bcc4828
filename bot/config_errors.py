"""Reading a config file's raw input, and reporting every problem as one line.

A trader fixing a YAML file needs `config error: <key path>: <problem>`. pydantic's own
messages are multi-line, name no YAML path and echo inputs (secrets included), and the
YAML and `${ENV}` steps fail before pydantic runs; all of them are reported from here.
The typed models themselves live in bot/config.py.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

# Keys whose values are credentials: their input is never echoed back.
SECRET_KEYS = frozenset({"token", "api_key", "api_secret", "passphrase"})
# Non-secret keys that may still embed one (a database URL carries its password).
_SENSITIVE_PATHS = frozenset({"database.url"})
# Shorter strings are too likely to occur in an ordinary message to be scrubbed safely.
_MIN_SCRUB_LEN = 4


class ConfigError(Exception):
    """A config problem, reported as one line: `config error: <path>: <problem>`."""

    def __init__(self, problem: str, path: str = "") -> None:
        self.path = path
        self.problem = problem
        text = f"{path}: {problem}" if path else problem
        super().__init__("config error: " + " ".join(text.split()))


def problem(message: str) -> PydanticCustomError:
    """A validation problem at the current key; the message is shown as is."""
    # The message goes through ctx, not the template, so braces in it (`${X}`) survive.
    return PydanticCustomError("config", "{problem}", {"problem": message})


def field_problem(field: str, message: str) -> PydanticCustomError:
    """A problem found by a model-level check, placed at `field` below the model's path."""
    return PydanticCustomError(
        "config_field", "{field}: {problem}", {"field": field, "problem": message}
    )


def choice(
    value: Any, words: Mapping[str, str], true: str | None, false: str | None, expected: str
) -> str:
    """A switch's value from its spelling in `words`; a YAML boolean stands for true/false."""
    if isinstance(value, bool) and (word := true if value else false) is not None:
        return word
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    hint = " (YAML reads on/yes/true as true)" if value is True else ""
    raise problem(f"expected {expected}, got {shown(value)}{hint}")


def reject_bool(value: Any) -> Any:
    # pydantic would read `yes` (a YAML true) as the integer 1.
    if isinstance(value, bool):
        raise problem(f"expected an integer, got {shown(value)}")
    return value


def id_list(value: Any) -> list[int]:
    """Telegram ids: a list of integers, also as digit strings (from `${ADMIN_ID}`)."""
    if value is None:
        return []
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, list):
        raise problem(f"expected a list of integers, got {shown(value)}")
    ids = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            ids.append(item)
        elif isinstance(item, str) and re.fullmatch(r"-?\d+", item.strip()):
            ids.append(int(item))
        else:
            raise problem(f"expected a list of integers, got {shown(item)}")
    return ids


def blank_is_none(value: Any) -> Any:
    # `${VAR:-}` yields "": the key is then as good as absent.
    return None if isinstance(value, str) and not value.strip() else value


def secret_text(value: Any) -> Any:
    # Not str(value): YAML has already changed an unquoted 0123 into 83.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise problem("expected a quoted string, got a number (YAML alters unquoted numbers)")
    return blank_is_none(value)


def http_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"https?://\S+$", value):
        raise problem(f"expected an http:// or https:// URL, got {shown(value)}")
    return value


def ws_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"wss?://[^\s/]+/?$", value):
        raise problem(f"expected ws:// or wss:// and a host (the bot adds the paths), "
                      f"got {shown(value)}")
    return value.rstrip("/") if value is not None else None


def join_path(loc: Sequence[str | int]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _extend(path: str, field: str) -> str:
    if not path:
        return field
    return path + field if field.startswith("[") else f"{path}.{field}"


def shown(value: Any) -> str:
    """How an offending value is quoted in a message: short, and never a whole section."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _kind(value: Any) -> str:
    """The type of a value without its content, for keys whose content is secret."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return shown(value)


def _expected_values(ctx: dict[str, Any]) -> str:
    return ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))


def _describe(error: Any, path: str) -> tuple[str, str]:
    """(path, problem) for one pydantic error dict."""
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    loc = error["loc"]
    hide = path in _SENSITIVE_PATHS or any(part in SECRET_KEYS for part in loc)
    value = error.get("input")
    got = _kind(value) if hide else shown(value)
    name = next((part for part in reversed(loc) if isinstance(part, str)), "value")
    if kind == "config":
        return path, ctx["problem"]
    if kind == "config_field":
        return _extend(path, ctx["field"]), ctx["problem"]
    messages = {
        "missing": "required",
        "extra_forbidden": "unknown key",
        "literal_error": f"unknown {name} {got} (expected one of: {_expected_values(ctx)})",
        "int_type": f"expected an integer, got {got}",
        "int_parsing": f"expected an integer, got {got}",
        "int_from_float": f"expected an integer, got {got}",
        "decimal_type": f"expected a number, got {got}",
        "decimal_parsing": f"expected a number, got {got}",
        "finite_number": f"expected a finite number, got {got}",
        "bool_type": f"expected true or false, got {got}",
        "bool_parsing": f"expected true or false, got {got}",
        "string_type": f"expected a string, got {got}",
        "list_type": f"expected a list, got {got}",
        "dict_type": f"expected a mapping of keys, got {got}",
        "model_type": f"expected a mapping of keys, got {got}",
        "model_attributes_type": f"expected a mapping of keys, got {got}",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "greater_than": f"must be greater than {ctx.get('gt')}",
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "less_than": f"must be less than {ctx.get('lt')}",
        "too_short": "must not be empty",
        "string_too_short": "must not be empty",
    }
    return path, messages.get(kind, error["msg"])


def scrub(message: str, secrets: Iterable[str]) -> str:
    """Last line of defence: no configured secret is ever printed, whatever the path."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_SCRUB_LEN:
            message = message.replace(secret, "***")
    return message


def from_validation_error(exc: ValidationError, secrets: Iterable[str] = ()) -> ConfigError:
    """The first problem of a ValidationError as a ConfigError, counting the rest."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    path, text = _describe(first, join_path(first["loc"]))
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    secrets = list(secrets)
    return ConfigError(scrub(text, secrets), scrub(path, secrets))


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


def substitute(node: Any, env: Mapping[str, str], loc: tuple[str | int, ...] = ()) -> Any:
    """Expand `${NAME}` / `${NAME:-default}` in every string value of parsed YAML."""
    # After parsing, not before: a secret with `#` or `: ` in it cannot break the YAML,
    # and the error can name the key the reference sits in.
    if isinstance(node, dict):
        # Keys as text: `on:` arrives as True and must be reported as an unknown key.
        return {str(k): substitute(value, env, (*loc, str(k))) for k, value in node.items()}
    if isinstance(node, list):
        return [substitute(value, env, (*loc, i)) for i, value in enumerate(node)]
    if isinstance(node, str):
        return _expand(node, env, join_path(loc))
    return node


def secrets_in(node: Any) -> set[str]:
    """Every credential in parsed config data, so that no message can print one."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SECRET_KEYS and isinstance(value, str | int) and not isinstance(value, bool):
                found.add(str(value))
            elif key == "url" and isinstance(value, str):
                found.update(re.findall(r"://[^:/@]*:([^@]+)@", value))
            else:
                found |= secrets_in(value)
    elif isinstance(node, list):
        for value in node:
            found |= secrets_in(value)
    return found


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML keeps the last of two equal keys; a repeated section is a typo to report.
    libyaml's parser when PyYAML was built with it: 7x faster on a config of 200 accounts
    (0.36 s to 0.05 s of the start), with the same marks for the errors."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` may override on purpose
            continue
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool):
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {shown(key)}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ConfigError(f"bad YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"bad YAML: {exc}") from None


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of a .env file, or none if there is no such file."""
    if not path.is_file():
        return {}
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return {key: value for key, value in values.items() if value is not None}
