"""The rule loops: for each account, one job per use case, each run calling one op."""

from __future__ import annotations

from bot.config import Config, RuleMode, WatcherMode
from bot.ops.ops import Ops
from jobs.scheduler import Jobs

POSITION_LOG_SECONDS = 30


def schedule_loops(jobs: Jobs, config: Config, ops: Ops,
                   accounts: list[str] | None = None) -> dict[str, list[str]]:
    """The loops of `accounts` (default: all); each account's job names."""
    rules = config.rules
    before = set(jobs.names())
    added: dict[str, list[str]] = {}
    for account in config.accounts:
        name = account.name
        if accounts is not None and name not in accounts:
            continue
        jobs.add(f"position_log:{name}", POSITION_LOG_SECONDS,
                 lambda n=name: ops.position_log.run(n))
        if {account.rule_mode("take_profit"), account.rule_mode("hedge")} != {RuleMode.OFF}:
            jobs.add(f"take_profit:{name}", rules.take_profit.interval_seconds,
                     lambda n=name: ops.take_profit.run(n))
        if account.rule_mode("correction") is not RuleMode.OFF:
            jobs.add(f"correction:{name}", rules.correction.interval_seconds,
                     lambda n=name: ops.correction.run(n))
        for grid in (g for g in config.grids if g.account == name):
            if account.rule_mode("grid") is not RuleMode.OFF:
                jobs.add(f"grid:{grid.name}", rules.grid.interval_seconds,
                         lambda g=grid.name: ops.grid.run(g))
        if account.rules.watcher is not WatcherMode.OFF:
            jobs.add(f"watcher:{name}", rules.maintenance.watcher.interval_seconds,
                     lambda n=name: ops.watcher.run(n))
        added[name] = [job for job in jobs.names() if job not in before]
        before |= set(added[name])
    return added
