"""The report's pure parts: reason normalisation, period windows, calibration bins, money formatting, escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.errors import BadInput
from arb.report.data import calibration_bins, normalise_reason, period_window
from arb.report.render import fmt_dollars, fmt_usd, html_table, markdown_table, stamp

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("net profit $0.76 < min profit $50.0 (CEX_MIN_PROFIT_USD)",
         "net profit $# < min profit $# (CEX_MIN_PROFIT_USD)"),
        ("net profit $-1,234.56 < flash-loan min 0.15 ETH", "net profit $# < flash-loan min # ETH"),
        ("confidence 0.512 < min confidence 0.75 (conservative)", "confidence # < min confidence # (conservative)"),
        ("net edge -3.20 bps (gross 12.00 bps - fees) < min edge 40 bps (balanced)",
         "net edge # bps (gross # bps - fees) < min edge # bps (balanced)"),
        ("tx 0xdeadBEEF01 reverted after 1e-5 s", "tx # reverted after # s"),
        # digits inside identifiers, names and punctuation stay
        ("CEX execution disabled (ENABLE_CEX_EXECUTION=false)", "CEX execution disabled (ENABLE_CEX_EXECUTION=false)"),
        ("feature version f16.v1 of ENV2 needs rank 1/200", "feature version f16.v1 of ENV2 needs rank #/#"),
        ("a 5, 6  b", "a #, # b"),
    ],
)
def test_normalise_reason(reason, expected):
    assert normalise_reason(reason) == expected


@given(st.decimals(min_value=-10**6, max_value=10**6, places=2), st.decimals(min_value=0, max_value=10**4, places=2),
       st.floats(min_value=0, max_value=1))
def test_reasons_differing_only_in_values_group_together(profit, minimum, conf):
    a = normalise_reason(f"net profit ${profit:.2f} < min profit ${minimum} (CEX_MIN_PROFIT_USD); conf {conf:.3f}")
    assert a == "net profit $# < min profit $# (CEX_MIN_PROFIT_USD); conf #"


def test_period_windows_end_at_now():
    assert period_window("hourly", NOW) == (NOW - timedelta(minutes=60), NOW)
    assert period_window("daily", NOW) == (NOW - timedelta(hours=24), NOW)
    assert period_window("all", NOW) == (None, NOW)


def test_a_bad_period_names_the_allowed_values():
    with pytest.raises(BadInput, match=r"'weekly'.*hourly, daily, all"):
        period_window("weekly", NOW)
    with pytest.raises(BadInput, match="timezone-aware"):
        period_window("hourly", datetime(2026, 11, 2, 12, 0))


def test_calibration_bins_count_mean_and_observed_rate():
    p = pd.Series([0.05, 0.15, 0.12, 0.95, 1.0, None])
    y = pd.Series([0.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    df = calibration_bins(p, y)
    assert df["bin_low"].tolist() == [0.0, 0.1, 0.9]  # 1.0 falls in the last bin; NaN is left out; empty bins too
    assert df["n"].tolist() == [1, 2, 2]
    assert df["observed_rate"].tolist() == [0.0, 0.5, 1.0]
    assert df["mean_predicted"].round(3).tolist() == [0.05, 0.135, 0.975]
    assert calibration_bins(pd.Series([], dtype=float), pd.Series([], dtype=float)).empty


def test_money_is_rounded_half_even_only_for_display():
    assert fmt_usd(Decimal("1234.565")) == "1,234.56"
    assert fmt_usd(Decimal("1234.575")) == "1,234.58"
    assert fmt_usd(Decimal("-0.25")) == "-0.25"
    assert fmt_usd(Decimal("0.000123456")) == "0.000123"  # below a cent: not shown as 0.00
    assert fmt_usd(Decimal(0)) == "0.00"
    assert fmt_usd(None) == "-"
    assert fmt_dollars(Decimal("-2.857")) == "-$2.86"
    assert fmt_dollars(Decimal("12")) == "$12.00"


def test_tables_escape_their_cells():
    rows = [{"reason": "net profit $# < min | x", "count": "2"}]
    assert "net profit $# < min \\| x" in markdown_table(rows)
    assert "net profit $# &lt; min | x" in html_table(rows)
    assert markdown_table([]) == "_nothing in this period_"


def test_file_stamp_is_utc():
    assert stamp(datetime(2026, 11, 2, 14, 30, 5, tzinfo=timezone(timedelta(hours=2)))) == "20261102T123005Z"
