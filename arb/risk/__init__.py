"""Risk controls: daily limits, concurrency, cooldown, position caps and the kill switch."""
