"""The edges of the network adapters without a server: OKX and ccxt answers to our order
states and errors, and which venue a configured account becomes (secrets kept secret)."""

from __future__ import annotations

import logging
import re
from decimal import Decimal as D
from pathlib import Path

import ccxt.async_support as ccxt
import pytest

from bot.config import load_config, parse_config
from bot.domain import OrderState, Side, TimeInForce
from bot.venues import base
from bot.venues.ccxt.parse import num as ccxt_num
from bot.venues.ccxt.parse import order_from as ccxt_order
from bot.venues.ccxt.parse import venue_error
from bot.venues.ccxt.venue import CcxtVenue
from bot.venues.factory import VenueSetupError, build_venues
from bot.venues.lighter.venue import LighterVenue
from bot.venues.okx.codes import okx_error
from bot.venues.okx.parse import data_of, order_from
from bot.venues.okx.site import OkxKeys
from bot.venues.okx.venue import OkxVenue
from tests.fakes.okx_accounts import KEYS, credentials_of, seeded_exchange
from tests.fakes.okx_server import FakeOkxServer


def okx_row(**fields):
    row = {"instId": "APT-USDT-SWAP", "ordId": "7", "clOrdId": "c1", "side": "sell",
           "posSide": "long", "ordType": "market", "sz": "10", "px": "", "reduceOnly": "true",
           "state": "filled", "accFillSz": "10", "avgPx": "5.1", "fee": "-0.0255",
           "pnl": "1", "cTime": "1700000000000", "uTime": "1700000000500", "tag": ""}
    return {**row, **fields}


@pytest.mark.parametrize(("okx_state", "filled", "state"), [
    ("live", "0", OrderState.LIVE), ("partially_filled", "4", OrderState.PARTIALLY_FILLED),
    ("filled", "10", OrderState.FILLED), ("canceled", "0", OrderState.CANCELED),
    ("canceled", "4", OrderState.CANCELED), ("mmp_canceled", "0", OrderState.CANCELED),
    ("order_failed", "0", OrderState.REJECTED), ("something_new", "0", OrderState.LIVE)])
def test_okx_order_states(okx_state, filled, state):
    order = order_from(okx_row(state=okx_state, accFillSz=filled,
                               avgPx="5.1" if filled != "0" else ""))
    assert (order.state, order.filled_size) == (state, D(filled))
    assert order.average_price == (D("5.1") if filled != "0" else None)


def test_okx_fee_sign_is_flipped_and_a_gtt_tag_is_read_back():
    order = order_from(okx_row(fee="-0.0255", ordType="limit", px="5.3",
                               tag="gtt1767225600"))
    assert order.fee == D("0.0255")  # OKX: negative = paid; ours: positive = paid
    assert (order.time_in_force, order.expire_at.timestamp()) == (TimeInForce.GTT, 1767225600)
    assert order_from(okx_row(fee="0.01")).fee == D("-0.01")  # a rebate


@pytest.mark.parametrize(("answer", "cls", "code"), [
    ({"code": "1", "msg": "Operation failed.", "data": [{"sCode": "51008", "sMsg": "no"}]},
     base.InsufficientMargin, "51008"),
    ({"code": "51603", "msg": "Order does not exist", "data": []}, base.OrderUnknown, "51603"),
    ({"code": "50011", "msg": "", "data": []}, base.RateLimited, "50011"),
    ({"code": "50061", "msg": "", "data": []}, base.RateLimited, "50061"),
    ({"code": "50001", "msg": "", "data": []}, base.VenueUnavailable, "50001"),
    ({"code": "50026", "msg": "", "data": []}, base.VenueUnavailable, "50026"),
    ({"code": "50105", "msg": "", "data": []}, base.AuthenticationFailed, "50105"),
    ({"code": "51094", "msg": "", "data": []}, base.InvalidOrder, "51094"),  # 510xx family
    ({"code": "1", "data": [{"sCode": "51008_1001", "sMsg": "x"}]}, base.InsufficientMargin,
     "51008_1001"),
])
def test_okx_answers_map_to_the_taxonomy(answer, cls, code):
    with pytest.raises(cls) as raised:
        data_of(answer)
    assert raised.value.code == code and type(raised.value) is cls


def ccxt_raw(status, filled, **extra):
    return {"id": "9", "clientOrderId": "c1", "symbol": "APT/USDT:USDT", "side": "sell",
            "type": "limit", "amount": 10.0, "price": 5.3, "filled": filled,
            "average": 5.3 if filled else None, "status": status, "reduceOnly": True,
            "fee": {"cost": 0.0106, "currency": "USDT"}, "info": {}, **extra}


@pytest.mark.parametrize(("status", "filled", "state"), [
    ("open", 0.0, OrderState.LIVE), ("open", 4.0, OrderState.PARTIALLY_FILLED),
    ("closed", 10.0, OrderState.FILLED), ("canceled", 4.0, OrderState.CANCELED),
    ("expired", 0.0, OrderState.EXPIRED), ("rejected", 0.0, OrderState.REJECTED)])
