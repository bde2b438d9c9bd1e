"""Suite-wide fixtures: a clean, offline environment for every test.

The real ccxt, python-telegram-bot and google-genai clients read proxies and API settings from
the environment; a developer's shell must never leak into a test (or a test reach the internet).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

_CLEARED = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
            "GEMINI_API_KEY", "LLM_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL",
            "GOOGLE_CLOUD_PROJECT", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_IDS", "TELEGRAM_VIEWER_IDS",
            "TELEGRAM_ADMIN_IDS", "TELEGRAM_NOTIFY_CHAT_IDS",
            "EXCHANGE_API_KEY", "EXCHANGE_API_SECRET")


@pytest.fixture(autouse=True)
def offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxies, no real keys; loopback never proxied; PTB's timedelta mode (no deprecation warning)."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def data_file(name: str) -> Path:
    """One real data file from the shared folder beside the repo; the calling test skips without it."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"shared data file {name} not available")
    return path


@pytest.fixture
def shared_data() -> Path:
    """The real exchange data folder beside the repo; tests that need it skip without it."""
    if not SHARED_DATA.exists():
        pytest.skip("shared data folder not found beside the repo")
    return SHARED_DATA


@pytest.fixture(scope="session")
def btc_1h():
    """Eight years of real BTC/USDT 1h candles, loaded once per session."""
    from src.market.history import load_candles

    return load_candles(data_file("binance_BTC-USDT_1h.csv.gz"))
