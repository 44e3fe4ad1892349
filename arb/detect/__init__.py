"""Detection: pure functions from market state to priced Opportunities."""
