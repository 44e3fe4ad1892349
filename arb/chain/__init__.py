"""Chains: anvil sandbox lifecycle, contract artifacts, deployment."""
