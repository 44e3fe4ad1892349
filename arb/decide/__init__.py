"""Deciding: features, scoring, thresholds and modes (pure apart from the model object)."""
