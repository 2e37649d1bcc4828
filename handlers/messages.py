"""Message texts in Chinese and English, and number formatting with units.

Every text the user reads comes from here, so the two languages stay in step: a key
missing from one of them fails the test that compares the tables.
"""

from __future__ import annotations

from decimal import Decimal

from bot.domain import Instrument
from handlers.messages_chart import CHART_TEXTS
from handlers.messages_views import VIEW_TEXTS
from handlers.messages_why import WHY_TEXTS

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
        "unknown_command_near": "未知命令：{text}。是否是 {near}？\n发送 /help 查看全部命令。",
        "demo_greeting": "👋 这是模拟盘演示：两个模拟账户 main 和 sub1 持有仓位，止盈、对冲和纠错规则正在运行，不涉及真实资金。\n在这里输入命令，就像在 Telegram 里一样：/help 列出全部命令，/positions 查看持仓，按钮显示为编号，输入编号即可选择。\nType /lang en for English.",
        "edit_not_executed": "修改过的消息不会被执行：如需要，请把命令作为新消息重新发送。",
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
        "venue_ok": "  ✅ {account}（{venue}）正常，权益 {equity}，可用余额 {free}",
        "venue_down": "  ❌ {account}（{venue}）不可用：{error}",
        "status_jobs": "任务：",
        "status_cluster": "集群（共享账户的进程）：",
        "lease_moved": "⚠️ 账户 {account} 刚由集群中的另一个进程接管：已开始的操作由它按日志继续；"
                       "若什么都还没开始，请重新发送命令。",
        "member_line": "  • {name}：{accounts} 个账户{telegram}{me}",
        "member_polls": "，接收 Telegram 消息",
        "member_me": "（本进程）",
        "job_line": "  • {name}：{state}，上次 {last}，下次 {next}{behind}{error}",
        "job_behind_counts": "，跳过 {skipped} 次，延迟 {late} 次",
        "job_skipped": "被跳过", "job_late": "延迟了",
        "job_behind_alert": "⏱ 任务 {job} 跟不上间隔（每 {interval} 秒）：一次运行{why}；至今跳过 {skipped} 次、延迟 {late} 次（恢复准时前不再提醒）",
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
        "usage_close": "/close 币种 数量|N%|all [账户] [long|short]",
        "bad_missing_symbol": "缺少币种和数量",
        "bad_missing_size": "缺少数量",
        "bad_too_many": "参数过多：{extra}",
        "bad_not_symbol": "不是有效的币种：{word}",
        "bad_side_twice": "方向只能给一次",
        "bad_account_twice": "账户只能给一次",
        "bad_not_account_or_side": "{word} 既不是账户（{accounts}）也不是 long/short",
        "bad_percent_over": "百分比最多 100%，不能是 {word}",
        "bad_not_size": "不是有效的数量：{word}（币数量如 0.5、百分比如 25%，或 all）",
        "bad_not_positive": "数量必须大于零，不能是 {word}",
        "bad_ambiguous": "{symbol} 有多个匹配：{candidates}",
        "bad_unknown_symbol_near": "未知币种 {symbol}；是否是：{candidates}？",
        "bad_no_position": "没有 {what}{side} 持仓（账户：{accounts}）",
        "bad_several_accounts": "{what}{side} 在多个账户持有：{accounts}；请加上账户名",
        "bad_above_position": "{amount} 超过持仓（{held}）",
        "bad_below_minimum": "{amount} 低于最小下单量（{minimum}）",
        "pick_side": "{symbol} 在 {account} 多空都有持仓，选哪一边？",
        "close_confirm": "确认平仓 {symbol} {side}（{account}）？\n数量：{size}，持仓 {held}\n"
                         "预估价格 {price} · 预估盈亏 {pnl}\n方式：{method}",
        "method_market": "市价单（只减仓），最差价格 {worst}（滑点 {slippage}%）",
        "method_batches": "{n} 笔只减仓限价单，价格 {price}，间隔 {interval} 秒，"
                          "有效 {minutes} 分钟",
        "button_confirm": "确认",
        "button_cancel": "取消",
        "confirm_cancelled": "已取消：没有下任何单。",
        "confirm_expired": "确认已过期：没有下任何单。请重新发送命令。",
        "confirm_already_used": "这个按钮已经处理过了。",
        "confirm_wrong_user": "这个按钮属于另一位用户。",
        "confirm_unknown": "找不到这个确认：没有下任何单。",
        "button_invalid": "无效的按钮：没有执行任何操作。",
        "position_changed": "持仓已变化：{reason}。没有下任何单。",
        "close_running": "⏳ 正在平仓 {symbol} {side}（{account}）：{size}…",
        "close_progress": "⏳ 正在平仓 {symbol} {side}（{account}）：{done}/{orders} 笔订单已结束，"
                          "已成交 {filled} / {size}",
        "close_done": "✅ 已平仓 {symbol} {side}（{account}）：{filled} / {size}\n"
                      "均价 {price} · 手续费 {fee} · 盈亏 {pnl}\n{orders}",
        "close_partial": "⚠️ 部分平仓 {symbol} {side}（{account}）：已成交 {filled} / {size}，"
                         "未成交 {unfilled}\n均价 {price} · 手续费 {fee} · 盈亏 {pnl}\n{orders}",
        "close_failed": "❌ 未能平仓 {symbol} {side}（{account}）：{error}\n{orders}",
        "order_line": "订单 {venue_id}：{state}，成交 {filled}，{fills} 笔成交",
        "order_rejected": "订单被拒绝：{error}",
        "nothing_filled": "在等待时间内没有成交，订单已撤销",
        "reconciled": "🔁 重启后核对未完成的订单：\n{lines}",
        "tp_done": "🎯 止盈第 {tier} 档（收益率 ≥ {trigger} 平 {share}）：{symbol} {side}（{account}）\n收益率 {rate} · 保证金 {margin}\n"
                   "持仓 {before} → 平仓 {closed}，均价 {price}\n手续费 {fee} · 盈亏 {pnl} · "
                   "剩余 {left}\n订单 {orders}",
        "tp_failed": "❌ 止盈第 {tier} 档未执行：{symbol} {side}（{account}）：{error}",
        "tp_observe": "👀 观察模式：将平仓 {closing}（{symbol} {side}，{account}），第 {tier} 档（平 {share}）"
                      "（收益率 {rate}，保证金 {margin}）",
        "hedge_done": "🛡 对冲：{symbol}（{account}）{winner_side}仓 {winner_rate}，{side}仓 {loser_rate}\n"
                      "平掉亏损的{side}仓 {closed} / {before}（{share}），均价 {price}\n手续费 {fee} · 盈亏 {pnl} · "
                      "剩余 {left}\n订单 {orders}",
        "hedge_failed": "❌ 对冲未执行：{symbol} {side}（{account}）：{error}",
        "hedge_observe": "👀 观察模式：将平仓 {closing}（{symbol} {side}，{account}，{share}），保留 "
                         "{keep}：{winner_side} {winner_rate}，{side} {loser_rate}",
        "usage_tp": "/tp [币种] | /tp reset 币种 long|short [账户]",
        "tp_title": "🎯 止盈 — {account}（{mode}）",
        "mode_on": "开启", "mode_observe": "观察", "mode_off": "关闭",
        "tp_line": "{symbol} {side} · 收益率 {rate} · 保证金 {margin}\n  {tiers}\n  {status}",
        "tp_skip_margin": "跳过：保证金 ≤ {min}",
        "tp_ladder_done": "所有档位已触发",
        "tp_below_minimum": "第 {tier} 档已达到，但平仓数量低于最小下单量",
        "tp_next": "下一档：第 {tier} 档，收益率 {at}（当前 {now}）",
        "tp_fires_next": "第 {tier} 档将在下一次运行时触发",
        "tp_nothing": "没有持仓。",
        "tp_reset_confirm": "重置 {symbol} {side}（{account}）的止盈档位？之后将从第 1 档重新开始。",
        "tp_reset_done": "已重置 {symbol} {side}（{account}）的止盈档位。",
        "usage_maintain": "/maintain 币种 [账户] [long|short]",
        "usage_supermaintain": "/supermaintain 币种 [账户] [long|short] [金额] [目标]",
        "bad_missing_symbol_only": "缺少币种",
        "bad_target_not_below": "目标 {target} 必须小于金额 {amount}",
        "bad_amount_too_small": "{amount} USDT 的保证金不够开最小下单量",
        "bad_nothing_to_close": "第 3 步什么也平不掉（开 {opened} 张，最小单位 {lot}）：维护会保留全部开仓，已拒绝",
        "bad_balance_short": "余额不足：平掉旧仓后可用约 {free}，第 2 步需要约 {needed}（保证金加手续费）",
        "plan_maintain": "🔧 维护 {symbol} {side}（{account}）— 第 {count} 次\n1. 平掉旧仓 {old}（市价，只减仓）\n"
                         "2. 开仓 {open}（市价）· 保证金约 {margin}\n3. 平仓 {close}（只减仓）· 保留 {kept}\n"
                         "预估手续费 {fees} · 平仓后可用约 {free}",
        "plan_supermaintain": "🔧 超级维护 {symbol} {side}（{account}）— 第 {count} 次\n1. 平掉旧仓 {old}（市价，只减仓）\n"
                              "2. 开仓 {open}（市价）· 保证金 {amount}\n3. 平仓 {close}（只减仓）· 保留 {kept}，约 {target}\n"
                              "预估手续费 {fees} · 平仓后可用约 {free}",
        "plan_past_ladder": "⚠️ 已维护 {count} 次，超出阶梯：使用最后一档，需要明确确认。",
        "button_confirm_past_ladder": "确认（超出阶梯）",
        "button_retry": "重试",
        "changed_size": "现在的数量是 {size} 张",
        "report_maintain": "🔧 维护 {symbol} {side}（{account}），原持仓 {old}",
        "report_supermaintain": "🔧 超级维护 {symbol} {side}（{account}），原持仓 {old}",
        "report_step_1": "{mark} 1. 平旧仓：{detail}",
        "report_step_2": "{mark} 2. 开仓：{detail}",
        "report_step_3": "{mark} 3. 平仓：{detail}",
        "report_step_detail": "订单 {orders} · 成交 {filled} · 均价 {price} · {fills} 笔成交 · 手续费 {fee}",
        "report_totals": "盈亏 {pnl} · 手续费 {fees} · 净盈亏 {net} · 费率 {rate} · 剩余 {left} · 维护次数 {count}",
        "report_before_after": "维护前：持仓 {size_before} · 保证金 {margin_before} · 收益率 {rate_before}\n维护后：持仓 {size_after} · 保证金 {margin_after} · 收益率 {rate_after}",
        "report_failed": "❌ 第 {step} 步未完成：{error}。已完成的步骤见上；可以点重试从这一步继续。",
        "watcher_alert": "⚠️ {symbol} {side}（{account}）收益率 {rate}，保证金 {margin}：要维护吗？",
        "watcher_skipped": "已跳过 {symbol} {side}（{account}）。",
        "watcher_auto_refused": "⚠️ 自动超级维护 {symbol} {side}（{account}）未执行：{reason}",
        "button_maintain": "维护", "button_supermaintain": "超级维护", "button_skip": "跳过",
        "bad_past_ladder_auto": "已维护 {count} 次，超出阶梯：需要人工确认",
        "bad_maintenance_finished": "这次维护已经完成：没有下任何单。",
        "bad_estimate_moved": "确认后预估价格变动了 {moved}%（{was} → {now}），预估盈亏现在约 {pnl}。没有下任何单，请重新确认：",
        "action_settled": "🔁 {what} {symbol} {side}（{account}）已结束：{state}，平仓 {filled} / {meant} 张。",
        "settled_close": "平仓", "settled_take_profit": "止盈平仓", "settled_hedge": "对冲平仓",
        "settled_state_done": "全部成交", "settled_state_partial": "部分成交",
        "settled_state_failed": "没有成交",
        "position_busy": "{symbol} {side}（{account}）正在执行另一个操作：没有下任何单。",
        "maintenance_paused": "⏸ {symbol} {side}（{account}）的维护因重启中断，机器人处于暂停状态，未自动继续。准备好后点重试。",
        "changed_gone": "{account} 上已没有 {symbol} {side} 持仓",
        "usage_positions": "/positions [账户]",
        "job_failed_alert": "⚠️ 任务 {job} 出错：{problem}（相同的错误不再重复提醒）",
        "no_answer": "{seconds} 秒内没有响应",
        "tp_label": "止盈",
        "bad_unknown_symbol_known": "未知币种 {symbol}；可用：{candidates}",
        "state_live": "挂单中", "state_partially_filled": "部分成交", "state_filled": "全部成交",
        "state_canceled": "已撤销", "state_rejected": "被拒绝", "state_expired": "已过期",
        "changed_smaller": "现在只剩 {held}",
        "venue_read_failed": "读取交易所失败：{error}。没有下任何单。",
        "resolved_take_profit": "✅ 已恢复：{symbol} {side}（{account}）的止盈平仓又能成交了（之前的问题：{problem}，自 {since} 起失败 {count} 次）",
        "resolved_hedge": "✅ 已恢复：{symbol} {side}（{account}）的对冲平仓又能成交了（之前的问题：{problem}，自 {since} 起失败 {count} 次）",
        "resolved_job_behind": "✅ 已恢复：任务 {job} 又能按时运行了（自 {since} 起跟不上）",
        "resolved_job": "✅ 已恢复：任务 {job} 又能正常运行了（之前的问题：{problem}，自 {since} 起失败 {count} 次）",
        "bot_started": "🟢 机器人已启动",
        "bot_started_demo": "🟢 机器人已启动（模拟盘演示）",
        "started_account": "• {account}（{venue}，{role}）：{modes}",
        "started_ladder": "止盈阶梯 {side}：{tiers}",
        "started_overrides": "自定义止盈阶梯的账户：{accounts}",
        "started_intervals": "间隔：止盈/对冲 {take_profit} 秒，维护监控 {watcher} 秒，纠错 {correction} 秒",
        "rule_correction": "纠错",
        "correction_done": "🛠 已纠错：{symbol} {side}（{account}）\n{changes}",
        "correction_failed": "❌ 纠错停止：{symbol} {side}（{account}）：{error}\n{changes}\n（同一问题不再重复提醒；下次运行会再试）",
        "correction_observe": "👀 观察模式：纠错将对 {symbol} {side}（{account}）执行：\n{changes}",
        "resolved_correction": "✅ 已恢复：{symbol} {side}（{account}）的纠错又能执行了（之前的问题：{problem}，自 {since} 起失败 {count} 次）",
        "change_leverage": "杠杆 {was}x → {now}x",
        "change_notional": "名义价值 {was} → {now}（平仓 {closed} / {meant}，均价 {price}，手续费 {fee}）",
        "change_margin": "保证金 {was} → {now}（转出 {steps} 次）",
        "plan_close": "平仓 {size}：名义价值 {was} → {now}",
        "plan_margin": "保证金 {was} → {now}（转出 {steps} 次，每次最多 {step}）",
        "nothing_changed": "没有任何改动",
        "usage_correct": "/correct [账户]",
        "correct_title": "🛠 纠错预览 — {account}（{mode}）",
        "correct_line": "{symbol} {side}：{steps}",
        "correct_within": "已在目标范围内",
        "correct_no_positions": "没有持仓",
        "correct_nothing": "下一次运行不会做任何事。",
        "correct_none_on": "没有开启纠错的账户（可用 /correct 账户 查看某个账户）。",
        "correct_running": "⏳ 纠错中…",
        "correct_ran": "纠错完成：{corrected} 个持仓已纠正，{failed} 个失败，{left} 个跳过（其它操作占用或已变化）。详情见提醒。",
        "correct_handed": "{accounts} 由集群中的其它进程持有：已交给它们纠错，结果见提醒。",
        "button_run_now": "立即执行",
        "grid_hedge_placed": "🕸 网格 {grid}（{symbol}）：第 {level} 档买单成交 → 卖出对冲 {size} @ {price} 已挂出",
        "grid_buy_placed": "🕸 网格 {grid}（{symbol}）：第 {level} 档卖单成交 → 买单 {size} @ {price} 已重新挂出",
        "grid_not_placed": "⛔ 网格 {grid}（{symbol}）第 {level} 档：{answer}",
        "grid_would_place": "👀 观察模式：网格 {grid}（{symbol}）将在第 {level} 档挂{direction} {size} @ {price}",
        "direction_buy": "买", "direction_sell": "卖",
        "usage_grid": "/grid [网格名]",
        "grid_title": "🕸 网格 {grid} — {account} {symbol} {leg}（{mode}）",
        "grid_levels": "买入档位：{buys} — 卖出档位：{sells}",
        "grid_resting_order": "{direction} {size} @ {price}（第 {level} 档）",
        "grid_resting": "挂单：{orders}",
        "grid_holdings": "持仓：账本 {ledger}，交易所 {held} · 已实现盈亏 {pnl} · 手续费 {fees}",
        "grid_unknown": "暂时读不到",
        "grid_drift_now": "⚠️ 账本与交易所不一致",
        "grid_none": "没有配置网格（见 README：Grid hedge）。",
        "bad_unknown_grid": "未知网格 {name}；已有：{names}",
        "ledger_drift": "⚠️ 网格 {grid}（{symbol}）：账本持仓 {ledger}，交易所持仓 {venue}——网格之外的交易，或网格没看到的成交（一致之前不再提醒）",
        "ledger_drift_healed": "✅ 网格 {grid}（{symbol}）：账本与交易所又一致了（{held}）",
        "bot_stopped": "🔴 机器人已正常停止。",
        "rule_take_profit": "止盈", "rule_hedge": "对冲", "rule_watcher": "维护监控",
        "mode_ask": "询问", "mode_auto": "自动",
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
        "unknown_command_near": "Unknown command: {text}. Did you mean {near}?\nSend /help for every command.",
        "demo_greeting": "👋 This is the paper demo: two simulated accounts, main and sub1, hold positions, and their take-profit, hedge and correction rules are running; no real money is involved.\nType commands here as in Telegram: /help lists them all, /positions shows the positions; buttons show as numbers, type a number to press one.\n输入 /lang zh 切换到中文。",
        "edit_not_executed": "Edited messages are not executed: send the command again as a "
                             "new message if you want it.",
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
        "status_cluster": "Cluster (the processes sharing the accounts):",
        "lease_moved": "⚠️ Account {account} was just taken over by another process of "
                       "the cluster: what had begun, it carries on from the journal; if "
                       "nothing had begun, send the command again.",
        "member_line": "  • {name}: {accounts} accounts{telegram}{me}",
        "member_polls": ", polls Telegram",
        "member_me": " (this process)",
        "job_line": "  • {name}: {state}, last run {last}, next {next}{behind}{error}",
        "job_behind_counts": ", skipped {skipped}, late {late}",
        "job_skipped": "was skipped", "job_late": "started late",
        "job_behind_alert": "⏱ Job {job} falls behind its interval (every {interval} s): a run {why}; {skipped} skipped and {late} late so far (not told again until it keeps time)",
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
        "usage_close": "/close SYMBOL SIZE|N%|all [account] [long|short]",
        "bad_missing_symbol": "Give a symbol and a size",
        "bad_missing_size": "Give a size",
        "bad_too_many": "Too many arguments: {extra}",
        "bad_not_symbol": "Not a symbol: {word}",
        "bad_side_twice": "Give the side once",
        "bad_account_twice": "Give the account once",
        "bad_not_account_or_side": "{word} is neither an account ({accounts}) nor long/short",
        "bad_percent_over": "A percentage is at most 100%, not {word}",
        "bad_not_size": "Not a size: {word} (a coin amount like 0.5, a percentage like 25%, "
                        "or all)",
        "bad_not_positive": "The size must be above zero, not {word}",
        "bad_ambiguous": "{symbol} is ambiguous: {candidates}",
        "bad_unknown_symbol_near": "Unknown symbol {symbol}; did you mean {candidates}?",
        "bad_no_position": "No {what}{side} position (accounts: {accounts})",
        "bad_several_accounts": "{what}{side} is held on {accounts}: add the account",
        "bad_above_position": "{amount} is more than the position ({held})",
        "bad_below_minimum": "{amount} is below the minimum order ({minimum})",
        "pick_side": "{symbol} on {account}: both sides are held. Which one?",
        "close_confirm": "Close {symbol} {side} on {account}?\nSize: {size} of {held}\n"
                         "Estimated price {price} · estimated PnL {pnl}\nMethod: {method}",
        "method_market": "market order (reduce-only), worst price {worst} "
                         "({slippage}% slippage)",
        "method_batches": "{n} reduce-only limit orders at {price}, {interval} s apart, "
                          "good for {minutes} min",
        "button_confirm": "Confirm",
        "button_cancel": "Cancel",
        "confirm_cancelled": "Cancelled: nothing was sent.",
        "confirm_expired": "This confirmation expired: nothing was sent. Send the command again.",
        "confirm_already_used": "Already handled.",
        "confirm_wrong_user": "This button belongs to another user.",
        "confirm_unknown": "Unknown confirmation: nothing was sent.",
        "button_invalid": "Not a valid button: nothing was done.",
        "position_changed": "The position changed: {reason}. Nothing was sent.",
        "close_running": "⏳ Closing {symbol} {side} on {account}: {size}…",
        "close_progress": "⏳ Closing {symbol} {side} on {account}: {done}/{orders} orders "
                          "finished, filled {filled} of {size}",
        "close_done": "✅ Closed {symbol} {side} on {account}: {filled} of {size}\n"
                      "Average price {price} · fee {fee} · PnL {pnl}\n{orders}",
        "close_partial": "⚠️ Partly closed {symbol} {side} on {account}: {filled} of {size}, "
                         "{unfilled} not filled\nAverage price {price} · fee {fee} · PnL {pnl}"
                         "\n{orders}",
        "close_failed": "❌ Not closed {symbol} {side} on {account}: {error}\n{orders}",
        "order_line": "Order {venue_id}: {state}, filled {filled}, {fills} fills",
        "order_rejected": "Order rejected: {error}",
        "nothing_filled": "nothing filled in time; the order was cancelled",
        "reconciled": "🔁 Unfinished orders checked after the restart:\n{lines}",
        "tp_done": "🎯 Take-profit tier {tier} (profit ≥ {trigger}: close {share}): {symbol} {side} on {account}\n"
                   "Profit {rate} · margin {margin}\nSize {before} → closed {closed} at {price}\n"
                   "Fee {fee} · PnL {pnl} · left {left}\nOrder {orders}",
        "tp_failed": "❌ Take-profit tier {tier} not executed: {symbol} {side} on {account}: "
                     "{error}",
        "tp_observe": "👀 Observe: would close {closing} of {symbol} {side} on {account}, "
                      "tier {tier}: {share} (profit {rate}, margin {margin})",
        "hedge_done": "🛡 Hedge: {symbol} on {account}: the {winner_side} is at {winner_rate}, "
                      "the {side} at {loser_rate}\nClosed {closed} of the losing {side} "
                      "({share} of {before}) at {price}\n"
                      "Fee {fee} · PnL {pnl} · left {left}\nOrder {orders}",
        "hedge_failed": "❌ Hedge not executed: {symbol} {side} on {account}: {error}",
        "hedge_observe": "👀 Observe: would close {closing} of {symbol} {side} on {account} "
                         "({share}), keeping {keep}: {winner_side} {winner_rate}, {side} "
                         "{loser_rate}",
        "usage_tp": "/tp [SYMBOL] | /tp reset SYMBOL long|short [account]",
        "tp_title": "🎯 Take-profit — {account} ({mode})",
        "mode_on": "on", "mode_observe": "observe", "mode_off": "off",
        "tp_line": "{symbol} {side} · profit {rate} · margin {margin}\n  {tiers}\n  {status}",
        "tp_skip_margin": "skipped: margin ≤ {min}",
        "tp_ladder_done": "every tier has fired",
        "tp_below_minimum": "tier {tier} reached, but its close is below the minimum order",
        "tp_next": "next: tier {tier} at {at} (now {now})",
        "tp_fires_next": "tier {tier} fires on the next run",
        "tp_nothing": "No positions.",
        "tp_reset_confirm": "Reset the take-profit ladder of {symbol} {side} on {account}? Tiers will fire again from tier 1.",
        "tp_reset_done": "The take-profit ladder of {symbol} {side} on {account} is reset.",
        "usage_maintain": "/maintain SYMBOL [account] [long|short]",
        "usage_supermaintain": "/supermaintain SYMBOL [account] [long|short] [amount] [target]",
        "bad_missing_symbol_only": "Give a symbol",
        "bad_target_not_below": "The target {target} must be below the amount {amount}",
        "bad_amount_too_small": "{amount} USDT of margin does not reach the minimum order",
        "bad_nothing_to_close": "Step 3 would close nothing of the {opened} ct opened (lot size {lot}): the maintenance would keep all it opens, so it is refused",
        "bad_balance_short": "Not enough balance: about {free} free once the old position is closed, step 2 needs about {needed} (margin and fees)",
        "plan_maintain": "🔧 Maintain {symbol} {side} on {account} — #{count}\n1. close the old {old} (market, reduce-only)\n"
                         "2. open {open} (market) · margin ≈ {margin}\n3. close {close} (reduce-only) · keeps {kept}\n"
                         "Estimated fees {fees} · free after step 1 ≈ {free}",
        "plan_supermaintain": "🔧 Super maintain {symbol} {side} on {account} — #{count}\n1. close the old {old} (market, reduce-only)\n"
                              "2. open {open} (market) · margin {amount}\n3. close {close} (reduce-only) · keeps {kept}, ≈ {target}\n"
                              "Estimated fees {fees} · free after step 1 ≈ {free}",
        "plan_past_ladder": "⚠️ Maintained {count} times: past the ladder, the last tier is used. Confirm explicitly.",
        "button_confirm_past_ladder": "Confirm past the ladder",
        "button_retry": "Retry",
        "changed_size": "its size is now {size} ct",
        "report_maintain": "🔧 Maintenance of {symbol} {side} on {account}, was {old}",
        "report_supermaintain": "🔧 Super maintenance of {symbol} {side} on {account}, was {old}",
        "report_step_1": "{mark} 1. close old: {detail}",
        "report_step_2": "{mark} 2. open: {detail}",
        "report_step_3": "{mark} 3. close: {detail}",
        "report_step_detail": "order {orders} · filled {filled} · avg {price} · {fills} fills · fee {fee}",
        "report_totals": "PnL {pnl} · fees {fees} · net {net} · fee rate {rate} · left {left} · maintenance count {count}",
        "report_before_after": "Before: {size_before} · margin {margin_before} · profit {rate_before}\nAfter: {size_after} · margin {margin_after} · profit {rate_after}",
        "report_failed": "❌ Step {step} did not complete: {error}. Completed steps are above; Retry resumes from this step.",
        "watcher_alert": "⚠️ {symbol} {side} on {account} is at {rate} with {margin} margin: maintain it?",
        "watcher_skipped": "Skipped {symbol} {side} on {account}.",
        "watcher_auto_refused": "⚠️ Automatic super maintenance of {symbol} {side} on {account} not run: {reason}",
        "button_maintain": "Maintain", "button_supermaintain": "Super maintain", "button_skip": "Skip",
        "bad_past_ladder_auto": "maintained {count} times, past the ladder: a person must confirm",
        "bad_maintenance_finished": "This maintenance has finished already: nothing was sent.",
        "bad_estimate_moved": "The estimate moved {moved}% since you confirmed ({was} → {now}); the PnL is now about {pnl}. Nothing was sent: confirm again:",
        "action_settled": "🔁 {what} of {symbol} {side} on {account} has ended: {state}, {filled} of {meant} ct closed.",
        "settled_close": "Close", "settled_take_profit": "Take-profit close",
        "settled_hedge": "Hedge close",
        "settled_state_done": "done", "settled_state_partial": "partly filled",
        "settled_state_failed": "nothing filled",
        "position_busy": "{symbol} {side} on {account} is busy with another action: nothing was sent.",
        "maintenance_paused": "⏸ The maintenance of {symbol} {side} on {account} was interrupted by a restart and, the bot being paused, not resumed. Press Retry when ready.",
        "changed_gone": "no {symbol} {side} position on {account} any more",
        "usage_positions": "/positions [account]",
        "job_failed_alert": "⚠️ Job {job} failed: {problem} (the same failure is not alerted again)",
        "no_answer": "no answer in {seconds} s",
        "tp_label": "TP",
        "bad_unknown_symbol_known": "Unknown symbol {symbol}; known: {candidates}",
        "state_live": "open", "state_partially_filled": "partly filled", "state_filled": "filled",
        "state_canceled": "cancelled", "state_rejected": "rejected", "state_expired": "expired",
        "changed_smaller": "only {held} is left",
        "venue_read_failed": "Could not read from the venue: {error}. Nothing was sent.",
        "resolved_take_profit": "✅ Resolved: take-profit closes of {symbol} {side} on {account} go through again (was: {problem}, {count} failed runs since {since})",
        "resolved_hedge": "✅ Resolved: hedge closes of {symbol} {side} on {account} go through again (was: {problem}, {count} failed runs since {since})",
        "resolved_job_behind": "✅ Resolved: job {job} keeps time again (behind since {since})",
        "resolved_job": "✅ Resolved: job {job} runs again (was: {problem}, {count} failed runs since {since})",
        "bot_started": "🟢 Bot started",
        "bot_started_demo": "🟢 Bot started (paper-trading demo)",
        "started_account": "• {account} ({venue}, {role}): {modes}",
        "started_ladder": "Take-profit ladder {side}: {tiers}",
        "started_overrides": "Accounts with their own ladder: {accounts}",
        "started_intervals": "Intervals: take-profit/hedge {take_profit} s, watcher {watcher} s, correction {correction} s",
        "rule_correction": "correction",
        "correction_done": "🛠 Corrected {symbol} {side} on {account}:\n{changes}",
        "correction_failed": "❌ Correction of {symbol} {side} on {account} stopped: {error}\n{changes}\n(the same problem is not alerted again; the next run tries again)",
        "correction_observe": "👀 Observe: correction would do this to {symbol} {side} on {account}:\n{changes}",
        "resolved_correction": "✅ Resolved: corrections of {symbol} {side} on {account} go through again (was: {problem}, {count} failed runs since {since})",
        "change_leverage": "leverage {was}x → {now}x",
        "change_notional": "notional {was} → {now} (closed {closed} of {meant} at {price}, fee {fee})",
        "change_margin": "margin {was} → {now} (moved out {steps}×)",
        "plan_close": "close {size}: notional {was} → {now}",
        "plan_margin": "margin {was} → {now} (moved out {steps}×, at most {step} each)",
        "nothing_changed": "nothing changed",
        "usage_correct": "/correct [account]",
        "correct_title": "🛠 Correction preview — {account} ({mode})",
        "correct_line": "{symbol} {side}: {steps}",
        "correct_within": "within targets",
        "correct_no_positions": "no positions",
        "correct_nothing": "The next run would do nothing.",
        "correct_none_on": "No account has correction on (/correct ACCOUNT previews one).",
        "correct_running": "⏳ Correcting…",
        "correct_ran": "Correction ran: {corrected} corrected, {failed} failed, {left} left alone (busy or changed). The details come as alerts.",
        "correct_handed": "{accounts}: held by other processes of the cluster, corrected there; their results come as alerts.",
        "button_run_now": "Run now",
        "grid_hedge_placed": "🕸 Grid {grid} ({symbol}): the BUY at level {level} filled → SELL hedge {size} at {price} placed",
        "grid_buy_placed": "🕸 Grid {grid} ({symbol}): the SELL at level {level} filled → BUY {size} at {price} placed again",
        "grid_not_placed": "⛔ Grid {grid} ({symbol}), level {level}: {answer}",
        "grid_would_place": "👀 Observe: grid {grid} ({symbol}) would place a {direction} of {size} at {price} (level {level})",
        "direction_buy": "BUY", "direction_sell": "SELL",
        "usage_grid": "/grid [name]",
        "grid_title": "🕸 Grid {grid} — {account} {symbol} {leg} ({mode})",
        "grid_levels": "Buy levels: {buys} — sell levels: {sells}",
        "grid_resting_order": "{direction} {size} at {price} (level {level})",
        "grid_resting": "Resting: {orders}",
        "grid_holdings": "Holdings: ledger {ledger}, venue {held} · realised PnL {pnl} · fees {fees}",
        "grid_unknown": "not readable now",
        "grid_drift_now": "⚠️ The ledger and the venue disagree",
        "grid_none": "No grids are configured (see README, Grid hedge).",
        "bad_unknown_grid": "Unknown grid {name}; grids: {names}",
        "ledger_drift": "⚠️ Grid {grid} ({symbol}): its ledger holds {ledger}, the venue {venue} — a trade outside the grid, or a fill it did not see (not told again until they agree)",
        "ledger_drift_healed": "✅ Grid {grid} ({symbol}): the ledger and the venue agree again ({held})",
        "bot_stopped": "🔴 Bot stopped cleanly.",
        "rule_take_profit": "take-profit", "rule_hedge": "hedge", "rule_watcher": "watcher",
        "mode_ask": "ask", "mode_auto": "auto",
    },
}

