"""The validator on the real shared candles: clean files never BLOCKED; injected faults all caught.

Fault model (seeded): displaced bars (a bad print moving a whole bar 25-50%), wick spikes (a high or
low 30-60% beyond the body), gaps (1-5 bars removed), duplicated rows, NaN closes, broken OHLC, a
swapped pair (out of order), a frozen tail (flat zero-volume bars repeating) and a stale feed.
Smaller displacements cannot be told from real crashes by one series alone; the live cross-checks
(ticker, spot vs perp) cover those.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ai_brain.data.data_integrity_validator import (
    check_basis,
    check_funding,
    check_spread,
    check_ticker,
    validate_candles,
)
from src.config.market import DataQualityConfig
from src.market.candles_io import CandleFileError, infer_timeframe_ms, load_candles
from tests.conftest import SHARED_DATA

CANDLE_FILES = ["binance_BTC-USDT_1h", "binance_ETH-USDT_1h", "binance_SOL-USDT_1h", "binance_BTC-USDT_5m",
                "binance_BTC-USDT_1m", "binance_ETH-USDT_1m"]
CFG = DataQualityConfig()


def _load(name: str) -> pd.DataFrame:
    path = SHARED_DATA / f"{name}.csv.gz"
    if not path.exists():
        pytest.skip(f"shared data file {path.name} not found")
    return load_candles(path)


def _flags(report) -> set[int]:
    """Every timestamp flagged by a finding that can change the verdict."""
    return {int(t) for f in report.findings.values() if f.severity != "info" for t in f.timestamps}


def inject_faults(df: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """Spoil a copy of ``df``; return it and the (kind, timestamp) of every injected fault."""
    rng = np.random.default_rng(seed)
    tf = infer_timeframe_ms(df["timestamp"].to_numpy())
    n = len(df)
    slots = rng.choice(np.arange(300, n - 300, 20), size=22, replace=False)  # well apart, away from the ends
    out = df.copy()
    faults: list[tuple[str, int]] = []
    price = ["open", "high", "low", "close"]
    for i in slots[0:5]:  # displaced bars
        factor = rng.choice([-1, 1]) * rng.uniform(0.25, 0.5)
        out.loc[i, price] = out.loc[i, price].to_numpy() * (1 + factor)
        faults.append(("spike", int(out.at[i, "timestamp"])))
    for i in slots[5:8]:  # wick spikes
        if rng.random() < 0.5:
            out.at[i, "high"] = max(out.at[i, "open"], out.at[i, "close"]) * rng.uniform(1.3, 1.6)
        else:
            out.at[i, "low"] = min(out.at[i, "open"], out.at[i, "close"]) / rng.uniform(1.3, 1.6)
        faults.append(("spike", int(out.at[i, "timestamp"])))
    for i in slots[8:11]:
        out.at[i, "close"] = np.nan
        faults.append(("nan", int(out.at[i, "timestamp"])))
    for i in slots[11:13]:
        out.at[i, "high"] = min(out.at[i, "open"], out.at[i, "close"]) * 0.999
        faults.append(("ohlc_inconsistent", int(out.at[i, "timestamp"])))
    drop: list[int] = []
    for i in slots[14:17]:  # gaps
        width = int(rng.integers(1, 6))
        drop.extend(range(i, i + width))
        faults.append(("gap", int(df.at[i, "timestamp"])))
    out = out.drop(index=drop)
    dups = [out.loc[[i]] for i in slots[17:20]]
    faults += [("duplicate", int(d["timestamp"].iloc[0])) for d in dups]
    out = pd.concat([out, *dups]).sort_index(kind="stable").reset_index(drop=True)
    swap = int(np.flatnonzero(out["timestamp"].to_numpy() == df.at[int(slots[13]), "timestamp"])[0])
    faults.append(("out_of_order", int(out.at[swap, "timestamp"])))
    order = np.arange(len(out))
    order[[swap, swap + 1]] = order[[swap + 1, swap]]
    out = out.iloc[order]
    last = out.iloc[-1]
    frozen_ts = int(last["timestamp"]) + tf * np.arange(1, 7)
    frozen = pd.DataFrame({"timestamp": frozen_ts, **{c: float(last["close"]) for c in price}, "volume": 0.0})
    faults += [("frozen", int(t)) for t in frozen_ts]
    return pd.concat([out, frozen], ignore_index=True), faults


@pytest.mark.parametrize("name", CANDLE_FILES)
def test_clean_real_files_are_never_blocked(name: str) -> None:
    df = _load(name)
    tf = infer_timeframe_ms(df["timestamp"].to_numpy())

    report = validate_candles(df, CFG, now_ms=int(df["timestamp"].iloc[-1]) + tf)

    assert report.verdict != "BLOCKED", report.reasons
    assert not report.flagged("duplicate").size
    assert not report.flagged("nan").size
    if not report.flagged("gap").size and not report.flagged("zero_volume").size:
        assert report.verdict == "OK", report.reasons


def test_injected_faults_are_all_caught(capsys: pytest.CaptureFixture[str]) -> None:
    lines, all_recall = [], []
    for seed, name in enumerate(CANDLE_FILES):
        df = _load(name)
        baseline = _flags(validate_candles(df, CFG))
        spoilt, faults = inject_faults(df, seed)
        tf = infer_timeframe_ms(df["timestamp"].to_numpy())
        stale_now = int(spoilt["timestamp"].max()) + tf * int(CFG.stale_after_bars + 3)

        report = validate_candles(spoilt, CFG, now_ms=stale_now)

        caught = [(k, t) for k, t in faults if t in set(report.flagged(k).tolist())]
        missed = sorted(set(faults) - set(caught))
        injected_ts = {t for _, t in faults} | {int(spoilt["timestamp"].max())}
        new_flags = _flags(report) - baseline
        true_flags = new_flags & injected_ts
        precision = len(true_flags) / max(len(new_flags), 1)
        recall = len(caught) / len(faults)
        all_recall.append(recall)
        lines.append(f"{name:<22} faults={len(faults):>3} recall={recall:6.1%} precision={precision:6.1%} "
                     f"verdict={report.verdict} clean-file flags={len(baseline)}")
        assert report.verdict == "BLOCKED"
        assert report.flagged("stale").size == 1
        assert not missed, f"{name}: missed {missed}"
        assert precision >= 0.9, f"{name}: {sorted(new_flags - true_flags)[:10]}"
    with capsys.disabled():
        print("\n[validator] injected-fault detection on real candles\n  " + "\n  ".join(lines))
    assert min(all_recall) == 1.0


def test_strict_loader_and_lenient_loader(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,open,high,low,close,volume\n2,1,1,1,1,1\n1,1,1,1,1,1\n")
    with pytest.raises(CandleFileError, match="row 2"):
        load_candles(path)
    assert len(load_candles(path, strict=False)) == 2
    (tmp_path / "hdr.csv").write_text("time,o,h,l,c,v\n1,1,1,1,1,1\n")
    with pytest.raises(CandleFileError, match="header"):
        load_candles(tmp_path / "hdr.csv")


def test_real_funding_history_is_plausible() -> None:
    path = SHARED_DATA / "binanceusdm_BTC-USDT_funding-8h.csv.gz"
    if not path.exists():
        pytest.skip("funding file not found")
    fr = pd.read_csv(path)

    findings = check_funding(fr["timestamp"].to_numpy(), fr["funding_rate"].to_numpy(), CFG)
    spoilt = check_funding(np.array([1, 2, 2]), np.array([0.0001, 0.05, np.nan]), CFG)

    assert [f.severity for f in findings if f.severity == "block"] == []
    assert {f.kind for f in spoilt} == {"funding_nan", "funding_implausible", "funding_order"}


def test_cross_checks_grade_disagreement() -> None:
    assert check_ticker(100.0, 100.5, 0, CFG) is None
    assert check_ticker(100.0, 102.0, 0, CFG).severity == "degrade"
    assert check_ticker(100.0, 110.0, 0, CFG).severity == "block"
    assert check_basis(100.0, 100.3, 0, CFG) is None
    assert check_basis(100.0, 125.0, 0, CFG).severity == "block"
    assert check_spread(100.0, 100.01, 0, CFG) is None
    assert check_spread(100.0, 99.0, 0, CFG).severity == "block"
    assert check_spread(100.0, 101.0, 0, CFG).severity == "degrade"