def test_ccxt_order_states(status, filled, state):
    order = ccxt_order(ccxt_raw(status, filled))
    assert (order.state, order.filled_size, order.fee) == (state, D(filled), D("0.0106"))
    assert order.position_side is Side.LONG  # a reduce-only sell closes a long


@pytest.mark.parametrize(("exc", "exchange", "cls", "code"), [
    (ccxt.InsufficientFunds('okx {"code":"1","data":[{"sCode":"51008","sMsg":"m"}]}'), "okx",
     base.InsufficientMargin, "51008"),
    (ccxt.InvalidOrder('okx {"code":"1","data":[{"sCode":"51121","sMsg":"lot"}]}'), "okx",
     base.BadPrecision, "51121"),
    (ccxt.InvalidOrder('okx {"code":"1","data":[{"sCode":"51020","sMsg":"min"}]}'), "okx",
     base.BelowMinimumSize, "51020"),
    (ccxt.InsufficientFunds('bitget {"code":"40762","msg":"exceeds the balance"}'), "bitget",
     base.InsufficientMargin, "40762"),
    (ccxt.InvalidOrder('bitget {"code":"45110","msg":"less than 5 USDT"}'), "bitget",
     base.BelowMinimumSize, "45110"),
    (ccxt.InvalidOrder('bitget {"code":"40808","msg":"size precision"}'), "bitget",
     base.BadPrecision, "40808"),
    (ccxt.RateLimitExceeded("bitget 429 Too Many Requests"), "bitget", base.RateLimited, None),
    (ccxt.OrderNotFound('bitget {"code":"40109","msg":"not found"}'), "bitget",
     base.OrderUnknown, "40109"),
    (ccxt.OnMaintenance("bitget maintenance"), "bitget", base.VenueUnavailable, None),
    (ccxt.ExchangeNotAvailable("bitget 503"), "bitget", base.VenueUnavailable, None),
    (ccxt.NetworkError("bitget connection reset"), "bitget", base.VenueUnavailable, None),
    (ccxt.RequestTimeout("bitget GET timed out"), "bitget", base.RequestTimeout, None),
    (ccxt.AuthenticationError('bitget {"code":"40009","msg":"sign"}'), "bitget",
     base.AuthenticationFailed, "40009"),
    (ccxt.ExchangeError("kraken something"), "kraken", base.VenueError, None),
])
def test_ccxt_exceptions_map_to_the_taxonomy(exc, exchange, cls, code):
    error = venue_error(exc, exchange)
    assert (type(error), error.code, error.venue) == (cls, code, f"ccxt:{exchange}")


def test_a_size_a_float_cannot_carry_is_never_sent_through_ccxt():
    assert ccxt_num(D("0.07")) == 0.07
    with pytest.raises(base.InvalidOrder):
        ccxt_num(D("0.1000000000000000000001"))


def test_okx_codes_keep_the_code_and_family():
    assert isinstance(okx_error("51016"), base.InvalidOrder)
    assert isinstance(okx_error("50199"), base.AuthenticationFailed)
    assert type(okx_error("99999")) is base.VenueError


# -- the factory ----------------------------------------------------------------------


def config_with(*accounts):
    return parse_config({"accounts": list(accounts)})


async def test_okx_accounts_of_one_site_share_its_http_client_and_instruments(tmp_path):
    """Issue 16: one HTTP client (one TLS context, one connection pool) and one instrument
    list per site, not per account."""
    keys = {"venue": "okx", "api_secret": "s", "passphrase": "p",
            "base_url": "http://127.0.0.1:9"}
    config = config_with({"name": "main", "api_key": "k1", **keys},
                         {"name": "sub1", "role": "sub", "api_key": "k2", **keys},
                         {"name": "sub2", "role": "sub", "api_key": "k3", **keys,
                          "demo": True})
    venues, _ = build_venues(config, lambda: None, tmp_path)
    main, sub1, sub2 = venues["main"], venues["sub1"], venues["sub2"]
    try:
        assert main._site is sub1._site
        assert main._instruments is sub1._instruments
        assert sub2._site is not main._site  # the demo site is another site
        assert main._keys.api_key != sub1._keys.api_key  # each account signs with its own
        shown = repr(OkxKeys("key", "a-secret", "a-passphrase"))
        assert "a-secret" not in shown and "a-passphrase" not in shown
    finally:
        for venue in venues.values():
            await venue.close()
    assert main._site.closed and sub2._site.closed  # by the last to leave


