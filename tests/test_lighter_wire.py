"""Lighter's wire format (issue 13, first step): our client ids as client order indices,
sizes and prices as integers of each market's decimals — and what the real lighter-sdk
signer (its native library, from the wheel) makes of them for the close seed 000 was
about: 0.001 BTC of a long, reduce-only, at a worst price."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from bot.execution import client_id_for
from bot.venues.base import BadPrecision
from bot.venues.lighter.wire import (
    MAX_CLIENT_ORDER_INDEX,
    client_order_index,
    from_units,
    step_of,
    to_units,
)

BTC_SIZE_DECIMALS, BTC_PRICE_DECIMALS = 5, 1  # as a local orderBookDetails would say


def test_our_client_ids_pack_into_distinct_indices_in_range():
    ids = [client_id_for("b1a2b3c", action, seq) for action in (1, 2, 999, 2**26 - 1)
           for seq in (0, 1, 10, 39, 1023)]
    indices = [client_order_index(c) for c in ids]
    assert len(set(indices)) == len(ids)
    assert all(1 <= i <= MAX_CLIENT_ORDER_INDEX for i in indices)
    assert client_order_index("b1a2b3ca7s3") == (0xB3C << 36) | (7 << 10) | 3
    assert client_order_index("b1a2b3ca7s3") == client_order_index("b1a2b3ca7s3")
    assert client_order_index("b000000a7s3") != client_order_index("b000001a7s3")


@pytest.mark.parametrize("client_id", ["c1", "b1a2b3ca7s1024", "b1a2b3ca67108864s1",
                                       "b000000a0s0", ""])
def test_any_other_id_is_hashed_into_the_range(client_id):
    index = client_order_index(client_id)
    assert 1 <= index <= MAX_CLIENT_ORDER_INDEX and index == client_order_index(client_id)


def test_sizes_and_prices_scale_exactly_or_are_refused():
    assert to_units(D("0.001"), BTC_SIZE_DECIMALS, "size") == 100
    assert to_units(D("95000.5"), BTC_PRICE_DECIMALS, "price") == 950005
    assert from_units(100, BTC_SIZE_DECIMALS) == D("0.001")
    assert from_units("950005", BTC_PRICE_DECIMALS) == D("95000.5")
    assert step_of(BTC_SIZE_DECIMALS) == D("0.00001")
    for value, decimals in ((D("0.000001"), 5), (D("95000.55"), 1), (D("-1"), 0)):
        with pytest.raises(BadPrecision):
            to_units(value, decimals, "size")


async def test_the_real_signer_signs_a_reduce_only_ask_with_our_integers():
    from lighter import signer_client  # two seconds to import: only this test pays

    private_key, _, error = signer_client.create_api_key()
    assert error is None
    signer = signer_client.SignerClient(url="http://127.0.0.1:9", account_index=5,
                                        api_private_keys={3: private_key})
    try:
        client_id = client_id_for("b1a2b3c", 7, 1)
        tx_type, tx_info, *_ = signer.sign_create_order(
            market_index=1, client_order_index=client_order_index(client_id),
            base_amount=to_units(D("0.001"), BTC_SIZE_DECIMALS, "size"),
            price=to_units(D("94525.0"), BTC_PRICE_DECIMALS, "price"),
            is_ask=True, order_type=signer.ORDER_TYPE_MARKET,
            time_in_force=signer.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL,
            reduce_only=True, order_expiry=signer.DEFAULT_IOC_EXPIRY, nonce=41, api_key_index=3)
    finally:
        await signer.close()
    sent = json.loads(tx_info)
    assert tx_type == 14  # create order
    assert {k: sent[k] for k in ("AccountIndex", "ApiKeyIndex", "MarketIndex",
                                 "ClientOrderIndex", "BaseAmount", "Price", "IsAsk",
                                 "ReduceOnly", "Type", "TimeInForce", "OrderExpiry",
                                 "Nonce")} == {
        "AccountIndex": 5, "ApiKeyIndex": 3, "MarketIndex": 1,
        "ClientOrderIndex": (0xB3C << 36) | (7 << 10) | 1, "BaseAmount": 100,
        "Price": 945250, "IsAsk": 1, "ReduceOnly": 1, "Type": 1, "TimeInForce": 0,
        "OrderExpiry": 0, "Nonce": 41}
    assert sent["Sig"]
