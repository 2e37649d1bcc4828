"""`status_page` in the config: a page reachable from other machines needs a token, and
the token is a secret like the others."""

import secrets
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, parse_config
from bot.secrecy import config_secrets
from tests.config_cases import _isolated_cwd, write  # noqa: F401 (fixture)

TOKEN = secrets.token_hex(16)  # made up per run: no secret is written in the repo


def page(**keys: object) -> dict:
    return {"status_page": {"enabled": True, **keys}}


def test_off_by_default_on_this_machine_only() -> None:
    defaults = parse_config({}).status_page
    assert (defaults.enabled, defaults.host, defaults.port, defaults.token) == (
        False, "127.0.0.1", 8080, None)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "localhost", "LOCALHOST", "::1"])
def test_a_local_host_needs_no_token(host: str) -> None:
    assert parse_config(page(host=host)).status_page.host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5",
                                  "status.example.com", "localhost.example.com"])
def test_any_other_host_without_a_token_is_refused_naming_the_key(host: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(page(host=host))
    assert str(refused.value) == (
        f"config error: status_page.token: required when host is not local ({host!r} can be"
        " reached from other machines); set status_page.token or bind to 127.0.0.1")
    assert parse_config(page(host=host, token=TOKEN)).status_page.host == host


def test_a_page_that_is_off_binds_nothing_and_needs_no_token() -> None:
    assert parse_config({"status_page": {"host": "0.0.0.0"}}).status_page.token is None


def test_a_short_token_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match=r"^config error: status_page\.token: too short: use"
                                          r" at least 16 random characters") as refused:
        parse_config(page(host="0.0.0.0", token="hunter2-xyz"))
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(("port", "fine"), [(0, True), (8080, True), (65535, True),
                                            (-1, False), (65536, False), (True, False)])
def test_port_zero_takes_any_free_port(port: object, fine: bool) -> None:
    if fine:
        assert parse_config(page(port=port)).status_page.port == port
    else:
        with pytest.raises(ConfigError, match=r"^config error: status_page\.port: "):
            parse_config(page(port=port))


def test_the_token_comes_from_the_environment_and_is_masked(tmp_path: Path) -> None:
    file = write(tmp_path, 'status_page: {enabled: true, host: 0.0.0.0,'
                           ' token: "${STATUS_PAGE_TOKEN}"}\n')
    config = load_config(str(file), environ={"STATUS_PAGE_TOKEN": TOKEN})

    assert config.status_page.token is not None
    assert config.status_page.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(config) and TOKEN in config_secrets(config)
