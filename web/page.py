"""The status page: the `/api/status` data drawn as one self-contained HTML page (no
external assets, every value escaped). A small script fetches the page again every
few seconds and swaps its content in, so it stays current without a reload, and says
so when the bot stops answering."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from html import escape
from typing import Any

from web.data import two_places

REFRESH_SECONDS = 5

Row = list[str]


def _e(value: object) -> str:
    return "—" if value is None or value == "" else escape(str(value))


def _clock(iso: str | None) -> str:
    """`2025-01-02T03:04:05.678Z` as `03:04:05`, the full time on hover."""
    if iso is None:
        return "—"
    return f'<time datetime="{escape(iso)}" title="{escape(iso)}">{escape(iso[11:19])}</time>'


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {escape(kind)}">{escape(text)}</span>'


def _table(title: str, head: Iterable[str], rows: list[Row], empty: str, anchor: str) -> str:
    heads = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    table = (f"<table><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>" if rows
             else f'<p class="empty">{escape(empty)}</p>')
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{table}</section>'


def _2(value: str | None) -> str:
    """A Decimal string of the data as the chat shows money and rates."""
    return "—" if value is None else escape(two_places(Decimal(value)))


def _signed(value: str | None, suffix: str = "") -> str:
    if value is None:
        return "—"
    number = Decimal(value)
    kind = "loss" if number < 0 else "gain" if number > 0 else ""
    return f'<span class="{kind}">{_2(value)}{suffix}</span>'


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def _account_card(a: dict[str, Any]) -> str:
    balance = a["balance"]
    if balance is None:
        state = _badge("unreachable", "bad")
        body = f'<p class="error">{_e(a["error"])}</p>'
    else:
        state = _badge("reachable", "ok")
        body = (f'<p><span class="money">{_2(balance["equity"])} {_e(balance["currency"])}'
                f'</span> <span class="muted">equity · {_2(balance["free"])} free</span></p>')
    return (f'<div class="card"><h3>{_e(a["name"])} {state}</h3>'
            f'<p class="muted">{_e(a["venue"])} · {_e(a["role"])} · take-profit '
            f'{_e(a["take_profit"])} · {_count(len(a["positions"]), "position")}</p>{body}</div>')


def _ladder(tp: dict[str, Any] | None) -> str:
    if tp is None:
        return '<span class="muted">take-profit off</span>'
    chips = "".join(
        f'<span class="tier {"fired" if i < tp["fired"] else ""}">'
        f'{_e(t["profit_pct"])}%→{_e(t["close_pct"])}%</span>'
        for i, t in enumerate(tp["ladder"]))
    return f'<div class="ladder">{chips}</div>'


def _position_rows(accounts: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for a in accounts:
        if a["positions_error"] is not None:
            rows.append([_e(a["name"]), f'<span class="error wrap">cannot read positions: '
                         f'{_e(a["positions_error"])}</span>', *[""] * 7])
        for p in a["positions"]:
            tp = p["take_profit"]
            rows.append([
                _e(a["name"]), f"<b>{_e(p['symbol'])}</b> " + _badge(p["side"], p["side"]),
                f'{_e(p["size"])} ct <small>{_e(p["size_coin"])} {_e(p["coin"])}</small>',
                f'{_e(p["entry_price"])} → {_e(p["mark_price"])}',
                f'{_2(p["margin"])} <small>{_e(p["leverage"])}×</small>',
                _signed(p["unrealized_pnl"]), _signed(p["profit_rate"], "%"),
                _ladder(tp), f'<span class="why">{_e(tp["status"])}</span>' if tp else "—",
            ])
    return rows


def _job_rows(jobs: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for j in jobs:
        state = (_badge("paused", "warn") if j["paused"] else _badge("running", "ok")
                 if j["running"] else _badge("failing", "bad") if j["last_error"]
                 else _badge("idle", "muted"))
        took = j["last_duration_seconds"]
        rows.append([f"<b>{_e(j['name'])}</b>", f'{j["interval_seconds"]:g} s',
                     _clock(j["last_run"]), "—" if took is None else f"{took:.2f} s",
                     _clock(j["next_run"]), _e(j["runs"]), state,
                     f'<span class="error">{_e(j["last_error"])}</span>'
                     if j["last_error"] else "—"])
    return rows


def _order_rows(orders: list[dict[str, Any]]) -> list[Row]:
    return [[_e(o["account"]), f"<b>{_e(o['symbol'])}</b>",
             f'{_e(o["side"])} {_e(o["type"])}' + (" reduce-only" if o["reduce_only"] else ""),
             _e(o["position_side"]), f'{_e(o["filled_size"])} / {_e(o["size"])}',
             _e(o["price"]), _e(o["state"]),
             _e(o["action_kind"]) + (f' #{o["action_id"]}' if o["action_id"] else "")
             + (f' {_e(o["grid"])} level {_e(o["grid_level"])}' if o["grid"] else ""),
             f'<code>{_e(o["client_id"])}</code>', _clock(o["created_at"])] for o in orders]


def _event_rows(events: list[dict[str, Any]]) -> list[Row]:
    return [[_clock(e["time"]), _badge(e["severity"], e["severity"]),
             f"<code>{_e(e['name'])}</code>",
             _e(" ".join(x for x in (e["account"], e["symbol"], e["side"]) if x)),
             _e(e["message"])] for e in events]


def status_html(data: dict[str, Any], *, nonce: str) -> str:
    state = _badge("paused", "warn") if data["paused"] else _badge("running", "ok")
    demo = _badge("paper demo", "muted") if data["demo"] else ""
    cards = "".join(_account_card(a) for a in data["accounts"])
    tables = [
        _table("Positions", ["account", "instrument", "size", "entry → mark", "margin",
                             "PnL", "profit", "take-profit tiers", "next tier or why skipped"],
               _position_rows(data["accounts"]), "No open positions.", "positions"),
        _table("Jobs", ["job", "every", "last run", "took", "next run", "runs", "state",
                        "last error"], _job_rows(data["jobs"]), "No jobs.", "jobs"),
        _table("Resting orders", ["account", "instrument", "order", "position",
                                  "filled / size", "price", "state", "for", "client id",
                                  "placed"],
               _order_rows(data["resting_orders"]), "No resting orders.", "orders"),
        _table("Recent events", ["time", "severity", "event", "where", "message"],
               _event_rows(data["events"]), "No events yet.", "events"),
    ]
    content = (f'<header><h1>Anchor bot</h1>{state}{demo}<span class="muted">updated '
               f'{_clock(data["time"])} UTC · refreshes every {REFRESH_SECONDS} s</span>'
               f'<span id="stale" class="badge bad" hidden>not answering</span></header>'
               f'<section id="accounts"><h2>Accounts</h2><div class="cards">{cards}</div>'
               f'</section>' + "".join(tables))
    return PAGE.format(style=STYLE, content=content, nonce=nonce,
                       script=SCRIPT.replace("REFRESH_MS", str(REFRESH_SECONDS * 1000)))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Anchor bot · status</title><style>{style}</style>
<noscript><meta http-equiv="refresh" content="10"></noscript></head>
<body><main id="status">{content}</main>
<script nonce="{nonce}">{script}</script></body></html>"""

