"""The one place for size and price arithmetic: coin <-> contracts <-> notional <-> margin,
rounding to the lot and the tick, and the minimum-size rules of SPEC §2.

Rounding directions are chosen so that a mistake can only ever be in the trader's
favour: closes round **down** (never close more than asked), keep sizes round **up**
(never keep less margin than asked), limit prices round towards the less aggressive side.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from bot.domain import ZERO, Instrument, OrderSide, Side

HUNDRED = Decimal(100)


class SizingError(ValueError):
    """An input that no size can be computed from (zero price, negative margin, ...)."""


def _require_positive(name: str, value: Decimal) -> None:
    if not value.is_finite() or value <= 0:
        raise SizingError(f"{name} must be a positive number, got {value}")


# -- rounding ---------------------------------------------------------------------------


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` that is <= value."""
    _require_positive("step", step)
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def round_up(value: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of `step` that is >= value."""
    _require_positive("step", step)
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def round_nearest(value: Decimal, step: Decimal) -> Decimal:
    """The multiple of `step` nearest to value (halves to even): for a simulated price,
    which must not drift the way rounding one way at every step would."""
    _require_positive("step", step)
    return (value / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step


def round_size_down(size: Decimal, inst: Instrument) -> Decimal:
    return round_down(size, inst.lot_size)


def round_size_up(size: Decimal, inst: Instrument) -> Decimal:
    return round_up(size, inst.lot_size)


def round_price(price: Decimal, inst: Instrument, side: OrderSide) -> Decimal:
    """Round a limit or worst price to the tick, never more aggressive than asked:
    a buy's price goes down, a sell's goes up."""
    if side is OrderSide.BUY:
        return round_down(price, inst.tick_size)
    return round_up(price, inst.tick_size)


def is_lot_multiple(size: Decimal, inst: Instrument) -> bool:
    return size % inst.lot_size == 0


def is_tick_multiple(price: Decimal, inst: Instrument) -> bool:
    return price % inst.tick_size == 0


# -- conversions ------------------------------------------------------------------------


def coin_from_contracts(contracts: Decimal, inst: Instrument) -> Decimal:
    return contracts * inst.contract_value


def contracts_from_coin(coin: Decimal, inst: Instrument) -> Decimal:
    """Exact contracts for a coin amount; round with the functions above before sending."""
    return coin / inst.contract_value


def notional(contracts: Decimal, price: Decimal, inst: Instrument) -> Decimal:
    return contracts * inst.contract_value * price


def margin_for(contracts: Decimal, price: Decimal, leverage: Decimal, inst: Instrument) -> Decimal:
    """Initial margin of `contracts` at `price` under isolated `leverage`."""
    _require_positive("leverage", leverage)
    return notional(contracts, price, inst) / leverage


def contracts_for_margin(
    margin: Decimal, price: Decimal, leverage: Decimal, inst: Instrument
) -> Decimal:
    """Exact (unrounded) contracts whose margin at `price` is `margin`."""
    _require_positive("price", price)
    _require_positive("leverage", leverage)
    if not margin.is_finite() or margin < 0:
        raise SizingError(f"margin must not be negative, got {margin}")
    return margin * leverage / (price * inst.contract_value)


def unrealized_pnl(side: Side, contracts: Decimal, entry: Decimal, mark: Decimal,
                   inst: Instrument) -> Decimal:
    move = mark - entry if side is Side.LONG else entry - mark
    return move * contracts * inst.contract_value


def profit_rate(pnl: Decimal, margin: Decimal) -> Decimal:
    """Percent of margin (ROE, 收益率). Zero margin has no meaningful rate: report 0."""
    if margin <= 0:
        return ZERO
    return pnl / margin * HUNDRED


def price_at_profit_rate(side: Side, contracts: Decimal, entry: Decimal, margin: Decimal,
                         rate: Decimal, inst: Instrument) -> Decimal:
    """The mark at which a position's profit rate (`profit_rate` of its `unrealized_pnl`
    over its margin) is `rate` percent: where a take-profit tier of `rate` fires. Closing
    part of a position releases the same share of its margin, so the price stays put as
    tiers fire. May be zero or below for a short: a rate it can never reach."""
    _require_positive("contracts", contracts)
    _require_positive("margin", margin)
    move = rate / HUNDRED * margin / (contracts * inst.contract_value)
    return entry + move if side is Side.LONG else entry - move


# -- the sizes rules ask for ------------------------------------------------------------


def keep_size_for_margin(
    margin: Decimal, mark: Decimal, leverage: Decimal, inst: Instrument
) -> Decimal:
    """SPEC §2: the size whose margin at `mark` is `margin`, rounded **up** to the lot,
    so the position kept never holds less margin than asked (and at least the minimum)."""
    size = round_size_up(contracts_for_margin(margin, mark, leverage, inst), inst)
    return max(size, inst.min_size) if size > 0 else size


def keep_size_for_notional(value: Decimal, mark: Decimal, inst: Instrument) -> Decimal:
    """The size whose notional at `mark` is `value`, rounded **up** to the lot (and at
    least the minimum), so a position cut down to it never ends below it."""
    _require_positive("price", mark)
    size = round_size_up(value / (mark * inst.contract_value), inst)
    return max(size, inst.min_size) if size > 0 else size


def open_size_for_margin(
    margin: Decimal, price: Decimal, leverage: Decimal, inst: Instrument
) -> Decimal:
    """Size of a new position funded by `margin`, rounded **down** so it never needs more
    margin than was budgeted; zero if that is below the venue minimum."""
    size = round_size_down(contracts_for_margin(margin, price, leverage, inst), inst)
    return size if size >= inst.min_size else ZERO


def close_size(position_size: Decimal, wanted: Decimal, inst: Instrument) -> Decimal:
    """Apply SPEC §2 to a wanted close of `wanted` contracts out of `position_size`:
    rounded down to the lot; capped at the position; below the venue minimum -> 0 (not
    sent); leaving less than the minimum -> the whole position."""
    if position_size <= 0 or not wanted.is_finite() or wanted <= 0:
        return ZERO
    if wanted >= position_size:
        return position_size
    size = round_size_down(wanted, inst)
    if size < inst.min_size or size <= 0:
        return ZERO
    if position_size - size < inst.min_size:
        return position_size
    return size


def close_size_for_percent(position_size: Decimal, percent: Decimal, inst: Instrument) -> Decimal:
    """Close `percent` % of the position (rounded down, minimum rules applied)."""
    if not percent.is_finite() or percent <= 0:
        return ZERO
    if percent >= HUNDRED:
        return position_size
    return close_size(position_size, position_size * percent / HUNDRED, inst)


def close_size_to_keep(position_size: Decimal, keep: Decimal, inst: Instrument) -> Decimal:
    """Close down to `keep` contracts (a keep size is already rounded up)."""
    if keep >= position_size:
        return ZERO
    return close_size(position_size, position_size - keep, inst)


def close_size_for_coin(position_size: Decimal, coin: Decimal, inst: Instrument) -> Decimal:
    """A close typed as a coin amount (`/close BTC 0.001`)."""
    return close_size(position_size, contracts_from_coin(coin, inst), inst)


def with_slippage(price: Decimal, side: OrderSide, percent: Decimal, inst: Instrument) -> Decimal:
    """The worst acceptable price `percent` % away from `price` against `side`, on the tick."""
    factor = percent / HUNDRED
    raw = price * (1 + factor) if side is OrderSide.BUY else price * (1 - factor)
    return round_price(raw, inst, side)


def split_batches(size: Decimal, batches: int, inst: Instrument) -> list[Decimal]:
    """`size` in at most `batches` parts on the lot, none below the minimum; the last part
    takes the remainder."""
    count = max(1, min(batches, int(size // max(inst.min_size, inst.lot_size))))
    part = round_size_down(size / count, inst)
    return [part] * (count - 1) + [size - part * (count - 1)]
