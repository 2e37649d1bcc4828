"""The `rules:` section of the config: every rule's settings, with the spec's defaults.

Split from bot/config.py, which imports it; the shared building blocks (`_Section`,
the number types) live here because both need them.
"""

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from bot.config_errors import field_problem, reject_bool

NoBoolInt = Annotated[int, BeforeValidator(reject_bool)]
Seconds = Annotated[NoBoolInt, Field(ge=1)]
Money = Annotated[Decimal, Field(gt=0)]
Pct = Annotated[Decimal, Field(gt=0, lt=100)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_default(cls, data: Any) -> Any:
        # `telegram:` with every child commented out parses as null.
        return {} if data is None else data


class TakeProfitTier(_Section):
    profit_pct: Money
    close_pct: Annotated[Decimal, Field(gt=0, le=100)]


def _ladder(tiers: list[TakeProfitTier]) -> list[TakeProfitTier]:
    for i in range(1, len(tiers)):
        if tiers[i].profit_pct <= tiers[i - 1].profit_pct:
            previous = tiers[i - 1].profit_pct
            raise field_problem(
                f"[{i}].profit_pct", f"must be above the previous tier's {previous}"
            )
    return tiers


Ladder = Annotated[list[TakeProfitTier], Field(min_length=1), AfterValidator(_ladder)]


def _tiers(*pairs: tuple[int, int]) -> list[TakeProfitTier]:
    return [TakeProfitTier(profit_pct=Decimal(p), close_pct=Decimal(c)) for p, c in pairs]


class TakeProfitLadders(_Section):
    """Tier 1 closes close_pct of the size; each later tier close_pct of what is left."""

    long: Ladder = Field(default_factory=lambda: _tiers((25, 30), (35, 50), (50, 50)))
    short: Ladder = Field(default_factory=lambda: _tiers((35, 30), (45, 50), (55, 50)))


class TakeProfitOverride(_Section):
    long: Ladder | None = None
    short: Ladder | None = None


class TakeProfitSettings(TakeProfitLadders):
    interval_seconds: Seconds = 10
    min_margin: Annotated[Decimal, Field(ge=0)] = Decimal(1)


class HedgeSettings(_Section):
    keep_margin: Money = Decimal(1)
    min_margin: Annotated[Decimal, Field(ge=0)] = Decimal(1)


class SuperTier(_Section):
    amount: Money
    target: Money

    @model_validator(mode="after")
    def _target_below_amount(self) -> "SuperTier":
        if self.target >= self.amount:
            raise field_problem("target", f"must be below amount ({self.amount})")
        return self


class WatcherSettings(_Section):
    loss_pct: Annotated[Decimal, Field(lt=0)] = Decimal(-30)
    cooldown_seconds: Seconds = 6 * 3600
    interval_seconds: Seconds = 10


class MaintenanceSettings(_Section):
    multiplier: Annotated[Decimal, Field(gt=1)] = Decimal(10)
    keep_share_pct: Pct = Decimal(8)
    super_ladder: Annotated[list[SuperTier], Field(min_length=1)] = Field(
        default_factory=lambda: [
            SuperTier(amount=Decimal(a), target=Decimal(t))
            for a, t in ((100, 10), (100, 10), (200, 20))
        ]
    )
    watcher: WatcherSettings = Field(default_factory=WatcherSettings)
    # For the pre-check only (the fills carry the real fees): OKX's regular taker rate.
    taker_fee_pct: Annotated[Decimal, Field(ge=0, lt=100)] = Decimal("0.05")


class CorrectionTarget(_Section):
    notional: Money
    margin: Money


class CorrectionSettings(_Section):
    interval_seconds: Seconds = 300
    leverage: Annotated[NoBoolInt, Field(ge=1, le=125)] = 10
    tolerance_pct: Annotated[Decimal, Field(ge=0)] = Decimal(5)
    margin_step: Money = Decimal(5)
    # Indexed by maintenance count; counts past the end use the last entry.
    targets: Annotated[list[CorrectionTarget], Field(min_length=1)] = Field(
        default_factory=lambda: [
            CorrectionTarget(notional=Decimal(n), margin=Decimal(m))
            for n, m in ((100, 10), (100, 10), (200, 20))
        ]
    )

    def target_for(self, maintenance_count: int) -> CorrectionTarget:
        return self.targets[min(max(maintenance_count, 0), len(self.targets) - 1)]


class CloseSettings(_Section):
    slippage_pct: Pct = Decimal("0.5")
    limit_offset_pct: Pct = Decimal("0.5")
    gtt_seconds: Seconds = 3600
    batches: Annotated[NoBoolInt, Field(ge=1)] = 5
    batch_interval_seconds: Annotated[Decimal, Field(ge=0)] = Decimal(2)
    book_levels: Annotated[NoBoolInt, Field(ge=1)] = 3
    follow_timeout_seconds: Seconds = 60
    follow_poll_seconds: Annotated[Decimal, Field(gt=0)] = Decimal(1)
    # An order sent with an unknown outcome is looked up, never re-sent, this long.
    late_window_seconds: Annotated[Decimal, Field(ge=0)] = Decimal(30)


class GridSettings(_Section):
    interval_seconds: Seconds = 5
    sell_protection_ratio: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.95")


class RulesConfig(_Section):
    take_profit: TakeProfitSettings = Field(default_factory=TakeProfitSettings)
    hedge: HedgeSettings = Field(default_factory=HedgeSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    correction: CorrectionSettings = Field(default_factory=CorrectionSettings)
    close: CloseSettings = Field(default_factory=CloseSettings)
    grid: GridSettings = Field(default_factory=GridSettings)
