"""The whole bot (every team's components, replay mode) driven from Telegram through the real client.

Other components send their own alerts meanwhile, so an answer is recognised by its content,
not by being the next message.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from src.app.main import build_context
from src.app.supervisor import Supervisor
from src.app.wiring import assemble
from src.config import parse_config
from src.config.secrets import Secrets
from src.core.clock import MarketClock
from tests.fakes.fake_telegram import FakeTelegram
from tests.telegram.conftest import ADMIN, FAST_TELEGRAM, TOKEN


async def ask(fake: FakeTelegram, text: str, marker: str, timeout_s: float = 10.0) -> str:
    """Send ``text`` and return the first later message to the admin that contains ``marker``."""
    before = len(fake.sent_to(ADMIN))
    fake.push_command(ADMIN, text)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        for message in fake.sent_to(ADMIN)[before:]:
            if marker in message.text:
                return message.text
        await asyncio.sleep(0.02)
    raise AssertionError(f"no answer containing {marker!r} to {text}: {[m.text[:80] for m in fake.sent[before:]]}")


async def test_replay_bot_answers_from_its_real_services(tmp_path: Path, fake_tg: FakeTelegram) -> None:
    cfg = parse_config({"replay": {"speed": 36000, "warmup_bars": 300}, "brain": {"enabled": False},
                        "telegram": {**FAST_TELEGRAM, "base_url": fake_tg.base_url}})
    ctx = build_context(cfg, Secrets(telegram_bot_token=TOKEN, telegram_admin_ids=(ADMIN,)), tmp_path, MarketClock())
    supervisor = Supervisor(ctx)
    services = assemble(ctx, supervisor)
    task = asyncio.create_task(supervisor.run())
    try:
        status = await ask(fake_tg, "/status", "📊 replay mode", timeout_s=20)
        assert status.startswith("📊 replay mode · running · equity 10,000.00 USDT")
        assert "Open positions: 0" in status  # the portfolio answers (data quality shows once the gate is wired)
        assert "open position" in await ask(fake_tg, "/positions", "position")
        assert "fees paid" in await ask(fake_tg, "/pnl week", "P&L (week)")
        assert "strateg" in await ask(fake_tg, "/strategies", "strateg")
        await ask(fake_tg, "/strategy NOPE", "NOPE")
        await ask(fake_tg, "/pause", "paused")
        assert not services.control.state.entries_allowed
    finally:
        supervisor.request_stop()
        await asyncio.wait_for(task, 15)
