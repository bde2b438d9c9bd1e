"""A plain, obviously-correct (slow) backtester written straight from the documented rules.

It shares no code with the compiled engine: positions are dicts, every rule is spelled out
in the order the docs give it. The property tests demand identical trade lists from both.
"""

from __future__ import annotations

import math

from src.strategy.spec import RiskGenes


def _open(side: int, px: float, atr_sig: float, risk: RiskGenes, mmr: float) -> dict:
    pos = {"side": side, "entry": px, "rem": 1.0, "stop": None, "r": None, "tp": None, "liq": None,
           "best": px, "bars": 0, "next_partial": 0, "stop_reason": "stop", "time_exit": False}
    if risk.stop_atr > 0 and atr_sig > 0:
        pos["r"] = risk.stop_atr * atr_sig
        pos["stop"] = px - side * pos["r"]
    if risk.take_profit_atr > 0 and atr_sig > 0:
        pos["tp"] = px + side * risk.take_profit_atr * atr_sig
    if not risk.hedged:
        pos["liq"] = px * (1 - side * (1 / risk.leverage - mmr))
    return pos


def _bar_exits(pos: dict, o: float, h: float, lo: float, atr_now: float, risk: RiskGenes) -> list:  # noqa: C901
    """Exits of one bar as (price, fraction, reason); mutates pos."""
    side = pos["side"]
    # 1. adverse: whichever of stop / liquidation is nearer the entry side is hit first
    level, reason = None, None
    if pos["stop"] is not None:
        level, reason = pos["stop"], pos["stop_reason"]
    if pos["liq"] is not None and (level is None or side * (pos["liq"] - level) >= 0):
        level, reason = pos["liq"], "liquidation"
    if level is not None:
        touched = lo <= level if side > 0 else h >= level
        if touched:
            gap = o < level if side > 0 else o > level
            price = o if (gap and reason != "liquidation") else level
            frac, pos["rem"] = pos["rem"], 0.0
            return [(price, frac, reason)]
    out = []
    fav = h if side > 0 else lo
    # 2. partial take-profits in order
    while pos["next_partial"] < len(risk.partial_tp) and pos["rem"] > 1e-12:
        p = risk.partial_tp[pos["next_partial"]]
        target = pos["entry"] + side * p.at_r * pos["r"]
        if (fav < target) if side > 0 else (fav > target):
            break
        price = o if ((o > target) if side > 0 else (o < target)) else target
        frac = min(p.fraction, pos["rem"])
        out.append((price, frac, "partial"))
        pos["rem"] -= frac
        pos["next_partial"] += 1
    # 3. full take-profit
    if pos["rem"] > 1e-12 and pos["tp"] is not None and ((fav >= pos["tp"]) if side > 0 else (fav <= pos["tp"])):
        price = o if ((o > pos["tp"]) if side > 0 else (o < pos["tp"])) else pos["tp"]
        out.append((price, pos["rem"], "take_profit"))
        pos["rem"] = 0.0
    if pos["rem"] <= 1e-12:
        pos["rem"] = 0.0
        return out
    # 4. trailing for the next bar
    pos["best"] = max(pos["best"], h) if side > 0 else min(pos["best"], lo)
    if pos["r"] is not None:
        profit_r = side * (pos["best"] - pos["entry"]) / pos["r"]
        for stage in risk.trailing:
            if profit_r < stage.trigger_r:
                break
            cands = []
            if stage.lock_r is not None:
                cands.append(pos["entry"] + side * stage.lock_r * pos["r"])
            if stage.trail_atr is not None and not math.isnan(atr_now):
                cands.append(pos["best"] - side * stage.trail_atr * atr_now)
            for cand in cands:
                if side * (cand - pos["stop"]) > 0:
                    pos["stop"], pos["stop_reason"] = cand, "trailing_stop"
    # 5. time
    pos["bars"] += 1
    if risk.max_hold_bars and pos["bars"] >= risk.max_hold_bars:
        pos["time_exit"] = True
    return out


def slow_backtest(c, atr, sig, funding, risk: RiskGenes, fee: float, slip: float, cash0: float,  # noqa: C901
                  mmr: float, start: int, end: int, maker: float | None = None) -> tuple[list[dict], list[float]]:
    """Returns (trades, equity at each close of [start, end))."""
    fee_rate = fee * (2 if risk.hedged else 1)
    maker_rate = (fee if maker is None else maker) * (2 if risk.hedged else 1)
    pm = 0.0 if risk.hedged else 1.0
    cash, pos, trades, equity = cash0, None, [], []

    def book(price: float, frac: float, rate: float = fee_rate) -> float:
        q = pos["qty0"] * frac
        gross = pm * pos["side"] * q * (price - pos["entry"])
        f = q * price * rate
        pos["trade"]["gross"] += gross
        pos["trade"]["fees"] += f
        pos["trade"]["exit_value"] += price * frac
        return gross - f

    def finish(bar: int, reason: str) -> None:
        t = pos["trade"]
        t.update(exit_bar=bar, reason=reason, exit_price=t.pop("exit_value"))
        t["pnl"] = t["gross"] - t["fees"] - t["funding"]
        trades.append(t)

    for i in range(start, end):
        if pos is not None and funding[i] != 0:
            pay = pos["side"] * pos["qty0"] * pos["rem"] * c.open[i] * funding[i]
            cash -= pay
            pos["trade"]["funding"] += pay
        if i > start:
            j = i - 1
            if pos is not None:
                long_ = pos["side"] > 0
                exit_long = sig.exit_long[j] or sig.entry_short[j]
                exit_short = sig.exit_short[j] or sig.entry_long[j]
                sig_exit = exit_long if long_ else exit_short
                if sig_exit or pos["time_exit"]:
                    cash += book(c.open[i] * (1 - pos["side"] * slip), pos["rem"])
                    finish(i, "signal" if sig_exit else "time")
                    pos = None
            want = 0
            if sig.entry_long[j] and not sig.entry_short[j]:
                want = 1
            elif sig.entry_short[j] and not sig.entry_long[j]:
                want = -1
            atr_ok = risk.stop_atr == 0 or atr[j] > 0
            if pos is None and want and atr_ok and cash > 0:
                px = c.open[i] * (1 + want * slip)
                qty0 = cash * risk.position_fraction * risk.leverage / px
                pos = _open(want, px, atr[j], risk, mmr)
                pos["qty0"] = qty0
                fee_in = qty0 * px * fee_rate
                pos["trade"] = {"entry_bar": i, "side": want, "entry_price": px, "qty": qty0, "fees": fee_in,
                                "funding": 0.0, "gross": 0.0, "exit_value": 0.0, "equity_at_entry": cash}
                cash -= fee_in
        if pos is not None:
            exits = _bar_exits(pos, c.open[i], c.high[i], c.low[i], atr[i], risk)
            for price, frac, reason in exits:
                if reason in ("stop", "trailing_stop"):
                    price *= 1 - pos["side"] * slip
                cash += book(price, frac, maker_rate if reason in ("partial", "take_profit") else fee_rate)
            if exits and pos["rem"] == 0.0:
                finish(i, exits[-1][2])
                pos = None
        unreal = pm * pos["side"] * pos["qty0"] * pos["rem"] * (c.close[i] - pos["entry"]) if pos else 0.0
        equity.append(cash + unreal)
    if pos is not None:
        cash += book(c.close[end - 1] * (1 - pos["side"] * slip), pos["rem"])
        finish(end - 1, "end_of_data")
        equity[-1] = cash
    return trades, equity