# The same URL again (its ?token= included), its <main> swapped in: one renderer, here.
SCRIPT = """
let refreshes = 0;
async function refresh() {
  try {
    const answer = await fetch(location.href, {cache: 'no-store'});
    if (!answer.ok) throw new Error(answer.status);
    const page = new DOMParser().parseFromString(await answer.text(), 'text/html');
    document.getElementById('status').replaceWith(page.getElementById('status'));
    document.body.dataset.refreshes = ++refreshes;
  } catch (e) { document.getElementById('stale').hidden = false; }
}
setInterval(refresh, REFRESH_MS);
"""

STYLE = """
:root{--fg:#1d2330;--muted:#6b7280;--line:#e5e7eb;--bg:#f6f7f9;--ok:#0f7b3f;--bad:#b42318;
--warn:#b54708;--long:#0f7b3f;--short:#b42318}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);
font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:1400px;margin:0 auto;padding:12px 20px}
header{display:flex;gap:12px;align-items:center;flex-wrap:wrap;margin-bottom:8px}
h1{font-size:20px;margin:0 8px 0 0}h2{font-size:15px;margin:14px 0 6px;color:#374151}
h3{font-size:15px;margin:0 0 4px}p{margin:2px 0}small{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 14px}
.money{font-size:17px;font-weight:600}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid var(--line);
border-radius:8px;overflow:hidden}th,td{padding:3px 8px;text-align:left;
border-bottom:1px solid var(--line);vertical-align:top;font-variant-numeric:tabular-nums}
th{background:#f0f2f5;font-weight:600;font-size:12px;color:#4b5563;white-space:nowrap}
td{white-space:nowrap}td:last-child,.wrap{white-space:normal}
tr:last-child td{border-bottom:0}code{font-size:12px}[hidden]{display:none!important}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;
font-weight:600;background:#eef0f3;color:var(--muted)}
.badge.ok{background:#dcfce7;color:var(--ok)}.badge.bad,.badge.error{background:#fee4e2;
color:var(--bad)}.badge.warn,.badge.warning{background:#fef0c7;color:var(--warn)}
.badge.long{background:#dcfce7;color:var(--long)}.badge.short{background:#fee4e2;
color:var(--short)}.gain{color:var(--ok)}.loss{color:var(--bad)}
.muted{color:var(--muted)}.error{color:var(--bad)}.empty{color:var(--muted);margin:4px 0}
.ladder{display:flex;gap:3px}.tier{border:1px solid var(--line);
border-radius:4px;padding:0 4px;font-size:11px;color:var(--muted)}
.tier.fired{background:#dcfce7;border-color:#abefc6;color:var(--ok)}
.why{color:#374151}
"""