for _lang in LANGUAGES:
    TEXTS[_lang] |= WHY_TEXTS[_lang] | VIEW_TEXTS[_lang] | CHART_TEXTS[_lang]

# Command descriptions for /help and setMyCommands, in the order shown.
COMMANDS: dict[str, dict[str, str]] = {
    "zh": {
        "start": "开始", "help": "帮助", "status": "交易所与任务状态",
        "positions": "持仓 [账户]", "pause": "暂停全部自动操作", "resume": "恢复自动操作",
        "close": "平仓 币种 数量|N%|all [账户] [long|short]",
        "maintain": "维护 币种 [账户] [long|short]",
        "supermaintain": "超级维护 币种 [账户] [long|short] [金额] [目标]",
        "tp": "止盈档位 [币种]；reset 币种 long|short [账户] 重置",
        "correct": "纠错预览并立即执行 [账户]",
        "grid": "网格：档位、挂单、持仓、盈亏 [网格名]",
        "why": "为什么动了/没动：币种的事件时间线 [网格档位]",
        "chart": "价格图：K线、均价、止盈档位、成交 币种 [账户]",
        "history": "最近的操作、订单号和盈亏 [条数] [账户] [币种]",
        "pnl": "已实现盈亏、手续费、净额 [today|7d|30d|all]",
        "orders": "机器人的挂单，可撤单 [账户]",
        "lang": "语言 zh|en",
    },
    "en": {
        "start": "Start", "help": "Help", "status": "Venues and jobs",
        "positions": "Positions [account]", "pause": "Stop every automatic action",
        "resume": "Restart automatic actions",
        "close": "Close SYMBOL SIZE|N%|all [account] [long|short]",
        "maintain": "Maintain SYMBOL [account] [long|short]",
        "supermaintain": "Super maintain SYMBOL [account] [long|short] [amount] [target]",
        "tp": "Take-profit ladders [SYMBOL]; reset SYMBOL long|short [account]",
        "correct": "Correction preview, and run it now [account]",
        "grid": "Grids: levels, resting orders, holdings, PnL [name]",
        "why": "Why it did or didn't act: an instrument's timeline SYMBOL [grid level]",
        "chart": "Price chart: candles, entries, take-profit triggers, fills SYMBOL [account]",
        "history": "Recent actions with order ids and PnL [count] [account] [SYMBOL]",
        "pnl": "Realised PnL, fees and net [today|7d|30d|all]",
        "orders": "The bot's resting orders, each with [Cancel] [account]",
        "lang": "Language zh|en",
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


def fmt_fee(value: Decimal) -> str:
    """Fees of small closes are fractions of a cent: four places, not two."""
    return f"{fmt_decimal(value, 4)} USDT"


def fmt_signed_usdt(value: Decimal) -> str:
    return ("+" if value > 0 else "") + fmt_usdt(value)


def size_text(lang: str, contracts: Decimal, inst: Instrument) -> str:
    """`25 ct (25 APT)`: contracts as the venue counts them, and the coin amount."""
    coin = fmt_plain(contracts * inst.contract_value)
    return f"{fmt_plain(contracts)} {text(lang, 'contracts')} ({coin} {inst.base})"
