"""`Store`: the calls the bot makes on the database, each one short transaction.

Callers are async handlers and jobs; giving every method its own transaction means none of
them holds a session across an `await`. Reads return `db.records` dataclasses, never ORM
objects. Time comes from the injected clock so tests never read the wall clock.
JSON columns store Decimals as exact strings: read them back with `Decimal(...)`.

Settings, events and confirmations live in `db.repo_control` (the base class); rule
state, the action journal, orders and fills are here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import Fill, Order, OrderState, Side
from db.models import ActionRow, ActionStepRow, FillRow, OrderRow, RuleStateRow
from db.records import (
    ActionRecord,
    ActionState,
    FillRecord,
    OrderRecord,
    Origin,
    RuleStateRecord,
    StepRecord,
    StepState,
    fill_columns,
    order_columns,
)
from db.repo_control import ControlStore, side_text

_ACTION_FIELDS = frozenset({"state", "plan", "result", "error", "chat_id", "message_id"})
_STEP_FIELDS = frozenset({"state", "params", "result", "error_code", "error_message",
                          "client_id"})
_UNFINISHED_STEPS = (StepState.INTENDED.value, StepState.SENT.value)
_UNFINISHED_ACTIONS = (ActionState.PLANNED.value, ActionState.RUNNING.value)
_OPEN_ORDERS = (OrderState.LIVE.value, OrderState.PARTIALLY_FILLED.value)
_IN_CHUNK = 500  # stays well under SQLite's bound-parameter limit

_Row = TypeVar("_Row", ActionRow, ActionStepRow)


class Store(ControlStore):
    """Everything the bot stores. `Store(Database(url), clock=...)`."""

    # -- rule state ----------------------------------------------------------------------

    @staticmethod
    def _rule_row(s: Session, account: str, symbol: str, side: Side | str,
                  rule: str) -> RuleStateRow | None:
        return s.scalars(select(RuleStateRow).where(
            RuleStateRow.account == account, RuleStateRow.symbol == symbol,
            RuleStateRow.side == str(side), RuleStateRow.rule == rule)).one_or_none()

    def get_rule_state(self, account: str, symbol: str, side: Side | str,
                       rule: str) -> dict[str, Any]:
        """The stored state, or an empty dict: a position nobody acted on yet."""
        with self._db.session() as s:
            row = self._rule_row(s, account, symbol, side, rule)
            return {} if row is None else dict(row.state)

    def put_rule_state(self, account: str, symbol: str, side: Side | str, rule: str,
                       state: Mapping[str, Any]) -> None:
        """Replace the whole state (not a merge: the rule owns its shape)."""
        now = self._now()
        with self._db.session() as s:
            row = self._rule_row(s, account, symbol, side, rule)
            if row is None:
                s.add(RuleStateRow(account=account, symbol=symbol, side=str(side), rule=rule,
                                   state=dict(state), created_at=now, updated_at=now))
            else:
                row.state = dict(state)
                row.updated_at = now

    def change_rule_state(self, account: str, symbol: str, side: Side | str, rule: str,
                          change: Callable[[dict[str, Any]], Mapping[str, Any] | None]
                          ) -> bool:
        """Read and replace one state in one transaction, the row locked meanwhile:
        `change(state)` gives the new state, or None to leave it as it is. True when
        changed. (Two separate calls could straddle another task's write.)"""
        with self._db.session() as s:
            row = s.scalars(select(RuleStateRow).where(
                RuleStateRow.account == account, RuleStateRow.symbol == symbol,
                RuleStateRow.side == str(side), RuleStateRow.rule == rule
            ).with_for_update()).one_or_none()
            new = change({} if row is None else dict(row.state))
            if new is None:
                return False
            if row is None:
                s.add(RuleStateRow(account=account, symbol=symbol, side=str(side), rule=rule,
                                   state=dict(new), created_at=self._now(),
                                   updated_at=self._now()))
            else:
                row.state, row.updated_at = dict(new), self._now()
            return True

    def put_rule_states(self, account: str, rule: str,
                        states: Mapping[tuple[str, str], Mapping[str, Any] | None]) -> None:
        """Several positions' states of one rule in one transaction: (symbol, side) ->
        the whole new state, or None to forget it."""
        now = self._now()
        with self._db.session() as s:
            for (symbol, side), state in states.items():
                row = self._rule_row(s, account, symbol, side, rule)
                if state is None:
                    if row is not None:
                        s.delete(row)
                elif row is None:
                    s.add(RuleStateRow(account=account, symbol=symbol, side=str(side),
                                       rule=rule, state=dict(state), created_at=now,
                                       updated_at=now))
                else:
                    row.state = dict(state)
                    row.updated_at = now

    def delete_rule_state(self, account: str, symbol: str, side: Side | str,
                          rule: str | None = None) -> int:
        """Forget one rule's state for a position, or every rule's when `rule` is None
        (the position is gone or was replaced). Returns the number of rows removed."""
        query = select(RuleStateRow).where(RuleStateRow.account == account,
                                           RuleStateRow.symbol == symbol,
                                           RuleStateRow.side == str(side))
        if rule is not None:
            query = query.where(RuleStateRow.rule == rule)
        with self._db.session() as s:
            rows = s.scalars(query).all()
            for row in rows:  # one by one: a cluster's fence sees what is deleted
                s.delete(row)
            return len(rows)

    def rule_states(self, account: str | None = None, rule: str | None = None,
                    symbol: str | None = None) -> list[RuleStateRecord]:
        query = select(RuleStateRow).order_by(RuleStateRow.account, RuleStateRow.symbol,
                                              RuleStateRow.side, RuleStateRow.rule)
        if account is not None:
            query = query.where(RuleStateRow.account == account)
        if rule is not None:
            query = query.where(RuleStateRow.rule == rule)
        if symbol is not None:
            query = query.where(RuleStateRow.symbol == symbol)
        with self._db.reading() as s:
            return [RuleStateRecord.of(r) for r in s.scalars(query)]

    # -- actions and steps ---------------------------------------------------------------

    def create_action(self, kind: str, account: str, symbol: str | None,
                      side: Side | str | None, origin: Origin | str,
                      plan: Mapping[str, Any], requested_by: int | None = None,
                      chat_id: int | None = None) -> int:
        now = self._now()
        row = ActionRow(kind=kind, account=account, symbol=symbol, side=side_text(side),
                        origin=Origin(origin).value, plan=dict(plan),
                        state=ActionState.PLANNED.value, requested_by=requested_by,
                        chat_id=chat_id, created_at=now, updated_at=now)
        with self._db.session() as s:
            s.add(row)
            s.flush()
            return row.id

    def update_action(self, action_id: int, **fields: Any) -> None:
        """Set any of state, plan, result, error, chat_id, message_id."""
        _check_fields(fields, _ACTION_FIELDS)
        if "state" in fields:
            fields["state"] = ActionState(fields["state"]).value
        with self._db.session() as s:
            row = _get(s, ActionRow, action_id)
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = self._now()

    def end_action(self, action_id: int, state: ActionState | str) -> bool:
        """Give an unfinished action its final `state`. True when this call ended it:
        of several that see it end at once (two orders of one close settling), only one
        tells it."""
        assert ActionState(state).is_final, state
        with self._db.session() as s:
            # locked: PostgreSQL's other sessions wait (SQLite's take turns anyway)
            row = s.get(ActionRow, action_id, with_for_update=True)
            if row is None or ActionState(row.state).is_final:
                return False
            row.state, row.updated_at = ActionState(state).value, self._now()
            return True

    def add_step(self, action_id: int, seq: int, kind: str, params: Mapping[str, Any],
                 client_id: str | None = None, *, planned: bool = False) -> int:
        """Journal a step as *intended*, before anything is sent for it; or as *planned*,
        one of several the action will send, none of which was attempted yet."""
        now = self._now()
        state = StepState.PLANNED if planned else StepState.INTENDED
        row = ActionStepRow(action_id=action_id, seq=seq, kind=kind, params=dict(params),
                            client_id=client_id, state=state.value,
                            created_at=now, updated_at=now)
        with self._db.session() as s:
            s.add(row)
            s.flush()
            return row.id

    def update_step(self, step_id: int, **fields: Any) -> None:
        """Set any of state, params, result, error_code, error_message, client_id."""
        _check_fields(fields, _STEP_FIELDS)
        if "state" in fields:
            fields["state"] = StepState(fields["state"]).value
        with self._db.session() as s:
            row = _get(s, ActionStepRow, step_id)
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = self._now()

    def unfinished_steps(self) -> list[StepRecord]:
        """Steps intended or sent but never settled: reconcile these on start."""
        query = (select(ActionStepRow).where(ActionStepRow.state.in_(_UNFINISHED_STEPS))
                 .order_by(ActionStepRow.action_id, ActionStepRow.seq))
        with self._db.session() as s:
            return [StepRecord.of(r) for r in s.scalars(query)]

    def unfinished_actions(self) -> list[ActionRecord]:
        """Actions planned or running (with their steps), oldest first."""
        query = (select(ActionRow).where(ActionRow.state.in_(_UNFINISHED_ACTIONS))
                 .order_by(ActionRow.id))
        with self._db.session() as s:
            return [_with_steps(s, r) for r in s.scalars(query)]

    def action_with_steps(self, action_id: int) -> ActionRecord | None:
        with self._db.session() as s:
            row = s.get(ActionRow, action_id)
            return None if row is None else _with_steps(s, row)

    def recent_actions(self, limit: int = 10, account: str | None = None,
                       symbols: Collection[str] | None = None) -> list[ActionRecord]:
        """Newest first, with steps: what `/history` lists."""
        query = select(ActionRow).order_by(ActionRow.created_at.desc(), ActionRow.id.desc())
        if account is not None:
            query = query.where(ActionRow.account == account)
        if symbols is not None:
            query = query.where(ActionRow.symbol.in_(list(symbols)))
        with self._db.session() as s:
            return [_with_steps(s, r) for r in s.scalars(query.limit(limit))]

    # -- orders and fills ----------------------------------------------------------------

    def upsert_order(self, account: str, order: Order, action_id: int | None = None,
                     step_id: int | None = None) -> int:
        """Insert or refresh the order keyed by (account, client_id); returns its row id.

        A snapshot older than what is stored (live after final, or less filled) is
        ignored: polls and pushes can arrive out of order, and the state must not go back.
        """
        now = self._now()
        with self._db.session() as s:
            row = s.scalars(select(OrderRow).where(
                OrderRow.account == account,
                OrderRow.client_id == order.client_id)).one_or_none()
            if row is None:
                row = OrderRow(account=account, client_id=order.client_id,
                               action_id=action_id, step_id=step_id, created_at=now,
                               updated_at=now, **order_columns(order))
                s.add(row)
                s.flush()
                return row.id
            links = {"action_id": action_id, "step_id": step_id}
            changes = {k: v for k, v in links.items() if v is not None}
            stale = (OrderState(row.state).is_final and not order.state.is_final) or (
                order.filled_size < row.filled_size)
            if not stale:
                changes.update(order_columns(order))
            if changes:
                for name, value in changes.items():
                    setattr(row, name, value)
                row.updated_at = now  # explicit: the injected clock, not the column's onupdate
            return row.id

    def get_order(self, account: str, client_id: str) -> OrderRecord | None:
        """Look an order up by the client id we gave it (after a restart or a timeout)."""
        with self._db.session() as s:
            row = s.scalars(select(OrderRow).where(
                OrderRow.account == account,
                OrderRow.client_id == client_id)).one_or_none()
            return None if row is None else OrderRecord.of(row)

    def open_orders(self, account: str | None = None) -> list[OrderRecord]:
        query = select(OrderRow).where(OrderRow.state.in_(_OPEN_ORDERS)).order_by(OrderRow.id)
        if account is not None:
            query = query.where(OrderRow.account == account)
        with self._db.session() as s:
            return [OrderRecord.of(r) for r in s.scalars(query)]

    def orders_for_action(self, action_id: int) -> list[OrderRecord]:
        query = select(OrderRow).where(OrderRow.action_id == action_id).order_by(OrderRow.id)
        with self._db.session() as s:
            return [OrderRecord.of(r) for r in s.scalars(query)]

    def recent_orders(self, limit: int = 20) -> list[OrderRecord]:
        """Newest first."""
        query = select(OrderRow).order_by(OrderRow.created_at.desc(), OrderRow.id.desc())
        with self._db.session() as s:
            return [OrderRecord.of(r) for r in s.scalars(query.limit(limit))]

    def record_fills(self, account: str, fills: Iterable[Fill]) -> int:
        """Store fills not seen before; returns how many were new. Safe to call with
        overlapping pages of a venue's fill history."""
        pending: dict[tuple[str, str], Fill] = {}
        for fill in fills:
            pending.setdefault((fill.symbol, fill.trade_id), fill)
        if not pending:
            return 0
        now = self._now()
        with self._db.session() as s:
            trade_ids = sorted({trade_id for _, trade_id in pending})
            for start in range(0, len(trade_ids), _IN_CHUNK):
                chunk = trade_ids[start:start + _IN_CHUNK]
                seen = s.execute(select(FillRow.symbol, FillRow.trade_id).where(
                    FillRow.account == account, FillRow.trade_id.in_(chunk)))
                for symbol, trade_id in seen:
                    pending.pop((symbol, trade_id), None)
            s.add_all(FillRow(created_at=now, **fill_columns(account, fill))
                      for fill in pending.values())
        return len(pending)

    def fills_since(self, since: datetime | None = None) -> list[FillRecord]:
        """Every recorded fill from `since` on (all: None), oldest first: what `/pnl` adds."""
        query = select(FillRow).order_by(FillRow.time, FillRow.id)
        if since is not None:
            query = query.where(FillRow.time >= since)
        with self._db.session() as s:
            return [FillRecord.of(r) for r in s.scalars(query)]

    def action_symbols(self) -> list[str]:
        """Every instrument an action was taken on."""
        with self._db.session() as s:
            return list(s.scalars(select(ActionRow.symbol)
                                  .where(ActionRow.symbol.is_not(None)).distinct()))

    def fills_for_orders(self, account: str, client_ids: Iterable[str]) -> list[FillRecord]:
        """The fills of several orders of one account (an action's), in one query a chunk."""
        ids, found = sorted(set(client_ids)), []
        with self._db.session() as s:
            for start in range(0, len(ids), _IN_CHUNK):
                query = (select(FillRow).where(
                    FillRow.account == account,
                    FillRow.order_client_id.in_(ids[start:start + _IN_CHUNK]))
                    .order_by(FillRow.time, FillRow.id))
                found += [FillRecord.of(r) for r in s.scalars(query)]
        return found

    def fills_for_order(self, account: str, client_id: str) -> list[FillRecord]:
        query = (select(FillRow).where(FillRow.account == account,
                                       FillRow.order_client_id == client_id)
                 .order_by(FillRow.time, FillRow.id))
        with self._db.session() as s:
            return [FillRecord.of(r) for r in s.scalars(query)]

    def fills_on(self, account: str, symbol: str, since: datetime) -> list[FillRecord]:
        """One account's fills on one instrument from `since` on, oldest first: the
        trades `/chart` marks."""
        query = (select(FillRow).where(FillRow.account == account, FillRow.symbol == symbol,
                                       FillRow.time >= since)
                 .order_by(FillRow.time, FillRow.id))
        with self._db.session() as s:
            return [FillRecord.of(r) for r in s.scalars(query)]


def _check_fields(fields: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"cannot update {sorted(unknown)}; allowed: {sorted(allowed)}")


def _get(s: Session, model: type[_Row], key: int) -> _Row:
    row = s.get(model, key)
    if row is None:
        raise KeyError(f"no {model.__name__} with id {key}")
    return row


def _with_steps(s: Session, row: ActionRow) -> ActionRecord:
    steps = s.scalars(select(ActionStepRow).where(ActionStepRow.action_id == row.id)
                      .order_by(ActionStepRow.seq))
    return ActionRecord.of(row, tuple(StepRecord.of(step) for step in steps))
