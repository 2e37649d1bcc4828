"""What every OKX account of one site (live or demo, one base URL) shares: one
asynchronous HTTP client and the instrument list (issue 16).

python-okx is synchronous: each of its API objects is an `httpx.Client` with its own
TLS context (~0.8 MB, ~60 ms to build), and its calls have to run in worker threads.
With asyncio's default pool (CPUs + 4 threads: six on a 2-core machine) 20 accounts'
reads went out in waves of six, and 200 accounts needed 800 clients (758 MB, 13 s to
start). Here the accounts of a site share one `httpx.AsyncClient` — one TLS context and
one connection pool, HTTP/2 where the server offers it — and no request waits for a
thread or for another account's. python-okx still gives the endpoint paths and the
signature (`okx.consts`, `okx.utils`); README "Performance" has the measurements.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from okx import consts, utils

from bot.venues.instrument_cache import InstrumentCache, Loader

INSTRUMENT_REFRESH_SECONDS = 30.0  # an unknown symbol reloads the list at most this often
# Plain HTTP/1.1 (a local server) needs a connection per request in flight: enough for
# every account of a large desk to read at once. Over TLS, HTTP/2 multiplexes them.
MAX_CONNECTIONS = 512


@dataclass(frozen=True, slots=True)
class OkxKeys:
    """One account's API key; the secret and passphrase never appear in a repr."""

    api_key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)


class OkxSite:
    def __init__(self, *, demo: bool = False, base_url: str | None = None) -> None:
        self.flag = "1" if demo else "0"  # python-okx's flag: 1 = demo trading
        self.http = httpx.AsyncClient(
            base_url=(base_url or consts.API_URL).rstrip("/"), http2=True,
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS,
                                max_keepalive_connections=MAX_CONNECTIONS))
        self._instruments: InstrumentCache | None = None
        self._users = 0

    async def request(self, method: str, path: str, params: dict[str, Any], *,
                      keys: OkxKeys | None, timeout: float) -> Any:
        """One call, signed when `keys` are given (market data needs none). GET drops
        empty parameters from the query, as python-okx does; the answer is the parsed
        JSON (raises json.JSONDecodeError when it is not JSON)."""
        if method == consts.GET:
            path += utils.parse_params_to_str(params)
        body = json.dumps(params) if method == consts.POST else ""
        if keys is None:
            headers = utils.get_header_no_sign(self.flag, False)
        else:
            timestamp = utils.get_timestamp()
            sign = utils.sign(utils.pre_hash(timestamp, method, path, body, False), keys.secret)
            headers = utils.get_header(keys.api_key, sign, timestamp, keys.passphrase,
                                       self.flag, False)
        answer = await self.http.request(method, path, content=body or None, headers=headers,
                                         timeout=timeout)
        return json.loads(answer.content)

    def instruments(self, load: Loader) -> InstrumentCache:
        """The shared list; the first account's loader fills it (any account's would
        read the same public endpoint)."""
        if self._instruments is None:
            self._instruments = InstrumentCache(load, INSTRUMENT_REFRESH_SECONDS)
        return self._instruments

    def join(self) -> OkxSite:
        self._users += 1
        return self

    async def leave(self) -> None:
        """An account closing; the last one closes the client."""
        self._users -= 1
        if self._users <= 0:
            await self.http.aclose()
