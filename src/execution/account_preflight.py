"""Start-up checks of the exchange account before a live or testnet bot may open risk.

Binance lets an account be set up in ways the bot cannot trade safely, and says so only order by
order. So at start-up, once:

* **the key** (live): ``GET /sapi/v1/account/apiRestrictions``. A key that can withdraw is refused
  outright (a stolen key could empty the account); a key without an IP restriction is a warning.
  Binance's demo and spot-testnet hosts have no ``sapi`` endpoints and their keys move no real
  funds, so there the check is skipped with a note.
* **the futures account** (when a futures venue is configured): hedge mode (``dualSidePosition``)
  is refused — every one-way order would get -4061; margin mode and leverage are set per perp
  symbol from config (``exchange.margin_mode``, ``exchange.leverage`` / ``default_leverage``); and
  each perp's funding interval is read from ``fundingInfo`` instead of assuming 8 hours.

A refusal is one clear line (:class:`PreflightRefused`); the component keeps new entries closed,
halts the controller and sends an action alert. Exits are never blocked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from src.config.market import ExchangeConfig
from src.core.events import Alert, Event
from src.exchange.binance import ExchangeClient, perp_symbol
from src.exchange.errors import ExchangeAccessError, is_margin_mode_already_set

log = logging.getLogger(__name__)


class PreflightRefused(Exception):
    """The account or key is set up so that trading would be unsafe; the message says what to change."""


@dataclass(frozen=True)
class PreflightReport:
    """What the checks found and set."""

    warnings: list[str] = field(default_factory=list)
    leverage: dict[str, int] = field(default_factory=dict)
    margin_mode: str = ""
    funding_hours: dict[str, float] = field(default_factory=dict)


async def check_key_permissions(client: ExchangeClient) -> list[str]:
    """Refuse a key that can withdraw; warn when it is not IP-restricted. Returns the warnings."""
    raw = await client.call("sapiGetAccountApiRestrictions")
    if not isinstance(raw, dict) or "enableWithdrawals" not in raw:
        raise PreflightRefused("could not read the API key's permissions (apiRestrictions gave no answer)")
    if raw.get("enableWithdrawals"):
        raise PreflightRefused("the exchange API key can withdraw funds: create a key with withdrawals disabled "
                               "(Binance API management), then restart; live trading refused")
    if not raw.get("ipRestrict"):
        return ["the exchange API key is not IP-restricted: restrict it to this server's IP in Binance API "
                "management"]
    return []


async def prepare_futures_account(client: ExchangeClient, symbols: list[str],
                                  cfg: ExchangeConfig) -> PreflightReport:
    """Refuse hedge mode, set margin mode and leverage per perp, read funding intervals."""
    mode = await client.call("fapiPrivateGetPositionSideDual")
    if _truthy((mode or {}).get("dualSidePosition")):
        raise PreflightRefused("the futures account is in hedge mode (dualSidePosition): switch Binance futures to "
                               "one-way mode (Preferences → Position Mode), then restart")
    await client.load_markets()
    leverage: dict[str, int] = {}
    for sym in symbols:
        perp = perp_symbol(sym)
        try:
            await client.call("set_margin_mode", cfg.margin_mode, perp)
        except ExchangeAccessError as exc:
            if not is_margin_mode_already_set(exc):  # -4046: it already is what config asks
                raise
        want = cfg.leverage_for(sym)
        answer = await client.call("set_leverage", want, perp)
        got = int(float((answer or {}).get("leverage", want)))
        if got != want:
            raise PreflightRefused(f"{sym}: the exchange set leverage {got}x, config asks {want}x")
        leverage[sym] = got
    hours = await client.fetch_funding_intervals([perp_symbol(s) for s in symbols])
    client.funding_hours.update(hours)
    return PreflightReport(leverage=leverage, margin_mode=cfg.margin_mode,
                           funding_hours={s.split(":")[0]: h for s, h in hours.items()})


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


async def run_preflight(spot: ExchangeClient, futures: ExchangeClient | None, cfg: ExchangeConfig,
                        mode: str, perp_symbols: list[str]) -> PreflightReport:
    """Every start-up check for ``mode`` (testnet/live), in order; raises :class:`PreflightRefused`."""
    warnings: list[str] = []
    if mode == "live":
        warnings += await check_key_permissions(spot)
    else:
        log.info("testnet: key permissions not checked (the test venues have no sapi; their keys move no funds)")
    report = PreflightReport()
    if futures is not None and perp_symbols:
        report = await prepare_futures_account(futures, perp_symbols, cfg)
    return PreflightReport(warnings=warnings, leverage=report.leverage, margin_mode=report.margin_mode,
                           funding_hours=report.funding_hours)


class AccountPreflight:
    """Component ``account_preflight``: runs the checks once, then opens (or keeps shut) the entry gate."""

    name = "account_preflight"

    def __init__(self, check: Callable[[], Awaitable[PreflightReport]], gate: asyncio.Event, *,
                 halt: Callable[[str], object], publish: Callable[[Event], None], now_ms: Callable[[], int]) -> None:
        self._check, self.gate, self._halt, self._publish, self._now_ms = check, gate, halt, publish, now_ms
        self.report: PreflightReport | None = None
        self.refused: str = ""

    async def run(self) -> None:
        try:
            self.report = await self._check()
        except PreflightRefused as exc:
            self._refuse(str(exc))
            return
        except ExchangeAccessError as exc:  # unverifiable is unsafe: no new risk until a person looks
            self._refuse(f"could not check the exchange account ({type(exc).__name__}: {exc}); fix and restart")
            return
        for warning in self.report.warnings:
            log.warning("%s", warning)
            self._publish(Alert("warning", "exchange key", warning, key="preflight-warning", ts_ms=self._now_ms()))
        log.info("account checks passed: margin %s, leverage %s, funding hours %s", self.report.margin_mode,
                 self.report.leverage, self.report.funding_hours)
        self.gate.set()

    def _refuse(self, reason: str) -> None:
        self.refused = reason
        log.critical("live trading refused: %s", reason)
        self._halt(reason)
        self._publish(Alert("action", "live trading refused", reason, key="preflight", ts_ms=self._now_ms()))

    def snapshot(self) -> dict[str, Any]:
        rep = self.report
        return {"passed": self.gate.is_set(), "refused": self.refused,
                "warnings": rep.warnings if rep else [], "funding_hours": rep.funding_hours if rep else {}}


def preflight_component(spot: ExchangeClient, futures: ExchangeClient | None, cfg: ExchangeConfig, mode: str,
                        perp_symbols: list[str], gate: asyncio.Event, *, halt: Callable[[str], object],
                        publish: Callable[[Event], None], now_ms: Callable[[], int]) -> AccountPreflight:
    """The component the wiring adds in testnet/live; ``gate`` is the venue's ``account_gate``."""
    async def check() -> PreflightReport:
        return await run_preflight(spot, futures, cfg, mode, perp_symbols)

    return AccountPreflight(check, gate, halt=halt, publish=publish, now_ms=now_ms)


__all__ = [
    "AccountPreflight",
    "PreflightRefused",
    "PreflightReport",
    "check_key_permissions",
    "preflight_component",
    "prepare_futures_account",
    "run_preflight",
]
