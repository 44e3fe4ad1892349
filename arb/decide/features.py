"""The versioned 16-dimensional feature vector (the design's FlashLoanProfitPredictor input).

One pure function, ``features(opp, ctx)``, computes it both online (the scorer, at decision time) and offline
(training reads the vector stored with each decision row), so training sees exactly what the model saw. Its only
inputs are the ``Opportunity`` and the ``ScoreContext`` (volatility estimate and route history *as of decision
time*); nothing from the execution is used, so there is no look-ahead.

Every value is a finite float, never NaN or inf: a missing or NaN input maps to the documented default, and every
input and output is clipped to ``[-CLIP, CLIP]`` (``CLIP = 1e12``), so infinities and huge ``Decimal``s saturate.
``slog(x) = sign(x) * log1p(|x|)`` (signed log: defined for losses too).

Changing a name, order, unit, transform or default is a new ``FEATURE_VERSION``.

==  ====================  ==========  ==========================================  ======================================
#   name                  unit        transform                                   default (missing / undefined)
==  ====================  ==========  ==========================================  ======================================
0   net_edge_bps          bps         ``edge_bps`` (after fees and gas)           0
1   gross_edge_bps        bps         ``gross_edge_bps`` (before costs)           0
2   log_net_profit_usd    log USD     slog(``net_profit``)                        0
3   fee_ratio             ratio       ``fees / gross_profit``, clipped [-10, 10]  10 when gross_profit <= 0
4   gas_ratio             ratio       ``gas / gross_profit``, clipped [-10, 10]   10 if gas > 0 else 0, gross <= 0
5   log_notional_usd      log USD     log1p(max(``notional_usd``, 0))             0
6   log_depth_ratio       log ratio   log1p(max(``liquidity_depth``, 0) /         0 when notional_usd <= 0
                                      ``notional_usd``)
7   data_age_s            seconds     ``data_age_ms / 1000``, floored at 0        0
8   vol_bps               bps         the regime's volatility estimate            -1 (no estimate yet; vol is >= 0)
9   kind_cex_arb          0/1         one-hot of ``kind``                         -
10  kind_flash_loan       0/1         one-hot of ``kind``                         -
11  kind_aqua             0/1         one-hot of ``kind``                         -
12  route_success_ema     [0, 1]      ``RouteStats.success_ema``                  PRIOR_SUCCESS (0.5), no route stats
13  route_capture_ema     ratio       ``RouteStats.capture_ratio_ema``            PRIOR_CAPTURE (1.0), no route stats
14  route_log_executions  log count   log1p(``RouteStats.n_executions``)          0, no route stats
15  on_chain              0/1         1 if ``chain`` is set (DEX leg: gas, MEV),  -
                                      else 0
==  ====================  ==========  ==========================================  ======================================

The last feature is the chain flag rather than a hop count: ``route_id`` formats differ between detectors (flash-loan
routes are ``"<dex>:A>B>C"``, CEX routes are opaque ids), so a hop count parsed from it would not mean the same thing
across kinds.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING

from arb.decide.history import PRIOR_CAPTURE, PRIOR_SUCCESS

if TYPE_CHECKING:  # scoring imports this module
    from arb.decide.scoring import ScoreContext
    from arb.domain import Opportunity

FEATURE_VERSION = "f16.v1"

FEATURE_NAMES: tuple[str, ...] = (
    "net_edge_bps",
    "gross_edge_bps",
    "log_net_profit_usd",
    "fee_ratio",
    "gas_ratio",
    "log_notional_usd",
    "log_depth_ratio",
    "data_age_s",
    "vol_bps",
    "kind_cex_arb",
    "kind_flash_loan",
    "kind_aqua",
    "route_success_ema",
    "route_capture_ema",
    "route_log_executions",
    "on_chain",
)

CLIP = 1e12
RATIO_CLIP = 10.0
VOL_MISSING = -1.0
KINDS = ("cex_arb", "flash_loan", "aqua")


def _num(x: Decimal | float | int | None, default: float) -> float:
    """``x`` as a finite float in [-CLIP, CLIP] (infinities saturate); ``default`` when missing or NaN."""
    if x is None:
        return default
    try:
        v = float(x)
    except OverflowError:  # an int beyond float range
        return CLIP if x > 0 else -CLIP
    except ValueError:  # Decimal('sNaN')
        return default
    if math.isnan(v):
        return default
    return max(-CLIP, min(CLIP, v))


def _slog(x: float) -> float:
    return math.copysign(math.log1p(abs(x)), x)


def _ratio(num: float, den: float, default: float) -> float:
    if den <= 0:
        return default
    return max(-RATIO_CLIP, min(RATIO_CLIP, num / den))


def features(opp: Opportunity, ctx: ScoreContext) -> tuple[float, ...]:
    """The ``FEATURE_VERSION`` vector for ``opp`` as of decision time (see the module table)."""
    gross = _num(opp.gross_profit, 0.0)
    fees = _num(opp.fees, 0.0)
    gas = _num(opp.gas, 0.0)
    notional = _num(opp.notional_usd, 0.0)
    depth = max(_num(opp.liquidity_depth, 0.0), 0.0)
    r = ctx.route
    vec = (
        _num(opp.edge_bps, 0.0),
        _num(opp.gross_edge_bps, 0.0),
        _slog(_num(opp.net_profit, 0.0)),
        _ratio(fees, gross, RATIO_CLIP),
        _ratio(gas, gross, RATIO_CLIP if gas > 0 else 0.0),
        math.log1p(max(notional, 0.0)),
        math.log1p(depth / notional) if notional > 0 else 0.0,
        max(_num(opp.data_age_ms, 0.0), 0.0) / 1000.0,
        _num(ctx.vol_bps, VOL_MISSING),
        *(1.0 if opp.kind == k else 0.0 for k in KINDS),
        _num(r.success_ema, PRIOR_SUCCESS) if r is not None else PRIOR_SUCCESS,
        _num(r.capture_ratio_ema, PRIOR_CAPTURE) if r is not None else PRIOR_CAPTURE,
        math.log1p(max(_num(r.n_executions, 0.0), 0.0)) if r is not None else 0.0,
        0.0 if opp.chain is None else 1.0,
    )
    return tuple(_num(v, 0.0) for v in vec)
