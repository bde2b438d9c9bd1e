"""AI Trading Lab — the one entry point. ``python ai_trading_lab.py --help`` lists the options."""

import sys

from src.app.main import main

if __name__ == "__main__":
    sys.exit(main())
