"""Executors turn EXECUTE decisions into Executions: paper (dry-run) now, live ccxt orders and flash loans later."""
