"""What every OKX account of one site (live or demo, one base URL) shares: one
asynchronous HTTP client and the instrument list (issue 16).

python-okx is synchronous: each of its API objects is an `httpx.Client` with its own
TLS context (~0.8 MB, ~60 ms to build), and its calls have to run in worker threads.
With asyncio's default pool (CPUs + 4 threads: six on a 2-core machine) 20 accounts'
reads went out in waves of six, and 200 accounts needed 800 clients (758 MB, 13 s to
start). Here the accounts of a site share one aiohttp session — one TLS context and one
connection pool — and no request waits for a thread or for another account's.

Why aiohttp and not httpx's own AsyncClient: httpcore's pool (1.0.9) looks at every
connection it holds on every request (a socket poll and an async-library look-up each);
at 200 accounts that was 58% of the bot's CPU and the take-profit runs fell behind,
where aiohttp's pool takes a free connection off a queue. (ccxt talks through aiohttp
too.) python-okx still gives the endpoint paths and the signature (`okx.consts`,
`okx.utils`); README "Performance" has the measurements.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from okx import consts, utils

from bot.venues.instrument_cache import InstrumentCache, Loader

log = logging.getLogger(__name__)

INSTRUMENT_REFRESH_SECONDS = 30.0  # an unknown symbol reloads the list at most this often
# A connection per request in flight (HTTP/1.1): enough for every account of a large
# desk to read at once; idle ones are kept for the next round.
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
        self.base_url = (base_url or consts.API_URL).rstrip("/")
        self._http: aiohttp.ClientSession | None = None  # made in the event loop, on use
        self.closed = False
        self._instruments: InstrumentCache | None = None
        self._users = 0

    async def request(self, method: str, path: str, params: dict[str, Any], *,
                      keys: OkxKeys | None, timeout: float) -> Any:
        """One call, signed when `keys` are given (market data needs none). GET drops
        empty parameters from the query, as python-okx does; the answer is the parsed
        JSON (raises json.JSONDecodeError when it is not JSON, TimeoutError after
        `timeout` seconds, aiohttp.ClientError when the request failed)."""
        if method == consts.GET:
            path += utils.parse_params_to_str(params)
        body = json.dumps(params) if method == consts.POST else ""
        if keys is None:
            headers = utils.get_header_no_sign(self.flag, False)
        else:
            timestamp = utils.get_timestamp()
            sign = utils.sign(utils.pre_hash(timestamp, method, path, body, False),
                              keys.secret).decode()  # (base64 bytes: headers are text)
            headers = utils.get_header(keys.api_key, sign, timestamp, keys.passphrase,
                                       self.flag, False)
        if self._http is None:
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                limit=MAX_CONNECTIONS, ttl_dns_cache=300))
        async with self._http.request(method, self.base_url + path, data=body or None,
                                      headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=timeout)) as answer:
            raw = await answer.read()
        log.debug("okx_request %s %s status=%s bytes=%d", method, path, answer.status, len(raw))
        return json.loads(raw)

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
        """An account closing; the last one closes the session."""
        self._users -= 1
        if self._users <= 0 and not self.closed:
            self.closed = True
            if self._http is not None:
                await self._http.close()
