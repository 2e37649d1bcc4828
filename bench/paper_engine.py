"""How long the paper engine takes for 10,000 mark updates across 50 positions that have
resting orders (target: under 1 s on one core).

    .venv/bin/python -m bench.paper_engine
"""

from __future__ import annotations

import random
import time
from decimal import Decimal

from bot.domain import OrderRequest, OrderType, Side
from bot.venues.paper.demo import INSTRUMENTS, MARKS, new_exchange

UPDATES = 10_000
ACCOUNTS = 5
SYMBOLS = [i.symbol for i in INSTRUMENTS][:10]  # 5 accounts x 10 instruments = 50 positions


def build():
    ex = new_exchange(seed=1)
    ex.market.freeze()
    for a in range(ACCOUNTS):
        name = f"acct{a}"
        ex.add_account(name, Decimal("1000000"))
        for symbol in SYMBOLS:
            inst, mark = ex.instruments[symbol], MARKS[symbol]
            size = inst.min_size * 100
            ex.seed_position(name, symbol, Side.LONG, size, mark, Decimal(10))
            # two resting reduce-only closes per position: one far above the mark (never
            # reached), one a little above (fills when the walk gets there)
            for n, factor in enumerate(("1.5", "1.004")):
                price = (mark * Decimal(factor)).quantize(inst.tick_size)
                ex.place_order(name, OrderRequest(
                    f"{name}{symbol[:4]}{n}", symbol, Side.LONG.close_order_side, Side.LONG,
                    OrderType.LIMIT, inst.min_size * 10, price, reduce_only=True))
    return ex


def main() -> None:
    ex = build()
    rng = random.Random(3)
    updates = []
    marks = {s: MARKS[s] for s in SYMBOLS}
    for n in range(UPDATES):
        symbol = SYMBOLS[n % len(SYMBOLS)]
        tick = ex.instruments[symbol].tick_size
        step = (marks[symbol] * Decimal("0.001")).quantize(tick) or tick
        marks[symbol] += step * rng.choice((-1, 1))
        updates.append((symbol, marks[symbol]))
    resting = sum(len(v) for v in ex.resting.values())
    start = time.perf_counter()
    for symbol, price in updates:
        ex.set_mark(symbol, price)
    elapsed = time.perf_counter() - start
    positions = sum(len(ex.positions(a)) for a in ex.accounts)
    filled = resting - sum(len(v) for v in ex.resting.values())
    print(f"{UPDATES} mark updates, {positions} positions, {resting} resting orders "
          f"({filled} filled during the run): {elapsed:.3f} s "
          f"({elapsed / UPDATES * 1e6:.1f} us per update; target < 1 s)")


if __name__ == "__main__":
    main()
