"""Clients trading on the simulated platform: a realistic stream of closed deals for the demo and
the tests, reproducible from a seed.

Each account trades on weekdays at its own pace; symbols are FX majors (most deals), metals and
indices; lot sizes are skewed small (0.01 to 5, a median near 0.1); hold times run from seconds
(some scalping) to days. The broker earns a per-symbol spread on every lot, and a commission per lot
on accounts whose group charges one (ECN and Pro: raw spreads plus commission); positions held over
midnight pay swap (not on swap-free accounts); the client's profit is random with a slight loss on
average. A day's deals of one account depend only on the seed, the login and the day, so
generating an overlapping period again adds nothing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from sim.models import SimPlatformAccount, SimPlatformDeal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class SymbolSpec:
    name: str
    weight: int  # how often it is traded, relative to the others
    spread_per_lot: Decimal  # the broker's spread revenue per lot
    swap_per_night: Decimal  # what one lot held over midnight costs (long; short earns a little back)
    move_per_lot: float  # the client's typical profit or loss per lot over an hour


SYMBOLS = [
    SymbolSpec("EURUSD", 30, Decimal("7.00"), Decimal("-6.80"), 60.0),
    SymbolSpec("GBPUSD", 16, Decimal("9.00"), Decimal("-5.20"), 80.0),
    SymbolSpec("USDJPY", 12, Decimal("8.00"), Decimal("-2.10"), 65.0),
    SymbolSpec("AUDUSD", 6, Decimal("8.00"), Decimal("-3.40"), 50.0),
    SymbolSpec("USDCHF", 4, Decimal("10.00"), Decimal("-1.90"), 55.0),
    SymbolSpec("USDCAD", 4, Decimal("10.00"), Decimal("-3.00"), 55.0),
    SymbolSpec("XAUUSD", 14, Decimal("20.00"), Decimal("-28.00"), 450.0),
    SymbolSpec("XAGUSD", 3, Decimal("15.00"), Decimal("-9.50"), 300.0),
    SymbolSpec("US30", 5, Decimal("5.00"), Decimal("-11.00"), 250.0),
    SymbolSpec("NAS100", 4, Decimal("4.00"), Decimal("-9.00"), 220.0),
    SymbolSpec("GER40", 2, Decimal("4.00"), Decimal("-7.50"), 180.0),
]
_WEIGHTS = [s.weight for s in SYMBOLS]
COMMISSION_PER_LOT = {"ecn": Decimal("7.00"), "pro": Decimal("5.00")}  # by a word in the platform group
RAW_SPREAD_SHARE = {"ecn": Decimal("0.3"), "pro": Decimal("0.5")}  # raw-spread groups earn less on spread


def _money(value: Decimal | float) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _group_word(group: str, table: dict[str, Decimal]) -> str | None:
    lowered = group.lower()
    return next((word for word in table if word in lowered), None)


def _lots(rng: random.Random) -> Decimal:
    """0.01 to 5 lots, skewed small: log-normal around 0.1 lot."""
    return max(CENT, min(Decimal("5.00"), _money(math.exp(rng.gauss(-2.3, 1.1)))))


def _hold(rng: random.Random) -> timedelta:
    """Seconds (scalping) to days: a mix of the holding habits of retail traders."""
    kind = rng.random()
    if kind < 0.15:
        seconds = rng.uniform(5, 120)  # scalping
    elif kind < 0.65:
        seconds = math.exp(rng.uniform(math.log(120), math.log(8 * 3600)))  # minutes to hours
    elif kind < 0.95:
        seconds = math.exp(rng.uniform(math.log(8 * 3600), math.log(3 * 86400)))  # overnight to days
    else:
        seconds = rng.uniform(3 * 86400, 10 * 86400)  # swing trades
    return timedelta(seconds=round(seconds))


def _nights(opened: datetime, closed: datetime) -> int:
    """Midnights (UTC rollover) the position was held over; Wednesday's counts three (the weekend)."""
    nights = 0
    day = opened.astimezone(UTC).date()
    last = closed.astimezone(UTC).date()
    while day < last:
        nights += 3 if day.weekday() == 2 else 1
        day += timedelta(days=1)
    return nights


def _day_deals(account: SimPlatformAccount, day: date, seed: int) -> list[SimPlatformDeal]:
    rng = random.Random(f"{seed}:{account.login}:{day.isoformat()}")
    pace = random.Random(f"{seed}:{account.login}").uniform(0.5, 6.0)  # the account's own deals per day
    if day.weekday() >= 5:
        return []
    count = _poisson(rng, pace)
    commission_word = _group_word(account.group, COMMISSION_PER_LOT)
    raw_word = _group_word(account.group, RAW_SPREAD_SHARE)
    swap_free = "islamic" in account.group.lower() or "swap" in account.group.lower()
    deals = []
    for n in range(count):
        spec = rng.choices(SYMBOLS, weights=_WEIGHTS)[0]
        side = "buy" if rng.random() < 0.55 else "sell"
        lots = _lots(rng)
        closed = datetime.combine(day, time.min, tzinfo=UTC) + timedelta(seconds=rng.uniform(3600, 23 * 3600))
        opened = closed - _hold(rng)
        hours = (closed - opened).total_seconds() / 3600
        spread = spec.spread_per_lot * lots * (RAW_SPREAD_SHARE[raw_word] if raw_word else 1)
        commission = COMMISSION_PER_LOT[commission_word] * lots if commission_word else Decimal("0")
        nights = 0 if swap_free else _nights(opened, closed)
        swap_rate = spec.swap_per_night if side == "buy" else -spec.swap_per_night * Decimal("0.3")
        swap = swap_rate * lots * nights
        profit = rng.gauss(-0.05, 1.0) * spec.move_per_lot * float(lots) * math.sqrt(hours + 0.05)
        deals.append(
            SimPlatformDeal(
                account=account,
                symbol=spec.name,
                side=side,
                lots=lots,
                opened_at=opened,
                closed_at=closed,
                spread=_money(spread),
                commission=_money(commission),
                swap=_money(swap),
                profit=_money(profit),
                currency=account.currency,
                run_key=f"{seed}:{account.login}:{day.isoformat()}:{n}",
            )
        )
    return deals


def _poisson(rng: random.Random, mean: float) -> int:
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def simulate_trading(*, start: datetime, end: datetime, accounts: Iterable[str] | None = None, seed: int = 0) -> int:
    """Close deals on the simulated platform for ``accounts`` (logins; default: every account that
    may trade) from ``start`` to ``end`` (never later than now); returns how many were added. The
    same seed gives the same deals, and a period generated before adds nothing again."""
    end = min(end, timezone.now())
    rows = SimPlatformAccount.objects.order_by("login")
    rows = rows.filter(login__in=list(accounts)) if accounts is not None else rows.filter(trading_enabled=True)
    made: list[SimPlatformDeal] = []
    for account in rows:
        day = start.astimezone(UTC).date()
        while day <= end.astimezone(UTC).date():
            made.extend(d for d in _day_deals(account, day, seed) if start <= d.closed_at <= end)
            day += timedelta(days=1)
    made.sort(key=lambda d: (d.closed_at, d.run_key))  # the platform numbers deals as they close
    before = SimPlatformDeal.objects.count()
    for chunk in range(0, len(made), 5000):
        SimPlatformDeal.objects.bulk_create(made[chunk : chunk + 5000], ignore_conflicts=True)
    return SimPlatformDeal.objects.count() - before
