"""Paper CEX executor (dry-run): fills against the book as it is at execution time, not at detection time.

Both legs are sent at once as IOC limit orders: the buy limited at the detection-time buy VWAP x (1 + tolerance),
the sell at the detection-time sell VWAP x (1 - tolerance), tolerance = SLIPPAGE_TOLERANCE_BPS. An order reaches its
venue ``latency`` after submission and fills against
the FIRST book of that venue stamped at or after its arrival (we never fill against a book the order could not have
seen). Each leg walks that book up to its limit price: it can fill fully, partly, or not at all.

When the legs fill different amounts, the difference is a position we did not want. It is unwound at once at that
venue's top of book (selling a long remainder at the bid, buying back a short one at the ask), taker fee included,
and the result counts in the realized profit. Realized and predicted profit are recorded side by side;
``slippage_bps`` = (predicted - realized) / notional x 10^4: the edge lost between detection and fill.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from arb.detect.cex import BPS, BPS_QUANTUM, MONEY_QUANTUM, FeeLookup, walk
from arb.domain import Decision, Execution, ExecutionStatus, Fill, Opportunity, split_symbol
from arb.execute.base import BookLookup, Pending, ensure_executable


class PaperCexExecutor:
    def __init__(
        self,
        *,
        latency_ms: int,
        slippage_tolerance_bps: Decimal,
        fee: FeeLookup,
        quote_usd: Mapping[str, Decimal],
        next_id: Callable[[], str],
        max_wait_ms: int = 120_000,
    ) -> None:
        self.latency = timedelta(milliseconds=latency_ms)
        self.tol = slippage_tolerance_bps / BPS
        self.fee = fee
        self.quote_usd = quote_usd
        self.next_id = next_id
        self.max_wait = timedelta(milliseconds=max_wait_ms)
        self._pending: list[Pending] = []

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, decision: Decision, opp: Opportunity, now: datetime) -> Pending:
        ensure_executable(decision, opp)
        p = Pending(decision=decision, opportunity=opp, submitted_at=now, arrives_at=now + self.latency)
        self._pending.append(p)
        return p

    def poll(self, now: datetime, books: BookLookup) -> list[Execution]:
        done, keep = [], []
        for p in self._pending:
            o = p.opportunity
            bb = books(o.buy_venue, o.symbol)
            sb = books(o.sell_venue, o.sell_symbol)
            if bb is not None and sb is not None and bb.timestamp >= p.arrives_at and sb.timestamp >= p.arrives_at:
                done.append(self._fill(p, bb, sb))
            elif now - p.arrives_at > self.max_wait:
                done.append(self._missed(p, now, "no book at or after the orders' arrival within the max wait"))
            else:
                keep.append(p)
        self._pending = keep
        return done

    def drain(self, now: datetime, books: BookLookup) -> list[Execution]:
        done = self.poll(now, books)
        done += [self._missed(p, now, "stream ended before a book at or after the orders' arrival")
                 for p in self._pending]
        self._pending = []
        return done

    # ---- internals ----
    def _missed(self, p: Pending, now: datetime, note: str) -> Execution:
        o = p.opportunity
        return Execution(
            id=self.next_id(), decision_id=p.decision.id, opportunity_id=o.id, route_id=o.route_id,
            symbol=o.symbol, chain=o.chain, status=ExecutionStatus.MISSED, fills=(), submitted_at=p.submitted_at,
            filled_at=now, latency_ms=int((now - p.submitted_at).total_seconds() * 1000),
            predicted_profit=o.net_profit, realized_profit=Decimal(0), fees=Decimal(0),
            slippage_bps=_bps(o.net_profit, o.notional_usd), edge_bps=o.edge_bps, note=note,
        )

    def _fill(self, p: Pending, buy_book, sell_book) -> Execution:
        o = p.opportunity
        size = p.decision.size
        # Limits come from the DETECTION-time VWAPs, widened by the tolerance.
        buy_limit = o.buy_price * (1 + self.tol)
        sell_limit = o.sell_price * (1 - self.tol)
        bq, sq = split_symbol(o.symbol)[1], split_symbol(o.sell_symbol)[1]
        brate, srate = self.quote_usd[bq], self.quote_usd[sq]
        fb, fs = self.fee(o.buy_venue, o.symbol), self.fee(o.sell_venue, o.sell_symbol)

        b_amt, b_cost = walk(buy_book.asks, size, limit=buy_limit, side="buy")
        s_amt, s_proc = walk(sell_book.bids, size, limit=sell_limit, side="sell")
        b_fee, s_fee = b_cost * fb, s_proc * fs
        fills = []
        if b_amt > 0:
            fills.append(Fill(venue=o.buy_venue, symbol=o.symbol, side="buy", price=b_cost / b_amt, requested=size,
                              amount=b_amt, fee=_m(b_fee), fee_currency=bq, limit_price=buy_limit))
        if s_amt > 0:
            fills.append(Fill(venue=o.sell_venue, symbol=o.sell_symbol, side="sell", price=s_proc / s_amt,
                              requested=size, amount=s_amt, fee=_m(s_fee), fee_currency=sq, limit_price=sell_limit))
        cash = s_proc * srate - b_cost * brate
        fees_usd = b_fee * brate + s_fee * srate
        note = ""
        residual = b_amt - s_amt
        if residual > 0:  # long the remainder on the buy venue: sell it back at its bid
            bid = buy_book.bids[0].price if buy_book.bids else Decimal(0)
            value = residual * bid
            cash += value * brate
            fees_usd += value * fb * brate
            note = f"unwound long {residual} at {bid} on {o.buy_venue}"
            fills.append(Fill(venue=o.buy_venue, symbol=o.symbol, side="sell", price=bid, requested=residual,
                              amount=residual, fee=_m(value * fb), fee_currency=bq, limit_price=bid))
        elif residual < 0:  # short the remainder on the sell venue: buy it back at its ask
            ask = sell_book.asks[0].price if sell_book.asks else Decimal(0)
            value = -residual * ask
            cash -= value * srate
            fees_usd += value * fs * srate
            note = f"unwound short {-residual} at {ask} on {o.sell_venue}"
            fills.append(Fill(venue=o.sell_venue, symbol=o.sell_symbol, side="buy", price=ask, requested=-residual,
                              amount=-residual, fee=_m(value * fs), fee_currency=sq, limit_price=ask))
        realized = _m(cash) - _m(fees_usd)
        if b_amt == size and s_amt == size:
            status = ExecutionStatus.FILLED
        elif b_amt == 0 and s_amt == 0:
            status = ExecutionStatus.MISSED
            note = "both IOC orders found no liquidity within their limits"
        else:
            status = ExecutionStatus.PARTIAL
        filled_at = max(buy_book.timestamp, sell_book.timestamp)
        return Execution(
            id=self.next_id(), decision_id=p.decision.id, opportunity_id=o.id, route_id=o.route_id, symbol=o.symbol,
            chain=o.chain, status=status, fills=tuple(fills), submitted_at=p.submitted_at, filled_at=filled_at,
            latency_ms=int((filled_at - p.submitted_at).total_seconds() * 1000),
            predicted_profit=o.net_profit, realized_profit=realized, fees=_m(fees_usd),
            slippage_bps=_bps(o.net_profit - realized, o.notional_usd), edge_bps=o.edge_bps, note=note,
        )


def _m(x: Decimal) -> Decimal:
    return x.quantize(MONEY_QUANTUM)


def _bps(x: Decimal, notional: Decimal) -> Decimal:
    if notional <= 0:
        return Decimal(0)
    return (x / notional * BPS).quantize(BPS_QUANTUM)
