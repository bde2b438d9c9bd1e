"""Benchmark: what a burst of alerts costs the trading loop, outbox vs. sending inline.

The peer is the pattern of python-telegram-bot's own examples: ``await bot.send_message(...)``
right where the message is produced. Ours is :class:`~src.telegram.outbox.Outbox`: the producer
only enqueues; one sender task delivers at the pace flood control allows. Both use the real
python-telegram-bot client against the loopback fake Bot API (``tests/fakes/fake_telegram.py``)
with a fixed server latency, in one process, one after the other, so every ratio is from one run.

Figures per workload: how long the producer (standing in for the trading loop) was held up
handing over N alerts, the worst lag of a 5 ms ticker running beside it, and when the last
message reached the server. Workload "slow" gives every send the server latency; workload
"hung" has Telegram hang each send up to the client timeout (an outage that does not refuse).

    python bench/telegram_outbox_bench.py [--alerts 100] [--latency-ms 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.config.telegram import TelegramConfig
from src.telegram.bot import build_application
from src.telegram.outbox import Outbox, OutgoingMessage
from tests.fakes.fake_telegram import FakeTelegram

CHATS = (1001, 1002, 1003)


class _Lag:
    """A 5 ms ticker that records its worst lateness (a blocked loop shows up here)."""

    def __init__(self) -> None:
        self.worst_s = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.005)
            self.worst_s = max(self.worst_s, loop.time() - start - 0.005)

    def __enter__(self) -> _Lag:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def _inline(_fake: FakeTelegram, cfg: TelegramConfig, n: int) -> dict[str, float]:
    app = build_application("1:bench", cfg)
    async with app:
        started = time.perf_counter()
        with _Lag() as lag:
            for i in range(n):
                try:
                    await app.bot.send_message(chat_id=CHATS[i % len(CHATS)], text=f"alert {i}")
                except Exception:  # a hung send times out; the inline pattern just loses it
                    pass
            handed_over = time.perf_counter() - started
        return {"producer_held_s": handed_over, "worst_lag_s": lag.worst_s,
                "delivered_s": time.perf_counter() - started}


class _Sender:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def send(self, msg: OutgoingMessage, _photo: bytes | None) -> None:
        await self.app.bot.send_message(chat_id=msg.chat_id, text=msg.text)


async def _outbox(fake: FakeTelegram, cfg: TelegramConfig, n: int, folder: Path) -> dict[str, float]:
    app = build_application("1:bench", cfg)
    async with app:
        outbox = Outbox(cfg, folder / "outbox.json")
        outbox.attach(_Sender(app))
        runner = asyncio.create_task(outbox.run())
        before = len(fake.sent)
        started = time.perf_counter()
        with _Lag() as lag:
            for i in range(n):
                outbox.enqueue(CHATS[i % len(CHATS)], f"alert {i}")
            handed_over = time.perf_counter() - started
            while len(fake.sent) - before < n and time.perf_counter() - started < 120:  # noqa: ASYNC110
                await asyncio.sleep(0.005)  # the fake server counts deliveries; polling it is the measurement
        delivered = time.perf_counter() - started
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        return {"producer_held_s": handed_over, "worst_lag_s": lag.worst_s, "delivered_s": delivered}


async def run(n: int, latency_s: float) -> dict[str, Any]:
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    out: dict[str, Any] = {"alerts": n, "latency_ms": latency_s * 1000}
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegram() as fake:
            base = {"base_url": fake.base_url, "per_chat_interval_s": 0.0, "group_interval_s": 0.0,
                    "global_per_second": 1000.0, "request_timeout_s": 0.5, "retry_initial_s": 0.05}
            fake.send_delay_s = latency_s
            cfg = TelegramConfig(**base)
            out["slow"] = {"inline": await _inline(fake, cfg, n), "outbox": await _outbox(fake, cfg, n, Path(tmp))}
            fake.send_delay_s = 0.6  # longer than the 0.5 s client timeout: every send hangs, then fails
            hung = max(3, n // 20)
            inline = await _inline(fake, cfg, hung)
            fake.send_delay_s = latency_s
            out["hung"] = {"alerts": hung, "inline": inline}
    return out


def _print(result: dict[str, Any]) -> None:
    slow = result["slow"]
    print(f"{result['alerts']} alerts, server latency {result['latency_ms']:.0f} ms, 3 chats")
    for name in ("inline", "outbox"):
        r = slow[name]
        print(f"  {name:7s} producer held {r['producer_held_s'] * 1000:9.2f} ms | worst loop lag "
              f"{r['worst_lag_s'] * 1000:8.2f} ms | all delivered after {r['delivered_s']:.2f} s")
    ratio = slow["inline"]["producer_held_s"] / max(slow["outbox"]["producer_held_s"], 1e-9)
    print(f"  producer hold, inline / outbox: {ratio:,.0f}x")
    hung = result["hung"]
    print(f"hung Telegram ({hung['alerts']} sends, client timeout 0.5 s): inline producer held "
          f"{hung['inline']['producer_held_s']:.2f} s; the outbox producer only enqueues (as above)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.alerts, args.latency_ms / 1000.0))
    print(json.dumps(result, indent=2)) if args.json else _print(result)


if __name__ == "__main__":
    main()
