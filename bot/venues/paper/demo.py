"""What the paper venue trades, and the demo portfolio a newcomer sees on the first run.

Instrument specs follow OKX's USDT-margined swaps (ctVal coin per contract, lotSz, minSz,
tickSz, maxMktSz); the starting marks are round, plausible prices.
"""

from __future__ import annotations

from decimal import Decimal as D

from bot.domain import Instrument, Side
from bot.venues.paper.engine import PaperExchange


def _swap(base: str, ct_val: str, lot: str, tick: str, max_mkt: str, max_lev: int) -> Instrument:
    return Instrument(symbol=f"{base}-USDT-SWAP", base=base, contract_value=D(ct_val),
                      lot_size=D(lot), min_size=D(lot), tick_size=D(tick),
                      max_market_size=D(max_mkt), max_leverage=D(max_lev))


INSTRUMENTS: tuple[Instrument, ...] = (
    _swap("BTC", "0.01", "0.01", "0.1", "5000", 100),
    _swap("ETH", "0.1", "0.01", "0.01", "10000", 100),
    _swap("SOL", "1", "0.01", "0.01", "20000", 50),
    _swap("DOGE", "1000", "0.01", "0.00001", "10000", 50),
    _swap("APT", "1", "1", "0.001", "100000", 50),
    _swap("CRV", "10", "1", "0.0001", "100000", 50),
    _swap("UNI", "1", "1", "0.001", "100000", 50),
    _swap("CRO", "10", "1", "0.00001", "100000", 50),
    _swap("AAVE", "0.1", "1", "0.01", "50000", 50),
    _swap("STX", "10", "1", "0.0001", "100000", 50),
    _swap("BCH", "0.1", "0.1", "0.01", "50000", 50),
)

MARKS: dict[str, D] = {
    "BTC-USDT-SWAP": D("95000"), "ETH-USDT-SWAP": D("3200"), "SOL-USDT-SWAP": D("140"),
    "DOGE-USDT-SWAP": D("0.16"), "APT-USDT-SWAP": D("5.2"), "CRV-USDT-SWAP": D("0.45"),
    "UNI-USDT-SWAP": D("7.5"), "CRO-USDT-SWAP": D("0.12"), "AAVE-USDT-SWAP": D("180"),
    "STX-USDT-SWAP": D("0.6"), "BCH-USDT-SWAP": D("480"),
}

# (coin, side, contracts, entry, margin or None for notional / leverage); leverage 10.
# Main: small long/short anchor pairs, most under 1 USDT margin (the take-profit rule
# skips them), AAVE above it and in profit, an STX short at -34% (the watcher asks what
# to do), and a BCH pair whose short wins while the long loses (the hedge rule acts).
MAIN_PORTFOLIO: tuple[tuple[str, Side, str, str, str | None], ...] = (
    ("APT", Side.LONG, "1", "5.0", None), ("APT", Side.SHORT, "1", "5.3", None),
    ("CRV", Side.LONG, "2", "0.44", None), ("CRV", Side.SHORT, "2", "0.46", None),
    ("UNI", Side.LONG, "1", "7.2", None), ("UNI", Side.SHORT, "1", "7.9", None),
    ("CRO", Side.LONG, "5", "0.118", None), ("CRO", Side.SHORT, "5", "0.125", None),
    ("AAVE", Side.LONG, "1", "175", None),
    ("STX", Side.LONG, "1", "0.58", None), ("STX", Side.SHORT, "1", "0.58", None),
    ("BCH", Side.LONG, "1.1", "490", None), ("BCH", Side.SHORT, "1.1", "500", None),
)
# Sub: one APT long of about 31 USDT margin (more than the 10 USDT target of §6).
SUB_PORTFOLIO: tuple[tuple[str, Side, str, str, str | None], ...] = (
    ("APT", Side.LONG, "60", "5.0", "31"),
)


def new_exchange(**options: object) -> PaperExchange:
    return PaperExchange(list(INSTRUMENTS), MARKS, **options)  # type: ignore[arg-type]


def open_account(ex: PaperExchange, name: str, role: str, cash: D, *,
                 with_portfolio: bool) -> None:
    """Create a paper account with its starting cash and, for the demo, its positions."""
    ex.add_account(name, cash)
    if not with_portfolio:
        return
    portfolio = MAIN_PORTFOLIO if role == "main" else SUB_PORTFOLIO
    for coin, side, size, entry, margin in portfolio:
        ex.seed_position(name, f"{coin}-USDT-SWAP", side, D(size), D(entry), D(10),
                         D(margin) if margin else None)
