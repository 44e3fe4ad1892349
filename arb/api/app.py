"""The design's dashboard endpoints, read-only over the warehouse.

    GET /api/ai/status                          enabled, mode, dry run, portfolio value, latest run, model version
    GET /api/ai/metrics                         decisions, executions, profitability (every run in the warehouse)
    GET /api/ai/metrics/recent?window_minutes=60  the same over the last window_minutes (1..10080) of wall-clock time
    GET /api/ai/decisions/latest?limit=10       the newest decisions (limit 1..500)
    GET /api/ai/health                          win/success rate, drawdown, daily loss, alerts now, recent alert rows
    GET /                                       an offline status page polling the above
    GET /openapi.json, /docs                    the schema; /docs loads Swagger UI from a CDN (blank when offline)

JSON conventions: money is a string holding the exact decimal value (``"12.34"``, ``"-0.000123"``; no exponent, no
trailing zeros), so nothing is rounded through a float; keys of money fields end in ``_usd`` (or are ``net_profit``
with its ``profit_currency``). Ratios are JSON numbers (``0.4``), or null when undefined (no executions). Times are
ISO-8601 UTC. Each request reads the warehouse through one short read-only connection (one consistent view).

Errors: no warehouse yet, or a warehouse without the tables -> 503 with a ``detail`` saying to run ``arb run``; the
writer holding the lock past the read timeout -> 503 with ``Retry-After``; bad query parameters -> 422 naming the
parameter and the rule; anything else -> 500 with a short JSON detail (the traceback goes to the log only).

Security: ``serve`` binds to API_HOST (127.0.0.1 by default) and refuses a non-loopback address unless API_TOKEN is
set. With API_TOKEN set, every ``/api/*`` request needs ``Authorization: Bearer <API_TOKEN>`` (else 401). The token is
compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import logging
import socket
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from arb.api.page import CONTENT_SECURITY_POLICY, PAGE
from arb.errors import ConfigError, FatalError, TransientError
from arb.ops import metrics as M
from arb.ops.alerts import AlertThresholds, evaluate
from arb.settings import Settings
from arb.warehouse.reader import WarehouseNotFound

log = logging.getLogger("arb.api")

READ_TIMEOUT = 5.0  # seconds a request waits for the writer to release the file before answering 503
RECENT_ALERT_ROWS = 20
Clock = Callable[[], datetime]


# --- JSON edge --------------------------------------------------------------------------------------------------------


def money(d: Decimal | None) -> str | None:
    """The exact value as plain decimal text: Decimal('12.340000000000000000') -> '12.34', 0E-18 -> '0'."""
    if d is None:
        return None
    if d == 0:
        return "0"
    return format(d.normalize(), "f")


def ts(t: datetime | date | None) -> str | None:
    if t is None:
        return None
    if isinstance(t, datetime):
        return M.utc(t).isoformat()
    return t.isoformat()


def _run(r: M.RunInfo | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "run_id": r.run_id, "started_at": ts(r.started_at), "finished_at": ts(r.finished_at), "status": r.status,
        "source": r.source, "ai_mode": r.ai_mode, "profile": r.profile, "dry_run": r.dry_run,
        "ml_enabled": r.ml_enabled, "risk_scope": r.risk_scope, "model_version": r.model_version,
    }  # fmt: skip


def _totals(t: M.Totals) -> dict[str, Any]:
    d = t.decisions
    return {
        "decisions": {"total": d.total, "execute": d.execute, "reject": d.reject, "defer": d.defer, "other": d.other},
        "executions": {
            "total": t.executions, "successes": t.successes, "wins": t.wins,
            "success_rate": t.success_rate, "win_rate": t.win_rate,
        },
        "profitability": {
            "realized_profit_usd": money(t.realized_profit),
            "predicted_profit_usd": money(t.predicted_profit),
            "gross_profit_before_gas_usd": money(t.gross_profit),
            "gas_cost_usd": money(t.gas_cost),
            "gas_share": t.gas_share,
            "capture_ratio": t.capture_ratio,
        },
    }  # fmt: skip


def _decision(x: M.LatestDecision) -> dict[str, Any]:
    return {
        "decision_id": x.decision_id, "decided_at": ts(x.decided_at), "route_id": x.route_id, "kind": x.kind,
        "action": x.action, "confidence": x.confidence, "model_version": x.model_version,
        "net_profit": money(x.net_profit), "profit_currency": x.profit_currency, "reasons": list(x.reasons),
    }  # fmt: skip


# --- security ---------------------------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``; anything else (0.0.0.0, ::, a name, a LAN address) is not."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Settings) -> None:
    """Raise ConfigError when ``host`` is reachable from other machines and no API_TOKEN protects the API."""
    if not is_loopback(host) and settings.api_token is None:
        raise ConfigError([(
            "API_HOST",
            f"refusing to serve the dashboard API on {host!r}, which is not a loopback address, without API_TOKEN: "
            "set API_TOKEN (clients then send 'Authorization: Bearer <API_TOKEN>') or keep API_HOST=127.0.0.1",
        )])  # fmt: skip


def _auth_dependency(settings: Settings) -> Callable[..., None]:
    token = settings.api_token.get_secret_value().encode() if settings.api_token is not None else None
    bearer = HTTPBearer(auto_error=False, description="Needed when API_TOKEN is set: Authorization: Bearer <token>")

    # A default rather than Annotated[...]: with postponed annotations FastAPI resolves an annotation in the module
    # namespace, where the local ``bearer`` does not exist.
    def require_token(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if token is None:
            return
        given = creds.credentials.encode() if creds is not None else b""
        if not hmac.compare_digest(given, token):
            raise HTTPException(
                status_code=401,
                detail="missing or invalid bearer token: send the header 'Authorization: Bearer <API_TOKEN>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_token


# --- the app ----------------------------------------------------------------------------------------------------------


def create_app(settings: Settings, *, clock: Clock | None = None, read_timeout: float = READ_TIMEOUT) -> FastAPI:
    """The dashboard app over ``settings.warehouse_path``. ``clock`` (default: the UTC wall clock) gives "now" for the
    recent window and today's loss. Nothing is read at creation: a warehouse may appear later."""
    now: Clock = clock or (lambda: datetime.now(UTC))
    path = settings.warehouse_path
    thresholds = AlertThresholds.from_settings(settings)
    capital = settings.capital_usd

    app = FastAPI(
        title="arb dashboard API",
        version="1",
        description="Read-only metrics of the arbitrage engine, from the DuckDB warehouse. Money values are exact "
        "decimal strings (USD); ratios are numbers or null.",
    )

    def read(fn: Callable[[M.Con], Any]) -> Any:
        return M.read(path, fn, timeout=read_timeout)

    @app.exception_handler(WarehouseNotFound)
    async def _not_found(request: Request, e: WarehouseNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=503)

    @app.exception_handler(TransientError)
    async def _locked(request: Request, e: TransientError) -> JSONResponse:
        log.warning("warehouse busy", extra={"path": request.url.path, "error": str(e)})
        return JSONResponse(
            {"detail": f"the warehouse is busy, retry in a few seconds ({e})"},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(FatalError)
    async def _fatal(request: Request, e: FatalError) -> JSONResponse:
        log.error("warehouse unreadable", extra={"path": request.url.path, "error": str(e)})
        return JSONResponse({"detail": str(e)}, status_code=503)

    @app.exception_handler(Exception)
    async def _internal(request: Request, e: Exception) -> JSONResponse:
        log.exception("dashboard request failed", extra={"path": request.url.path})
        return JSONResponse({"detail": f"internal error ({type(e).__name__}); see the arb log"}, status_code=500)

    api = APIRouter(prefix="/api/ai", dependencies=[Depends(_auth_dependency(settings))])

    @api.get("/status", summary="System enabled, mode, dry run, portfolio value, latest run, model version")
    def status() -> dict[str, Any]:
        t = now()
        run, model, totals = read(lambda con: (M.q_latest_run(con), M.q_model_version(con), M.q_totals(con)))
        # What the engine ran with (the latest run), falling back to this process's settings before any run.
        from_run = run is not None
        dry_run = run.dry_run if from_run and run.dry_run is not None else not settings.enable_execution
        return {
            "as_of": ts(t),
            "enabled": bool(run.ml_enabled) if from_run else settings.enable_ml_scoring,
            "mode": (run.ai_mode if from_run and run.ai_mode else settings.ai_mode),
            "dry_run": dry_run,
            "execution_enabled": not dry_run,
            "config_from": "latest_run" if from_run else "settings",
            "portfolio_value_usd": money(capital + totals.realized_profit),
            "capital_usd": money(capital),
            "realized_profit_usd": money(totals.realized_profit),
            "model_version": model if model is not None else (run.model_version if run else None),
            "latest_run": _run(run),
        }

    @api.get("/metrics", summary="Decisions, executions and profitability over every run in the warehouse")
    def metrics_all() -> dict[str, Any]:
        t = now()
        return {"as_of": ts(t), **_totals(read(M.q_totals))}

    @api.get("/metrics/recent", summary="The same over the last window_minutes of wall-clock time")
    def metrics_recent(
        window_minutes: Annotated[int, Query(ge=1, le=10080, description="1 minute .. 7 days")] = 60,
    ) -> dict[str, Any]:
        t = M.utc(now())
        since = t - timedelta(minutes=window_minutes)
        return {
            "as_of": ts(t), "window_minutes": window_minutes, "since": ts(since),
            **_totals(read(lambda con: M.q_totals(con, since))),
        }  # fmt: skip

    @api.get("/decisions/latest", summary="The newest decisions, newest first")
    def decisions_latest(limit: Annotated[int, Query(ge=1, le=500)] = 10) -> dict[str, Any]:
        t = now()
        rows = read(lambda con: M.q_latest_decisions(con, limit))
        return {"as_of": ts(t), "limit": limit, "decisions": [_decision(x) for x in rows]}

    @api.get("/health", summary="Win rate, success rate, drawdown, daily loss, the alerts raised now, recent alerts")
    def health() -> dict[str, Any]:
        t = now()
        snap, rows = read(lambda con: (
            M.q_snapshot(con, now=t, capital_usd=capital, max_daily_loss_usd=settings.max_daily_loss_usd),
            M.q_recent_alerts(con, RECENT_ALERT_ROWS),
        ))  # fmt: skip
        alerts = evaluate(snap, thresholds)
        o, dd, dl = snap.overall, snap.drawdown, snap.daily_loss
        levels = {a.level for a in alerts}
        return {
            "as_of": ts(snap.now),
            "status": "critical" if "critical" in levels else "warning" if levels else "ok",
            "executions": o.executions,
            "win_rate": o.win_rate,
            "success_rate": o.success_rate,
            "gas_share": o.gas_share,
            "drawdown": {"current": dd.current, "max": dd.max, "peak_pnl_usd": money(dd.peak_pnl),
                         "pnl_usd": money(dd.pnl)},
            "daily_loss": {"day": ts(dl.day), "scope": dl.scope, "loss_usd": money(dl.loss_usd),
                           "limit_usd": money(dl.limit_usd), "used": dl.used, "executions": dl.executions,
                           "stopped_reason": dl.stopped_reason},
            "thresholds": thresholds.as_dict(),
            "alerts": [a.as_dict() for a in alerts],
            "recent_alerts": [
                {"alert_id": r.alert_id, "at": ts(r.at), "level": r.level, "kind": r.kind, "message": r.message,
                 "run_id": r.run_id}
                for r in rows
            ],
        }  # fmt: skip

    app.include_router(api)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                           "Cache-Control": "no-store"})  # fmt: skip

    return app


