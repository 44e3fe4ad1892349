"""The dashboard API: read-only JSON over the warehouse (FastAPI), and a small offline status page.

``arb api`` serves it; :func:`arb.api.app.create_app` builds the app, :func:`arb.api.app.serve` runs it.
"""
