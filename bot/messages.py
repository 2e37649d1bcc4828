"""Message texts in Chinese and English, and number formatting with units.

Every text the user reads comes from here, so the two languages stay in step: a key
missing from one of them fails the test that compares the tables.
"""

from __future__ import annotations

from decimal import Decimal

LANGUAGES = ("zh", "en")

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "start": "你好，我是永续合约仓位控制机器人。\n{mode}\n发送 /help 查看全部命令。",
        "mode_demo": "当前为模拟盘演示（paper），不会触及真实资金。",
        "mode_live": "已连接账户：{accounts}",
        "help_title": "命令列表：",
        "unauthorized": "抱歉，你没有权限使用这个机器人。",
        "stale_update": "机器人离线期间收到的命令未执行：{text}（{age} 秒前）。"
                        "如仍需要，请重新发送。",
        "unknown_command": "未知命令：{text}\n发送 /help 查看全部命令。",
        "internal_error": "处理命令时出错（{kind}），详情已记录。没有下任何单。",
        "usage": "用法：{usage}",
        "bad_argument": "{reason}\n用法：{usage}",
        "unknown_account": "未知账户：{name}。可用账户：{names}",
        "paused": "⏸ 已暂停：所有自动操作已停止。发送 /resume 恢复。",
        "already_paused": "已经处于暂停状态。",
        "resumed": "▶️ 已恢复：自动操作重新开始。",
        "not_paused": "当前没有暂停。",
        "lang_set": "语言已切换为中文。",
        "lang_usage": "/lang zh|en",
        "status_title": "📊 状态",
        "status_paused": "⏸ 全局暂停中（自动操作已停止）",
        "status_running": "▶️ 运行中",
        "status_venues": "交易所：",
        "venue_ok": "  ✅ {account}（{venue}）可用，余额 {equity}，可用 {free}",
        "venue_down": "  ❌ {account}（{venue}）不可用：{error}",
        "status_jobs": "任务：",
        "job_line": "  • {name}：{state}，上次 {last}，下次 {next}{error}",
        "job_paused": "已暂停",
        "job_running": "执行中",
        "job_idle": "等待中",
        "job_never": "未运行",
        "job_error": "，上次错误：{error}",
        "positions_title": "📈 持仓 — {account}（{venue}）",
        "positions_none": "📈 {account}（{venue}）：无持仓",
        "positions_error": "📈 {account}（{venue}）：读取失败：{error}",
        "position_line": "{symbol} {side} {size} · 保证金 {margin} · 收益率 {rate} · 杠杆 {lev}x",
        "long": "多",
        "short": "空",
        "contracts": "张",
        "never": "从未",
    },
    "en": {
        "start": "Hello, I control your perpetual-swap positions.\n{mode}\n"
                 "Send /help for every command.",
        "mode_demo": "This is the paper-trading demo: no real money is involved.",
        "mode_live": "Accounts: {accounts}",
        "help_title": "Commands:",
        "unauthorized": "Sorry, you are not allowed to use this bot.",
        "stale_update": "A command sent while the bot was offline was not executed: {text} "
                        "({age} s ago). Send it again if you still want it.",
        "unknown_command": "Unknown command: {text}\nSend /help for every command.",
        "internal_error": "Something went wrong handling that ({kind}); the details are "
                          "logged. No order was placed.",
        "usage": "Usage: {usage}",
        "bad_argument": "{reason}\nUsage: {usage}",
        "unknown_account": "Unknown account: {name}. Accounts: {names}",
        "paused": "⏸ Paused: every automatic action is stopped. Send /resume to restart.",
        "already_paused": "Already paused.",
        "resumed": "▶️ Resumed: automatic actions run again.",
        "not_paused": "Not paused.",
        "lang_set": "Language set to English.",
        "lang_usage": "/lang zh|en",
        "status_title": "📊 Status",
        "status_paused": "⏸ Paused (automatic actions stopped)",
        "status_running": "▶️ Running",
        "status_venues": "Venues:",
        "venue_ok": "  ✅ {account} ({venue}) reachable, equity {equity}, free {free}",
        "venue_down": "  ❌ {account} ({venue}) unreachable: {error}",
        "status_jobs": "Jobs:",
        "job_line": "  • {name}: {state}, last run {last}, next {next}{error}",
        "job_paused": "paused",
        "job_running": "running",
        "job_idle": "idle",
        "job_never": "never",
        "job_error": ", last error: {error}",
        "positions_title": "📈 Positions — {account} ({venue})",
        "positions_none": "📈 {account} ({venue}): no positions",
        "positions_error": "📈 {account} ({venue}): could not read positions: {error}",
        "position_line": "{symbol} {side} {size} · margin {margin} · profit {rate} · {lev}x",
        "long": "long",
        "short": "short",
        "contracts": "ct",
        "never": "never",
    },
}

# Command descriptions for /help and setMyCommands, in the order shown.
COMMANDS: dict[str, dict[str, str]] = {
    "zh": {
        "start": "开始", "help": "帮助", "status": "交易所与任务状态",
        "positions": "持仓 [账户]", "pause": "暂停全部自动操作", "resume": "恢复自动操作",
        "lang": "语言 zh|en",
    },
    "en": {
        "start": "Start", "help": "Help", "status": "Venues and jobs",
        "positions": "Positions [account]", "pause": "Stop every automatic action",
        "resume": "Restart automatic actions", "lang": "Language zh|en",
    },
}


def text(lang: str, key: str, **values: object) -> str:
    table = TEXTS.get(lang, TEXTS["zh"])
    return table[key].format(**values)


def fmt_decimal(value: Decimal, places: int = 2) -> str:
    """Fixed places, no exponent, no float on the way."""
    quantum = Decimal(1).scaleb(-places)
    return f"{value.quantize(quantum):,f}"


def fmt_usdt(value: Decimal) -> str:
    return f"{fmt_decimal(value)} USDT"


def fmt_pct(value: Decimal) -> str:
    return f"{fmt_decimal(value)}%"


def fmt_plain(value: Decimal) -> str:
    """A size or price as exact as the venue gave it, without trailing zeros."""
    return f"{value.normalize():f}"
