"""The status page front: a read-only page and JSON API over `bot.ops`, served by aiohttp
in the bot's own process (`status_page` in the config). It reads one op,
`ops.overview.snapshot()`, and only translates it: the page and the chat show the same
numbers because they ask the same ops."""
