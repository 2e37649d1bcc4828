"""The fake Lighter server against the REAL lighter-sdk 1.1.8: what the SDK signs and sends
lands in the paper engine, and what the server answers parses through the SDK's own API
classes. If these pass, an adapter tested against the fake talks the SDK's wire format."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import aiohttp
import lighter
import pytest
from lighter.signer_client import SignerClient, create_api_key

from bot.domain import Side
from tests.fakes.lighter_server import (
    BELOW_MIN_BASE,
    BELOW_MIN_QUOTE,
    DUPLICATE_CLIENT_INDEX,
    FIRST_NONCE,
    INVALID_MARKET,
    MARGIN_REJECTED,
    MARKETS,
    NO_POSITION_TO_REDUCE,
    NOT_ENOUGH_MARGIN,
    ORDER_INDEX_BASE,
    FakeLighterServer,
    lighter_exchange,
)

ACCOUNT, KEY = 7, 3
BTC, ETH = 1, 0  # market ids
MARKET, LIMIT = SignerClient.ORDER_TYPE_MARKET, SignerClient.ORDER_TYPE_LIMIT
IOC = SignerClient.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL
GTT = SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME
HOLD_TIMEOUT = 0.2  # how long a test waits for an answer the server never gives


@pytest.fixture(scope="module")
def api_key() -> str:
    private_key, _, error = create_api_key()
    assert error is None
    return private_key


@pytest.fixture
def exchange():
    """Marks held still (BTC 95000, ETH 3000): best BTC bid 94981.0, best ETH ask 3000.60.
    Account 7 holds a BTC long of 0.003 @ 94000 at 10x (28.2 USDC margin)."""
    ex = lighter_exchange({"BTC": D("95000"), "ETH": D("3000")})
    ex.market.freeze()
    ex.add_account("main", D("10000"))
    ex.seed_position("main", "BTC", Side.LONG, D("0.003"), D("94000"), D("10"))
    return ex


@pytest.fixture
async def server(exchange):
    async with FakeLighterServer(exchange, {ACCOUNT: "main"}, MARKETS) as fake:
        yield fake


@pytest.fixture
async def client(server, api_key):
    signer = SignerClient(url=server.base_url, account_index=ACCOUNT,
                          api_private_keys={KEY: api_key})
    yield signer
    await signer.close()


@pytest.fixture
def token(client) -> str:
    auth, error = client.create_auth_token_with_expiry()
    assert error is None
    return auth


@pytest.fixture
def orders(client) -> lighter.OrderApi:
    return lighter.OrderApi(client.api_client)


async def orders_by_client_index(orders, token, *indices: int) -> list:
    answer = await orders.account_orders(authorization=token, account_index=ACCOUNT,
                                         client_order_indexes=",".join(map(str, indices)))
    return answer.orders


def test_the_paper_markets_are_lighters_decimals():
    ex = lighter_exchange({"BTC": D("95000"), "ETH": D("3000")})
    btc, eth = ex.instrument("BTC"), ex.instrument("ETH")
    assert (btc.lot_size, btc.tick_size, btc.min_size, btc.contract_value) == (
        D("0.00001"), D("0.1"), D("0.00020"), 1)
    assert (eth.lot_size, eth.tick_size, eth.min_size) == (D("0.0001"), D("0.01"), D("0.0050"))
    with pytest.raises(ValueError, match="ETH"):
        lighter_exchange({"BTC": D("95000")})


async def test_a_reduce_only_market_ask_closes_part_of_the_long(server, exchange, client,
                                                                 orders, token):
    best_bid = await client.get_best_price(BTC, is_ask=True)  # orderBookOrders, "." deleted
    assert best_bid == 949810
    worst = round(best_bid * 0.99)

    _, sent, error = await client.create_market_order(BTC, 777, 100, worst, is_ask=True,
                                                      reduce_only=True)

    assert error is None and sent.code == 200 and len(sent.tx_hash) == 64
    (position,) = exchange.positions("main")
    assert (position.side, position.size) == (Side.LONG, D("0.002"))
    (order,) = await orders_by_client_index(orders, token, 777)
    assert (order.status, order.type, order.time_in_force, order.is_ask, order.reduce_only) == (
        "filled", "market", "immediate-or-cancel", True, True)
    assert (order.initial_base_amount, order.filled_base_amount, order.filled_quote_amount,
            order.remaining_base_amount, order.price) == (
        "0.00100", "0.00100", "94.981000", "0.00000", f"{worst / 10:.1f}")
    assert order.client_order_index == 777 and order.order_index > ORDER_INDEX_BASE
    trades = await orders.trades(sort_by="timestamp", limit=10, authorization=token,
                                 account_index=ACCOUNT, order_index=order.order_index)
    (trade,) = trades.trades
    assert (trade.size, trade.price, trade.usd_amount, trade.market_id) == (
        "0.00100", "94981.0", "94.981000", BTC)
    assert (trade.ask_account_id, trade.ask_id, trade.ask_client_id) == (
        ACCOUNT, order.order_index, 777)
    assert (trade.is_maker_ask, trade.taker_fee, trade.tx_hash) == (False, 500, sent.tx_hash)
    # what arrived on the wire
    assert server.requests_to("nextNonce")[0].query == {"account_index": str(ACCOUNT),
                                                       "api_key_index": str(KEY)}
    (send,) = server.requests_to("sendTx")
    assert send.form["tx_type"] == "14" and send.tx == {k: v for k, v in server.sent[0].items()
                                                       if k != "tx_type"}
    assert {k: server.sent[0][k] for k in ("tx_type", "MarketIndex", "ClientOrderIndex",
                                           "BaseAmount", "Price", "IsAsk", "Type",
                                           "TimeInForce", "ReduceOnly", "OrderExpiry",
                                           "Nonce")} == {
        "tx_type": 14, "MarketIndex": BTC, "ClientOrderIndex": 777, "BaseAmount": 100,
        "Price": worst, "IsAsk": 1, "Type": MARKET, "TimeInForce": IOC, "ReduceOnly": 1,
        "OrderExpiry": 0, "Nonce": FIRST_NONCE}


async def test_a_gtt_limit_order_rests_until_cancelled(server, exchange, client, orders,
                                                       token):
    _, sent, error = await client.create_order(BTC, 778, 100, 900000, is_ask=False,
                                               order_type=LIMIT, time_in_force=GTT)
    assert error is None and sent.code == 200

    active = await orders.account_active_orders(authorization=token, account_index=ACCOUNT,
                                                market_id=BTC)
    (order,) = active.orders
    assert (order.status, order.time_in_force, order.price, order.remaining_base_amount,
            order.client_order_index) == ("open", "good-till-time", "90000.0", "0.00100", 778)
    assert order.order_expiry == server.sent[0]["OrderExpiry"] > 0  # the signer's 28 days
    assert exchange.open_orders("main")[0].position_side is Side.LONG  # a bid opens a long

    _, sent, error = await client.cancel_order(BTC, order.order_index)

    assert error is None and sent.code == 200
    assert server.sent[-1]["tx_type"] == 15 and server.sent[-1]["Index"] == order.order_index
    active = await orders.account_active_orders(authorization=token, account_index=ACCOUNT)
    assert active.orders == []
    inactive = await orders.account_inactive_orders(authorization=token,
                                                    account_index=ACCOUNT, limit=10)
    assert [(o.client_order_index, o.status) for o in inactive.orders] == [(778, "canceled")]
    _, sent, _ = await client.cancel_order(BTC, order.order_index)  # finished already
    assert sent.code == 21715  # given order is not an active order


async def test_a_wrong_nonce_is_refused_and_the_sdk_recovers(server, exchange, client):
    _, sent, error = await client.create_market_order(BTC, 801, 100, 940000, True, True)
    assert error is None and sent.code == 200
    server.set_nonce(ACCOUNT, KEY, 50)  # another process used the key meanwhile

    _, sent, error = await client.create_market_order(BTC, 802, 100, 940000, True, True)

    assert sent is None and "invalid nonce" in error and "21104" in error
    assert ("main", "802") not in exchange.client_ids  # nothing applied
    assert server.sent[-1]["Nonce"] == FIRST_NONCE + 1
    _, sent, error = await client.create_market_order(BTC, 802, 100, 940000, True, True)
    assert error is None and sent.code == 200 and server.sent[-1]["Nonce"] == 50
    assert server.nonce(ACCOUNT, KEY) == 51


REFUSALS = {
    "reduce-only without a position": (
        dict(market_index=ETH, base_amount=100, price=290000, is_ask=True, reduce_only=True),
        NO_POSITION_TO_REDUCE),
    "below the minimum base amount": (
        dict(market_index=ETH, base_amount=40, price=300000, is_ask=False),
        BELOW_MIN_BASE),
    "below the minimum quote amount": (
        dict(market_index=BTC, base_amount=20, price=400000, is_ask=False), BELOW_MIN_QUOTE),
    "not enough margin": (
        dict(market_index=BTC, base_amount=200000, price=900000, is_ask=False,
             order_type=LIMIT, time_in_force=GTT, order_expiry=-1), NOT_ENOUGH_MARGIN),
    "unknown market": (
        dict(market_index=5, base_amount=100, price=900000, is_ask=False), INVALID_MARKET),
}


@pytest.mark.parametrize("case", REFUSALS)
async def test_engine_refusals_answer_200_with_a_code_and_keep_the_nonce(
        case, server, exchange, client):
    order, code = REFUSALS[case]
    kind = dict(order_type=MARKET, time_in_force=IOC, order_expiry=0) | order

    _, sent, error = await client.create_order(client_order_index=901, **kind)

    assert error is None and sent.code == code and sent.message
    assert ("main", "901") not in exchange.client_ids
    assert server.nonce(ACCOUNT, KEY) == FIRST_NONCE  # the SDK gave it back too
    _, sent, error = await client.create_market_order(BTC, 902, 100, 940000, True, True)
    assert error is None and sent.code == 200


async def test_a_client_order_index_is_used_once(client):
    _, sent, _ = await client.create_market_order(BTC, 903, 100, 940000, True, True)
    assert sent.code == 200
    _, sent, _ = await client.create_market_order(BTC, 903, 100, 940000, True, True)
    assert sent.code == DUPLICATE_CLIENT_INDEX


async def test_market_and_account_reads_parse_through_the_sdk(client, orders):
    (btc,) = (await orders.order_book_details(market_id=BTC)).order_book_details
    assert (btc.symbol, btc.size_decimals, btc.price_decimals, btc.min_base_amount,
            btc.min_quote_amount, btc.mark_price, btc.status) == (
        "BTC", 5, 1, "0.00020", "10.000000", "95000.0", "active")
    every = await orders.order_book_details()
    assert {d.market_id: d.symbol for d in every.order_book_details} == {1: "BTC", 0: "ETH"}

    book = await orders.order_book_orders(ETH, 3)
    assert [a.price for a in book.asks] == ["3000.60", "3002.10", "3003.60"]
    assert [b.price for b in book.bids] == ["2999.40", "2997.90", "2996.40"]
    assert book.total_asks == 3 and book.asks[0].remaining_base_amount == "1.6666"

    answer = await lighter.AccountApi(client.api_client).account(by="index", value=str(ACCOUNT))
    (account,) = answer.accounts
    assert (account.index, account.available_balance, account.collateral,
            account.total_asset_value) == (ACCOUNT, "9971.800000", "10000.000000",
                                           "10003.000000")
    (position,) = account.positions
    assert (position.market_id, position.symbol, position.sign, position.position,
            position.initial_margin_fraction, position.margin_mode, position.allocated_margin,
            position.unrealized_pnl) == (
        BTC, "BTC", 1, "0.00300", "10.00", 1, "28.200000", "3.000000")


async def test_leverage_and_margin_updates_reach_the_position(server, exchange, client):
    _, sent, error = await client.update_leverage(BTC, client.ISOLATED_MARGIN_MODE, 5)
    assert error is None and sent.code == 200
    assert server.sent[-1]["InitialMarginFraction"] == 2000
    account = exchange.account("main")
    assert account.leverage_for("BTC", Side.LONG) == account.leverage_for("BTC", Side.SHORT) == 5
    (position,) = exchange.positions("main")
    assert (position.leverage, position.margin) == (5, D("56.4"))  # 0.003 x 94000 / 5

    _, sent, error = await client.update_margin(BTC, 12.5, client.ISOLATED_MARGIN_ADD_COLLATERAL)

    assert error is None and sent.code == 200 and server.sent[-1]["USDCAmount"] == 12_500_000
    (position,) = exchange.positions("main")
    assert position.margin == D("68.9")
    answer = await lighter.AccountApi(client.api_client).account(by="index", value=str(ACCOUNT))
    (row,) = answer.accounts[0].positions
    assert (row.initial_margin_fraction, row.allocated_margin) == ("20.00", "68.900000")
    _, sent, _ = await client.update_margin(BTC, 60, client.ISOLATED_MARGIN_REMOVE_COLLATERAL)
    assert sent.code == MARGIN_REJECTED  # below what the position needs at the mark


async def test_fail_next_answers_with_the_given_code_and_applies_nothing(server, exchange,
                                                                         client, orders):
    server.fail_next("/api/v1/sendTx", status=400, code=21120, message="invalid signature")

    _, sent, error = await client.create_market_order(BTC, 904, 100, 940000, True, True)

    assert sent is None and "21120" in error and "invalid signature" in error
    assert ("main", "904") not in exchange.client_ids
    _, sent, error = await client.create_market_order(BTC, 904, 100, 940000, True, True)
    assert error is None and sent.code == 200
    server.fail_next("orderBookDetails", status=503, code=29500, message="busy", times=2)
    for _ in range(2):
        with pytest.raises(lighter.exceptions.ServiceException, match="busy"):
            await orders.order_book_details()
    assert (await orders.order_book_details()).code == 200


@pytest.mark.parametrize("fault", ["hold, landed", "hold, lost", "engine timeout"])
async def test_an_unanswered_send_times_out_and_the_order_is_found_or_not(
        fault, server, exchange, client, orders, token):
    if fault == "engine timeout":
        exchange.faults.timeout_after_accept()
    else:
        server.hold_next_send(land=fault == "hold, landed")
    landed = fault != "hold, lost"

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.create_market_order(BTC, 905, 100, 940000, True, True),
                               HOLD_TIMEOUT)

    found = await orders_by_client_index(orders, token, 905)
    assert [o.status for o in found] == (["filled"] if landed else [])
    assert server.nonce(ACCOUNT, KEY) == FIRST_NONCE + int(landed)
    assert server.sent[-1]["ClientOrderIndex"] == 905


async def test_private_reads_need_authorization_and_unknown_paths_are_404(server, orders):
    with pytest.raises(lighter.exceptions.BadRequestException, match="20001"):
        await orders.account_active_orders(authorization="", account_index=ACCOUNT)
    async with (aiohttp.ClientSession() as session,
                session.get(f"{server.base_url}/api/v1/nothingHere") as response):
        assert response.status == 404
        assert await response.json() == {"code": 404, "message": "no such endpoint"}
    assert server.errors == []