async def test_okx_and_ccxt_accounts_become_their_adapters(tmp_path):
    config = config_with(
        {"name": "main", "venue": "okx", "api_key": "k1", "api_secret": "s1",
         "passphrase": "p1", "base_url": "http://127.0.0.1:9/"},
        {"name": "sub1", "venue": "okx", "role": "sub", "api_key": "k2", "api_secret": "s2",
         "passphrase": "p2", "demo": True},
        {"name": "grid", "venue": "ccxt", "exchange": "bitget", "api_key": "k3",
         "api_secret": "s3", "passphrase": "p3", "base_url": "http://127.0.0.1:9",
         "demo": True})
    venues, paper = build_venues(config, lambda: None, tmp_path)
    try:
        assert paper is None
        main, sub, grid = venues["main"], venues["sub1"], venues["grid"]
        assert isinstance(main, OkxVenue) and isinstance(sub, OkxVenue)
        assert (main.name, main.venue, grid.venue) == ("main", "okx", "ccxt:bitget")
        assert main._site.base_url == "http://127.0.0.1:9"
        assert (main._site.flag, sub._site.flag) == ("0", "1")  # demo trading
        assert isinstance(grid, CcxtVenue)
        # sandbox first, then every Bitget API family points at the base URL, and its
        # websockets (ccxt.pro's, live and demo) at the same host over ws
        api = dict(grid.exchange.urls["api"])
        ws, demo = api.pop("ws"), api.pop("demo")
        assert set(api.values()) == {"http://127.0.0.1:9"}
        assert ws["private"] == demo["private"] == "ws://127.0.0.1:9/v2/ws/private"
        assert ws["public"] == demo["public"] == "ws://127.0.0.1:9/v2/ws/public"
        assert grid.exchange.options["sandboxMode"] is True
        assert (grid.exchange.apiKey, grid.exchange.password) == ("k3", "p3")
    finally:
        for venue in venues.values():
            await venue.close()


@pytest.mark.parametrize(("account", "message"), [
    ({"name": "lt", "venue": "lighter", "api_key": "x", "account_index": 1, "api_key_index": 3},
     "accounts[0] (lt): api_key is not a Lighter API private key (80 hex digits, as Lighter's "
     "create_api_key gives it)"),
    ({"name": "nx", "venue": "ccxt", "exchange": "nosuchex", "api_key": "k", "api_secret": "s"},
     "accounts[0] (nx): ccxt has no exchange 'nosuchex'"),
])
def test_accounts_that_cannot_be_opened_are_refused_in_one_line(tmp_path, account, message):
    with pytest.raises(VenueSetupError) as refused:
        build_venues(config_with(account), lambda: None, tmp_path)
    assert str(refused.value) == message


async def test_secrets_never_reach_the_logs(caplog):
    caplog.set_level(logging.DEBUG)
    exchange = seeded_exchange()
    async with FakeOkxServer(exchange, KEYS) as server:
        creds = credentials_of("main")
        okx = OkxVenue("main", **creds, base_url=server.base_url)
        via_ccxt = CcxtVenue("main", "okx", **creds, base_url=server.base_url,
                             client_rate_limit=False)
        via_ccxt.exchange.timeout_on_exit = 0
        try:
            assert len(await okx.positions()) == len(await via_ccxt.positions()) == 2
        finally:
            await okx.close()
            await via_ccxt.close()
    assert caplog.records  # something was logged at DEBUG ...
    for secret in creds.values():  # key, secret and passphrase are all secrets (README)
        assert secret not in caplog.text  # ... but never one of them
    assert server.requests[-1].headers["OK-ACCESS-PASSPHRASE"] == creds["passphrase"]


def test_a_lighter_account_becomes_a_lighter_venue_without_touching_the_network(tmp_path):
    key = "0x" + "ab" * 40
    venues, _ = build_venues(config_with(
        {"name": "lt", "venue": "lighter", "api_key": key, "account_index": 7,
         "api_key_index": 3, "base_url": "http://127.0.0.1:9/"}), lambda: None, tmp_path)
    lighter = venues["lt"]
    assert isinstance(lighter, LighterVenue)
    assert (lighter.venue, lighter.account_index, lighter.api_key_index, lighter.base_url) == (
        "lighter", 7, 3, "http://127.0.0.1:9")


async def test_readme_example_config_opens_every_account_lighter_included(tmp_path):
    """README's *Example*, as a user copies it with their secrets in the environment: it
    loads, and each of its accounts becomes its venue's adapter (nothing is refused)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("### Example", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    path = tmp_path / "config.yaml"
    path.write_text(example)
    names = set(re.findall(r"\$\{([A-Z0-9_]+)\}", example))
    environ = {name: "x" for name in names} | {"LIGHTER_PRIVATE_KEY": "0x" + "cd" * 40,
                                               "TELEGRAM_BOT_TOKEN": "123456:ABC-def"}

    config = load_config(path, environ)
    venues, _ = build_venues(config, lambda: None, tmp_path)
    try:
        assert {name: type(v).__name__ for name, v in venues.items()} == {
            "main": "OkxVenue", "sub1": "OkxVenue", "bitget": "CcxtVenue",
            "lighter": "LighterVenue"}
    finally:
        for venue in venues.values():
            await venue.close()
