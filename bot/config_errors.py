"""Config errors as one line that names the key: what a trader needs to fix a YAML file.

pydantic's own messages are multi-line, name no YAML path and echo inputs (secrets
included), so every validation problem is translated here into
`config error: <key path>: <problem>`.
"""

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

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
