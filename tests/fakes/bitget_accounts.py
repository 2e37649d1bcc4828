"""The paper accounts the Bitget contract tests trade through the fake Bitget server:
the same book as the OKX contract tests (okx_accounts.seeded_exchange: an APT long/short
pair on "main", an APT long on "sub1"), so an exchange-neutral test expects the same
numbers through either wire. APT's contract is one coin, so its sizes read the same in
OKX contracts and Bitget coin; BTC (0.01 coin a contract) is where the two differ."""

from __future__ import annotations

from tests.fakes.bitget_server import Credentials
from tests.fakes.okx_accounts import seeded_exchange

__all__ = ["CREDENTIALS", "KEYS", "credentials_of", "seeded_exchange"]

KEYS = {"bg-key-main": "main", "bg-key-sub1": "sub1"}
CREDENTIALS = {"bg-key-main": Credentials("bg-secret-main", "bg-pass-main"),
               "bg-key-sub1": Credentials("bg-secret-sub1", "bg-pass-sub1")}


def credentials_of(account: str) -> dict[str, str]:
    """CcxtVenue keyword arguments for a seeded account's key."""
    key = next(k for k, name in KEYS.items() if name == account)
    creds = CREDENTIALS[key]
    return {"api_key": key, "api_secret": creds.secret, "passphrase": creds.passphrase}
