"""The local stack: `arb sandbox up` / `down`."""
