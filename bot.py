"""Run the bot: `python bot.py [--config FILE]` (or BOT_CONFIG=FILE).

With no token configured it runs the console chat on the paper venue: the demo.
"""

from __future__ import annotations

import gc

# No cyclic garbage collection while the libraries load and the bot is built: what is
# made then lives as long as the process, yet the collector walked it all several times
# over. Back on before the bot serves, with those objects frozen out of its walks (Python's
# gc.freeze), which also shortens every later full collection.
gc.disable()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402

from bot.config import ConfigError, load_config  # noqa: E402


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
    from bot.secrecy import config_secrets

    scrub = configure_logging(console=config.is_demo, secrets=config_secrets(config))
    app: BotApp | None = None
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a terminal user stops it
            app = BotApp.for_config(config, scrub)
            gc.freeze()
            gc.enable()
            asyncio.run(app.serve())
    except StartupError as exc:
        print(scrub(" ".join(f"cannot start: {exc}".split())), file=sys.stderr)
        return 1
    except Exception as exc:
        if app is not None and app.ready.is_set():
            logging.getLogger("bot").critical("crashed", exc_info=True)  # scrubbed
            return 1
        # Start-up failures are one line, also the unforeseen ones; where it was raised
        # stands in for the traceback.
        where = traceback.extract_tb(exc.__traceback__)[-1]
        line = f"cannot start: {type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"
        print(scrub(" ".join(line.split())), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
