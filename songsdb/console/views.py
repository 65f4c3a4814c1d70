"""The console's pages and actions, as a Flask blueprint over an operations client.

Every page is one or two ``ops.*`` calls; every list is keyset paged (``after=`` the last row's
id); every change is a POST with the CSRF token, refused in read-only mode, and passes the
operator's name and this request's id to the procedure, which audits both; a selection is one
call (ops.RetryJobs / ops.CancelJobs), one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextvars import Token
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for

from songsdb.console import auth, chart
from songsdb.context import request_id_var, usable_request_id
from songsdb.errors import Conflict, DatabaseUnavailable, NotFound, SongsDbError, ValidationError

__all__ = ["make_blueprint", "SECURITY_HEADERS", "NAME"]

NAME = "songsdb_console"
HEADER = "X-Request-ID"
SECURITY_HEADERS = {
    # nothing runs, nothing is fetched from elsewhere, no page may frame this one
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
JOB_TYPES = ("separation", "transcription", "chroma")
PAGE = 50


def make_blueprint(client: Any, settings: auth.ConsoleSettings, url_prefix: str | None = None) -> Blueprint:
    """The console over ``client`` (an :class:`~songsdb.OpsClient`, or any client with the ops methods)."""
    bp = Blueprint(NAME, __name__, template_folder="templates", static_folder="static", url_prefix=url_prefix)

    @bp.before_request
    def _authenticate() -> Response | None:
        value = usable_request_id(request.headers.get(HEADER)) or f"console-{uuid.uuid4()}"
        g.console_request_id = value
        g.console_token = request_id_var.set(value)
        refusal = auth.local_request_refusal(settings, request.remote_addr, request.host, dict(request.headers))
        if refusal is not None:
            return _refuse(403, f"{refusal}: set SONGSDB_CONSOLE_TOKEN (or SONGSDB_CONSOLE_USER and SONGSDB_CONSOLE_PASSWORD) to use it from elsewhere.")
        operator = auth.operator_for(settings, request.headers.get("Authorization"))
        if operator is None:
            answer = Response("Authentication required.\n", 401, mimetype="text/plain")
            answer.headers["WWW-Authenticate"] = 'Basic realm="songsdb console", charset="UTF-8"'
            return answer
        g.operator = operator
        if request.method == "POST":
            if settings.read_only:
                return _refuse(403, "This console is read-only: it shows everything and changes nothing.")
            if not auth.csrf_ok(settings, operator, request.form.get("csrf")):
                return _refuse(403, "The form's CSRF token is missing or wrong: reload the page and try again.")
        return None

    @bp.after_request
    def _headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        value = g.get("console_request_id")
        if value:
            response.headers[HEADER] = value
        return response

    @bp.teardown_request
    def _unbind(_error: BaseException | None) -> None:
        token: Token[str | None] | None = g.pop("console_token", None)
        if token is not None:
            try:
                request_id_var.reset(token)
            except ValueError:
                request_id_var.set(None)

    @bp.context_processor
    def _context() -> dict[str, Any]:
        operator = g.get("operator", "")
        return {
            "csrf": auth.csrf_token(settings, operator) if operator else "",
            "read_only": settings.read_only,
            "operator": operator,
            "request_id": g.get("console_request_id"),
            "job_types": JOB_TYPES,
        }

    @bp.errorhandler(SongsDbError)
    def _error(error: SongsDbError) -> tuple[str, int]:
        status = 404 if isinstance(error, NotFound) else 400 if isinstance(error, ValidationError) else (
            409 if isinstance(error, Conflict) else 503 if isinstance(error, DatabaseUnavailable) else 500)
        message = str(error) if status in (400, 404, 409) else f"{type(error).__name__}: the database did not answer as expected"
        return render_template("songsdb_console/error.html", status=status, message=message), status

    @bp.get("/")
    def overview() -> str:
        queue = client.queue_status()
        minutes = client.throughput(minutes=1440)
        held = client.held_jobs(limit=100)
        data = chart.buckets(minutes)
        totals = (sum(m.completed for m in minutes), sum(m.failed for m in minutes))
        return render_template(
            "songsdb_console/overview.html", queue=queue, held=held, chart_svg=chart.svg(data), totals=totals,
            expired=[h for h in held if h.expired],
        )

    @bp.get("/failed")
    def failed() -> str:
        model = request.args.get("model") or None
        job_type = request.args.get("type") or None
        after = request.args.get("after") or None
        rows = client.failed_jobs(model_name=model, job_type=job_type, after_job_id=after, limit=PAGE)
        return render_template(
            "songsdb_console/failed.html", rows=rows, model=model or "", job_type=job_type or "",
            next_after=rows[-1].job_id if len(rows) == PAGE else None,
        )

    @bp.post("/failed")
    def failed_action() -> Any:
        action = request.form.get("action")
        ids = request.form.getlist("job")
        if action not in ("retry", "cancel") or not ids:
            abort(400, "choose Retry or Cancel and at least one job")
        run = client.retry_jobs if action == "retry" else client.cancel_jobs
        outcomes = run([_uuid(i) for i in ids[:500]], request_id=g.console_request_id, user_id=g.operator)
        done = [o for o in outcomes if o.outcome in ("retried", "cancelled")]
        refused = [(str(o.job_id), o.outcome.replace("_", " ")) for o in outcomes if o not in done]
        return render_template("songsdb_console/done.html", action=action, done=done, refused=refused), 200

    @bp.get("/jobs/<job_id>")
    def job(job_id: str) -> str:
        detail = client.job_detail(_uuid(job_id))
        return render_template("songsdb_console/job.html", job=detail.job, history=detail.history)

    @bp.post("/jobs/<job_id>/<action>")
    def job_action(job_id: str, action: str) -> Any:
        if action not in ("retry", "cancel"):
            abort(404)
        done, refused = _act(client, action, [job_id])
        if refused:
            return render_template("songsdb_console/done.html", action=action, done=done, refused=refused), 409
        return redirect(url_for(f"{NAME}.job", job_id=job_id), code=303)

    @bp.get("/requests")
    def trail() -> str:
        wanted = (request.args.get("id") or "").strip()
        after = request.args.get("after")
        found = client.request_trail(wanted, after_audit_id=int(after) if after and after.isdigit() else None, limit=PAGE) if wanted else None
        return render_template(
            "songsdb_console/request.html", wanted=wanted, trail=found,
            next_after=found.entries[-1].id if found and len(found.entries) == PAGE else None,
        )

    @bp.get("/songs")
    def songs() -> str:
        q = (request.args.get("q") or "").strip()
        by = request.args.get("by") if request.args.get("by") in ("file", "title") else "title"
        after = request.args.get("after") or None
        rows = []
        if q:
            rows = client.find_songs(file_id=q, limit=PAGE) if by == "file" else client.find_songs(title=q, after_song_id=after, limit=PAGE)
        return render_template(
            "songsdb_console/songs.html", q=q, by=by, rows=rows,
            next_after=rows[-1].id if by == "title" and len(rows) == PAGE else None,
        )

    @bp.get("/songs/<file_id>")
    def song(file_id: str) -> str:
        found = client.find_songs(file_id=file_id, limit=1)
        if not found:
            abort(404, "no song has that file id")
        jobs = client.job_summary(song_id=found[0].id, limit=200)
        return render_template("songsdb_console/song.html", song=found[0], jobs=jobs)

    @bp.get("/metrics")
    def metrics() -> Response:
        from songsdb import metrics as prometheus

        return Response(prometheus.render(client), 200, content_type=prometheus.CONTENT_TYPE)

    return bp


def _refuse(status: int, message: str) -> Response:
    return Response(render_template("songsdb_console/error.html", status=status, message=message), status)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        abort(404, "that is not a job id")


def _act(client: Any, action: str, ids: list[str]) -> tuple[list[Any], list[tuple[str, str]]]:
    """Retry or cancel one job from its page (an audited call, with the operator and the request id)."""
    run: Callable[..., Any] = client.retry_job if action == "retry" else client.cancel_job_by_operator
    done, refused = [], []
    for raw in ids:
        try:
            done.append(run(_uuid(raw), request_id=g.console_request_id, user_id=g.operator))
        except (Conflict, NotFound, ValidationError) as exc:
            refused.append((raw, str(exc)))
    return done, refused
