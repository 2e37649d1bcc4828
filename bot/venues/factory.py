"""Builds one Venue per configured account."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.config import AccountConfig, Config
from bot.venues.base import Venue
from bot.venues.paper import PaperExchange, PaperStore, PaperVenue, open_paper_exchange
from bot.venues.paper.engine import FeeRates

HUNDRED = Decimal(100)


class VenueSetupError(Exception):
    """A configured account that cannot be opened; the message names it."""


@dataclass(slots=True)
class PaperRuntime:
    """The one paper exchange all paper accounts share, and where it is saved."""

    exchange: PaperExchange
    store: PaperStore

    def tick(self) -> None:
        self.exchange.tick()
        self.store.save_if_changed(self.exchange)


def build_venues(config: Config, clock: Callable[[], datetime],
                 base_dir: Path | None = None) -> tuple[dict[str, Venue], PaperRuntime | None]:
    venues: dict[str, Venue] = {}
    paper_accounts = [(a.name, a.role) for a in config.accounts if a.venue == "paper"]
    runtime = None
    if paper_accounts:
        path = Path(config.paper.state_path)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        store = PaperStore(path)
        try:
            exchange = open_paper_exchange(
                store, paper_accounts, demo_portfolio=config.paper.demo_portfolio,
                start_balance=lambda role: getattr(config.paper.start_balance, role),
                seed=config.paper.seed,
                step=config.paper.random_walk_step, clock=clock,
                fees=FeeRates(maker=config.paper.maker_fee_pct / HUNDRED,
                              taker=config.paper.taker_fee_pct / HUNDRED))
        except (OSError, ValueError, KeyError) as exc:
            raise VenueSetupError(f"paper state {path}: cannot be loaded ({exc})") from exc
        runtime = PaperRuntime(exchange, store)
    shared: dict[tuple[Any, ...], Any] = {}  # what the accounts of one site share
    for index, account in enumerate(config.accounts):
        if account.venue == "paper":
            assert runtime is not None
            venues[account.name] = PaperVenue(runtime.exchange, account.name, runtime.store)
        else:
            try:
                venues[account.name] = _network_venue(account, shared)
            except ValueError as exc:
                raise VenueSetupError(f"accounts[{index}] ({account.name}): {exc}") from None
    return venues, runtime


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _network_venue(account: AccountConfig, shared: dict[tuple[Any, ...], Any]) -> Venue:
    """An OKX, Lighter or ccxt account. The SDKs are imported here, not at the top: ccxt
    alone takes half a second to import, which the paper demo should not pay. OKX
    accounts of one site share its HTTP client and instrument list (`shared`)."""
    if account.venue == "okx":
        from bot.venues.okx.site import OkxSite
        from bot.venues.okx.venue import OkxVenue

        site = ("okx", account.base_url, account.demo)
        if site not in shared:
            shared[site] = OkxSite(demo=account.demo, base_url=account.base_url)
        return OkxVenue(account.name, api_key=_secret(account.api_key),
                        api_secret=_secret(account.api_secret),
                        passphrase=_secret(account.passphrase), demo=account.demo,
                        base_url=account.base_url, ws_url=account.ws_url,
                        site=shared[site])
    if account.venue == "lighter":
        from bot.venues.lighter.venue import LighterVenue

        assert account.account_index is not None and account.api_key_index is not None
        return LighterVenue(account.name, api_key=_secret(account.api_key),
                            account_index=account.account_index,
                            api_key_index=account.api_key_index, base_url=account.base_url,
                            ws_url=account.ws_url)
    from bot.venues.ccxt.venue import CcxtVenue

    assert account.exchange is not None  # config validation requires it for ccxt
    return CcxtVenue(account.name, account.exchange, api_key=_secret(account.api_key),
                     api_secret=_secret(account.api_secret),
                     passphrase=_secret(account.passphrase) or None, demo=account.demo,
                     base_url=account.base_url, ws_url=account.ws_url)
