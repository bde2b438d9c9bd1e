"""Historical downloads through the real client: resume after a dropped connection, incremental, gaps, CSV."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_brain.data.historical_data_fetcher import (
    CachedSeries,
    Gap,
    HistoricalDataFetcher,
    merge_intervals,
    subtract_intervals,
)
from src.exchange import ExchangeUnavailable
from src.market.candles_io import load_candles
from tests.fakes.fake_binance import FakeBinance, minute_rows
from tests.fakes.fake_time import FakeTime
from tests.market.conftest import MakeClient

KLINES = "/api/v3/klines"
REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_interrupted_download_resumes_to_a_complete_cache(
        fake: FakeBinance, make_client: MakeClient, fake_time: FakeTime, tmp_path: Path) -> None:
    rows = minute_rows(fake_time(), 5_000)
    fake.set_klines("BTCUSDT", "1m", rows)
    fake.fault(KLINES, drop=True, after=2, times=99)  # pages 1-2 arrive, then the connection keeps dying
    fetcher = HistoricalDataFetcher(make_client(attempts=2), tmp_path)
    since = int(rows[0][0])

    with pytest.raises(ExchangeUnavailable):
        await fetcher.download("BTC/USDT", "1m", since)
    partial = CachedSeries.load(fetcher.path("BTC/USDT", "1m"))
    fake.faults.clear()
    before = fake.count(KLINES)
    done = await fetcher.download("BTC/USDT", "1m", since)
    resumed_requests = fake.count(KLINES) - before
    again = await fetcher.download("BTC/USDT", "1m", since)

    assert len(partial.frame) == 2_000
    ts = load_candles(done.path)["timestamp"].to_numpy()
    assert ts.tolist() == [int(r[0]) for r in rows]  # complete, ordered, no duplicates
    assert done.rows_new == 3_000
    assert resumed_requests == 3
    assert done.gaps == ()
    assert again.requests == 0
    assert again.rows_new == 0
    assert again.rows_in_range == 5_000


async def test_gaps_are_reported_and_never_refetched(fake: FakeBinance, make_client: MakeClient,
                                                     fake_time: FakeTime, tmp_path: Path) -> None:
    rows = minute_rows(fake_time(), 1_500)
    hole = rows[700:707]
    fake.set_klines("ETHUSDT", "1m", rows[:700] + rows[707:])
    progress: list[tuple[int, int]] = []
    fetcher = HistoricalDataFetcher(make_client(), tmp_path, page_limit=500,
                                    progress=lambda d, t: progress.append((d, t)))
    since = int(rows[0][0]) - 10 * 60_000  # ten minutes before the exchange has data

    first = await fetcher.download("ETH/USDT", "1m", since)
    second = await fetcher.download("ETH/USDT", "1m", since)

    assert first.gaps == (Gap(since, 10), Gap(int(hole[0][0]), 7))
    assert first.report is not None
    assert first.report.verdict == "DEGRADED"
    assert second.requests == 0
    assert second.gaps == first.gaps
    assert progress[-1][0] == progress[-1][1] > 0


async def test_extending_the_range_fetches_only_the_new_part(fake: FakeBinance, make_client: MakeClient,
                                                             fake_time: FakeTime, tmp_path: Path) -> None:
    rows = minute_rows(fake_time(), 3_000)
    fake.set_klines("BTCUSDT", "1m", rows)
    fetcher = HistoricalDataFetcher(make_client(), tmp_path)
    mid = int(rows[1_000][0])

    await fetcher.download("BTC/USDT", "1m", mid)
    before = fake.count(KLINES)
    wider = await fetcher.download("BTC/USDT", "1m", int(rows[0][0]))

    assert fake.count(KLINES) - before == 1
    assert wider.rows_new == 1_000
    assert wider.rows_in_range == 3_000
    assert fake.requests[-1].query["startTime"] == str(int(rows[0][0]))


async def test_csv_export_import_round_trip(fake: FakeBinance, make_client: MakeClient, fake_time: FakeTime,
                                           tmp_path: Path) -> None:
    rows = minute_rows(fake_time(), 1_200)
    fake.set_klines("BTCUSDT", "1m", rows)
    fetcher = HistoricalDataFetcher(make_client(), tmp_path / "a")
    await fetcher.download("BTC/USDT", "1m", int(rows[0][0]))
    out = tmp_path / "btc.csv.gz"

    exported = fetcher.export_csv(out, "BTC/USDT", "1m")
    other = HistoricalDataFetcher(make_client(), tmp_path / "b")
    imported = other.import_csv(out, "BTC/USDT", "1m")

    a = load_candles(fetcher.path("BTC/USDT", "1m"))
    b = load_candles(other.path("BTC/USDT", "1m"))
    assert exported == imported == 1_200
    assert np.array_equal(a.to_numpy(), b.to_numpy())
    assert np.array_equal(load_candles(out).to_numpy(), a.to_numpy())


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200)), max_size=8),
       st.integers(0, 100), st.integers(0, 200))
def test_missing_plus_covered_is_exactly_the_request(have: list[tuple[int, int]], lo: int, hi: int) -> None:
    missing = subtract_intervals((lo, hi), have)
    covered = {t for a, b in merge_intervals(have) for t in range(a, b)}
    want = set(range(lo, hi))

    assert {t for a, b in missing for t in range(a, b)} == want - covered
    assert all(a < b for a, b in missing)
    assert missing == merge_intervals(missing)


def test_interval_subtraction() -> None:
    assert subtract_intervals((0, 100), [(10, 20), (15, 30), (90, 120)]) == [(0, 10), (30, 90)]
    assert subtract_intervals((0, 100), []) == [(0, 100)]
    assert subtract_intervals((0, 100), [(0, 100)]) == []


async def test_download_script_end_to_end(fake: FakeBinance, tmp_path: Path) -> None:
    hour = 3_600_000
    rows = minute_rows(time.time(), 48, tf_ms=hour)
    fake.set_klines("BTCUSDT", "1h", rows)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rows[0][0] / 1000))
    cmd = [sys.executable, str(REPO_ROOT / "scripts" / "download_data.py"), "--symbol", "BTC/USDT",
           "--timeframe", "1h", "--since", since, "--root", str(tmp_path), "--api-base-url", fake.base_url,
           "--json"]

    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)

    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["rows_in_range"] == 48
    assert summary["gaps"] == []
    assert summary["verdict"] == "OK"
    assert Path(summary["cache"]).is_relative_to(tmp_path / "data" / "cache" / "binance")


async def _script(*args: str) -> tuple[int, str, str]:
    cmd = [sys.executable, str(REPO_ROOT / "scripts" / "download_data.py"), *args]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_progress_bar_and_import_without_symbol(fake: FakeBinance, tmp_path: Path) -> None:
    """A download shows a progress bar; --import takes symbol and timeframe from the file name."""
    hour = 3_600_000
    rows = minute_rows(time.time(), 48, tf_ms=hour)
    fake.set_klines("BTCUSDT", "1h", rows)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rows[0][0] / 1000))
    exported = tmp_path / "binance_BTC-USDT_1h.csv.gz"
    code, out, err = await _script("--symbol", "BTC/USDT", "--timeframe", "1h", "--since", since, "--root",
                                   str(tmp_path / "a"), "--api-base-url", fake.base_url, "--page-limit", "10",
                                   "--export", str(exported))
    assert code == 0, err
    assert "100%" in err
    assert "candle" in err
    code, out, err = await _script("--import", str(exported), "--root", str(tmp_path / "b"), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["symbol"] == "BTC/USDT"
    assert summary["timeframe"] == "1h"
    assert summary["imported_new"] == 48
    unnamed = tmp_path / "candles.csv"
    unnamed.write_bytes(b"timestamp,open,high,low,close,volume\n")
    code, out, err = await _script("--import", str(unnamed), "--root", str(tmp_path / "c"))
    assert code == 2
    assert "cannot tell the symbol from file name" in err
    assert "Traceback" not in err
