"""The paper accounts the OKX contract tests trade through the fake OKX server: a main
account holding an APT long/short pair and a sub-account with its own API key holding
an APT long, with every mark held still so sizes, margins and profit rates are exact
(and short decimals, which a float inside ccxt carries without loss)."""

from __future__ import annotations

from decimal import Decimal as D

from bot.domain import Side
from bot.venues.paper.demo import new_exchange
from bot.venues.paper.engine import PaperExchange
from tests.fakes.okx_server import Credentials

APT = "APT-USDT-SWAP"
KEYS = {"key-main": "main", "key-sub1": "sub1"}
CREDENTIALS = {"key-main": Credentials("secret-main", "pass-main"),
               "key-sub1": Credentials("secret-sub1", "pass-sub1")}


def seeded_exchange() -> PaperExchange:
    ex = new_exchange()
    ex.market.freeze()  # APT mark 5.2 for the whole test
    ex.add_account("main", D("1000"))
    ex.add_account("sub1", D("200"))
    # main: long 100 @ 5 with 80 USDT margin (+20 USDT: +25%), of which 28 USDT is above
    # what the position needs at the mark; short 30 @ 5.3 with 20 USDT (+3 USDT: +15%)
    ex.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"), D("80"))
    ex.seed_position("main", APT, Side.SHORT, D("30"), D("5.3"), D("10"), D("20"))
    # sub1: long 60 @ 5 with 32 USDT margin (+12 USDT: +37.5%)
    ex.seed_position("sub1", APT, Side.LONG, D("60"), D("5"), D("10"), D("32"))
    return ex


def credentials_of(account: str) -> dict[str, str]:
    """OkxVenue/CcxtVenue keyword arguments for a seeded account's key."""
    key = next(k for k, name in KEYS.items() if name == account)
    creds = CREDENTIALS[key]
    return {"api_key": key, "api_secret": creds.secret, "passphrase": creds.passphrase}


class RecordingSleep:
    """An injected sleep: records the backoff delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
