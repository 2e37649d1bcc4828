"""Every use case exactly once, for every front (Telegram, the jobs, a status page).

Plain data in and out, typed events out (`events`), one `Refusal` error; may use the
database `Store`; never imports Telegram, the scheduler or a front. `Ops` (in `ops.py`)
holds them all, built once by the composition root.
"""