# --- serving ----------------------------------------------------------------------------------------------------------


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn (bound here so a taken port is reported clearly, with no race)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ConfigError([("API_HOST", f"cannot resolve {host!r}: {e.strerror}")]) from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restarts need not wait TIME_WAIT
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise FatalError(
                f"port {port} on {host} is already in use (another `arb api`?): stop that process, or choose another "
                "port with API_PORT (or --port)"
            ) from None
        if e.errno in (errno.EACCES, errno.EPERM):
            raise FatalError(
                f"not allowed to bind port {port} on {host}: choose a port above 1023 with API_PORT"
            ) from None
        raise FatalError(f"cannot bind {host}:{port} ({e.strerror}); check API_HOST and API_PORT") from None
    sock.set_inheritable(True)
    return sock


def serve(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run the API with uvicorn in this process until SIGINT (returns) or SIGTERM (uvicorn shuts down gracefully,
    then lets the signal end the process, as it does by design). ``host``/``port`` override API_HOST/API_PORT
    (port 0: any free port). ``announce`` receives the URL once the port is bound. Raises ConfigError (non-loopback
    host without API_TOKEN) or FatalError (port taken) before serving."""
    import uvicorn

    host = host if host is not None else settings.api_host
    port = port if port is not None else settings.api_port
    check_bind(host, settings)
    if not is_loopback(host):
        log.warning(
            "dashboard API on a non-loopback address over plain HTTP: the bearer token travels unencrypted; "
            "put a TLS proxy in front",
            extra={"host": host},
        )
    sock = bind_socket(host, port)
    actual = sock.getsockname()[1]
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=host, port=actual, log_config=None, access_log=False, server_header=False, proxy_headers=False,
        timeout_graceful_shutdown=5,
    )  # fmt: skip
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{actual}"
    log.info("dashboard API starting", extra={"url": url, "warehouse": str(settings.warehouse_path),
                                              "auth": settings.api_token is not None})  # fmt: skip
    if announce is not None:
        announce(url)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # Ctrl+C: uvicorn has shut down gracefully, then re-raised SIGINT for us (SIGTERM ends the process)
    finally:
        sock.close()
