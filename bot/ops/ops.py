"""All the use cases together, as the composition root builds them for the fronts."""

from __future__ import annotations

from bot.ops.chart import Charts
from bot.ops.close import Closing
from bot.ops.context import Context
from bot.ops.control import Control
from bot.ops.correction import Correction
from bot.ops.followups import Followups
from bot.ops.grid import Grids
from bot.ops.history import History
from bot.ops.maintenance import Maintenance
from bot.ops.orders import Orders
from bot.ops.overview import Overview
from bot.ops.position_log import PositionLog
from bot.ops.positions import Positions
from bot.ops.recovery import Recovery
from bot.ops.status import JobBoard, Status
from bot.ops.take_profit import TakeProfit
from bot.ops.watcher import Watcher
from bot.ops.why import Timelines


class Ops:
    def __init__(self, ctx: Context, jobs: JobBoard) -> None:
        self.ctx = ctx
        self.control = Control(ctx)
        self.positions = Positions(ctx)
        self.followups = Followups(ctx)
        self.closing = Closing(ctx, self.followups)
        self.take_profit = TakeProfit(ctx, self.closing)
        self.maintenance = Maintenance(ctx)
        self.watcher = Watcher(ctx, self.maintenance)
        self.correction = Correction(ctx)
        self.grid = Grids(ctx)
        self.why = Timelines(ctx)
        self.orders = Orders(ctx)
        self.chart = Charts(ctx)
        self.history = History(ctx)
        self.position_log = PositionLog(ctx)
        self.status = Status(ctx, jobs)
        self.overview = Overview(ctx, self.status, self.positions, self.orders)
        self.recovery = Recovery(ctx, self.maintenance, self.correction, self.followups)

