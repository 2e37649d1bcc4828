"""Run the bot: `python bot.py [--config FILE]` (or BOT_CONFIG=FILE).

With no token configured it runs the console chat on the paper venue: the demo.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from bot.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Telegram control plane for perpetual swaps")
    parser.add_argument("--config", help="YAML config file (default: $BOT_CONFIG, else the "
                                         "paper demo in the console chat)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2

    from bot.app import BotApp, StartupError, configure_logging

    configure_logging(console=config.is_demo)
    try:
        app = BotApp.for_config(config)
    except StartupError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a terminal user stops it
        asyncio.run(app.serve())
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
