"""The operations console through Flask's test client, against the real engine (issue #20 §3).

Every route, the refusals (no credentials, no or a wrong CSRF token, read-only mode) and hostile
values from the database rendered as text. Each test uses a model name of its own.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("flask")
pytest.importorskip("prometheus_client")

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from songsdb.config import Settings
from songsdb.console import ConsoleSettings, create_app, mount
from songsdb.console.views import SECURITY_HEADERS
from songsdb.database import SongsDatabase

from .opsdata import completed_job, failed_job, model

pytestmark = pytest.mark.integration

HOSTILE_TITLE = '<script>alert("t")</script>"><img src=x onerror=alert(1)>'
HOSTILE_STACK = '"><img src=x onerror=alert(2)>\n<script>alert(3)</script>'
RAW = re.compile(r"<script|<img src=x|onerror=alert\(\d\)>", re.IGNORECASE)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert match, "the page carries no CSRF token"
    return match.group(1)


@pytest.fixture
def console(songsdb_ops: SongsDatabase) -> Any:
    return create_app(songsdb_ops, ConsoleSettings()).test_client()


@pytest.fixture
def hostile(songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase) -> Iterator[tuple[str, uuid.UUID, str]]:
    mine = model()
    request = f"req-{uuid.uuid4().hex}"
    job_id = failed_job(songsdb_web, songsdb_worker, mine, title=HOSTILE_TITLE, message=HOSTILE_TITLE, stack=HOSTILE_STACK,
                        request_id=request)
    yield mine, job_id, request


def test_every_page_answers_with_a_strict_content_security_policy_and_no_framing(
    console: Any, hostile: tuple[str, uuid.UUID, str], songsdb_ops: SongsDatabase
) -> None:
    mine, job_id, request = hostile
    file_id = songsdb_ops.job_detail(job_id).job.song_file_id
    pages = [
        "/", f"/failed?model={mine}", f"/failed?type=separation&model={mine}", f"/jobs/{job_id}", f"/requests?id={request}",
        "/requests", f"/songs?q={file_id}&by=file", "/songs?q=%3Cscript&by=title", f"/songs/{file_id}", "/metrics",
        "/static/console.css",
    ]
    for path in pages:
        answer = console.get(path)
        assert answer.status_code == 200, path
        for header, value in SECURITY_HEADERS.items():
            assert answer.headers[header] == value, (path, header)
        assert answer.headers["X-Request-ID"].startswith("console-")
        if answer.mimetype == "text/html":
            assert "<script" not in answer.get_data(as_text=True).lower(), path
    assert "script-src" not in SECURITY_HEADERS["Content-Security-Policy"]  # default-src 'none': no script at all
    assert console.get(f"/jobs/{uuid.uuid4()}").status_code == 404
    assert console.get("/jobs/not-a-job").status_code == 404
    assert console.get("/songs/no-such-file").status_code == 404


def test_hostile_titles_messages_and_stacks_render_as_text(console: Any, hostile: tuple[str, uuid.UUID, str]) -> None:
    mine, job_id, request = hostile
    for path in (f"/failed?model={mine}", f"/jobs/{job_id}", "/songs?q=%3Cscript&by=title"):
        page = console.get(path).get_data(as_text=True)
        assert not RAW.search(page), path
        assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page, path
    stack_page = console.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in stack_page


def test_the_overview_shows_the_queue_the_chart_and_who_holds_jobs(
    console: Any, songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase
) -> None:
    mine = model()
    completed_job(songsdb_web, songsdb_worker, mine)
    failed_job(songsdb_web, songsdb_worker, mine)
    songsdb_web.create_job(songsdb_web.create_song(f"file-{uuid.uuid4().hex}", "a.mp3"), mine, "chroma")
    held = songsdb_worker.claim_next_job("gpu-overview", model_names=[mine], job_types=["chroma"])
    assert held is not None
    page = console.get("/").get_data(as_text=True)
    assert mine in page and "gpu-overview" in page and "s left" in page
    assert page.count("<svg") == 1 and "<rect" in page and "completed (solid) and failed (hatched)" in page


def test_retrying_a_selection_from_the_failed_list_requeues_them_and_audits_the_operator_and_request(
    console: Any, songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    mine = model()
    jobs = [failed_job(songsdb_web, songsdb_worker, mine) for _ in range(2)]
    page = console.get(f"/failed?model={mine}").get_data(as_text=True)
    request = f"console-test-{uuid.uuid4().hex}"
    answer = console.post(
        "/failed", data={"csrf": csrf_of(page), "action": "retry", "job": [str(j) for j in jobs]}, headers={"X-Request-ID": request}
    )
    assert answer.status_code == 200 and "Retried 2 job(s)" in answer.get_data(as_text=True)
    assert [songsdb_ops.job_detail(j).job.status for j in jobs] == ["queued", "queued"]
    rows = songsdb_ops.request_trail(request).entries
    assert [(r.action, r.user_id, r.entity_id.lower() if r.entity_id else None) for r in rows] == [
        ("retried", rows[0].user_id, str(jobs[0])), ("retried", rows[0].user_id, str(jobs[1]))
    ]
    assert rows[0].user_id and rows[0].user_id.startswith("local")
    assert songsdb_ops.failed_jobs(model_name=mine) == []


def test_cancelling_one_job_from_its_page_redirects_back_to_it(
    console: Any, songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    job_id = failed_job(songsdb_web, songsdb_worker, model())
    page = console.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert f"/jobs/{job_id}/retry" in page and f"/jobs/{job_id}/cancel" in page
    answer = console.post(f"/jobs/{job_id}/cancel", data={"csrf": csrf_of(page)})
    assert (answer.status_code, answer.headers["Location"]) == (303, f"/jobs/{job_id}")
    detail = songsdb_ops.job_detail(job_id)
    assert detail.job.status == "cancelled" and detail.history[-1].action == "cancelled"
    again = console.post(f"/jobs/{job_id}/cancel", data={"csrf": csrf_of(page)})
    assert again.status_code == 409  # a cancelled job is final: refused, and said so


def test_a_change_without_the_csrf_token_or_with_a_wrong_one_is_refused_and_changes_nothing(
    console: Any, songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    job_id = failed_job(songsdb_web, songsdb_worker, model())
    assert console.post(f"/jobs/{job_id}/retry").status_code == 403
    assert console.post(f"/jobs/{job_id}/retry", data={"csrf": "0" * 64}).status_code == 403
    assert console.post("/failed", data={"action": "retry", "job": str(job_id)}).status_code == 403
    assert console.get(f"/jobs/{job_id}/retry").status_code == 405  # a change is never a GET
    assert songsdb_ops.job_detail(job_id).job.status == "failed"
    token = csrf_of(console.get(f"/jobs/{job_id}").get_data(as_text=True))
    assert console.post(f"/jobs/{job_id}/retry", data={"csrf": token}).status_code == 303  # the same machinery works
    assert songsdb_ops.job_detail(job_id).job.status == "queued"


def test_read_only_mode_shows_every_page_without_buttons_and_refuses_changes(
    songsdb_ops: SongsDatabase, songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase
) -> None:
    mine = model()
    job_id = failed_job(songsdb_web, songsdb_worker, mine)
    writable = ConsoleSettings()
    writer = create_app(songsdb_ops, writable).test_client()
    viewer = create_app(songsdb_ops, replace(writable, read_only=True)).test_client()  # the same CSRF key
    page = viewer.get(f"/failed?model={mine}").get_data(as_text=True)
    assert str(job_id) in page and "read-only" in page and "Retry selected" not in page and 'method="post"' not in page
    assert "Retry selected" in writer.get(f"/failed?model={mine}").get_data(as_text=True)
    assert "/retry" not in viewer.get(f"/jobs/{job_id}").get_data(as_text=True)
    token = csrf_of(writer.get(f"/jobs/{job_id}").get_data(as_text=True))
    refused = viewer.post(f"/jobs/{job_id}/retry", data={"csrf": token})
    assert refused.status_code == 403 and "read-only" in refused.get_data(as_text=True)
    assert songsdb_ops.job_detail(job_id).job.status == "failed"


def test_with_credentials_configured_every_request_needs_them(songsdb_ops: SongsDatabase) -> None:
    app = create_app(songsdb_ops, ConsoleSettings(host="0.0.0.0", token="s3cret-token", username="alice", password="pw-alice"))
    client = app.test_client()

    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    assert client.get("/").status_code == 401
    assert client.get("/").headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/metrics").status_code == 401
    assert client.get("/", headers=basic("alice", "wrong")).status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/", headers=basic("alice", "pw-alice"))
    assert ok.status_code == 200 and "signed in as alice" in ok.get_data(as_text=True)
    assert client.get("/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert "signed in as bob" in client.get("/", headers=basic("bob", "s3cret-token")).get_data(as_text=True)


def test_metrics_parse_with_prometheus_clients_parser_and_count_the_models_jobs(
    console: Any, songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase
) -> None:
    mine = model()
    failed_job(songsdb_web, songsdb_worker, mine)
    completed_job(songsdb_web, songsdb_worker, mine)
    songsdb_web.create_job(songsdb_web.create_song(f"file-{uuid.uuid4().hex}", "a.mp3"), mine, "separation")
    answer = console.get("/metrics")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    samples = {
        (s.name, s.labels.get("model"), s.labels.get("job_type")): s.value
        for family in text_string_to_metric_families(answer.get_data(as_text=True))
        for s in family.samples
    }
    key = (mine, "separation")
    assert samples[("songsdb_jobs_queued", *key)] == 1
    assert samples[("songsdb_jobs_failed", *key)] == 1
    assert samples[("songsdb_jobs_running", *key)] == 0
    assert samples[("songsdb_jobs_expired_leases", *key)] == 0
    assert samples[("songsdb_jobs_oldest_queued_age_seconds", *key)] >= 0
    assert samples[("songsdb_jobs_completed_per_minute", *key)] == pytest.approx(60 / 300)
    assert samples[("songsdb_jobs_failed_per_minute", *key)] == pytest.approx(60 / 300)
    assert samples[("songsdb_job_claim_latency_max_seconds", *key)] >= 0
    assert samples[("songsdb_metrics_window_seconds", None, None)] == 300


def test_songsdb_metrics_prints_the_same_text_format(
    songsdb_settings: dict[str, Settings], songsdb_web: SongsDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    from songsdb.cli import main

    mine = model()
    songsdb_web.create_job(songsdb_web.create_song(f"file-{uuid.uuid4().hex}", "a.mp3"), mine, "chroma")
    assert main(["--env-file", "/nonexistent", "--connection-string", songsdb_settings["ops"].odbc(), "metrics"]) == 0
    families = {f.name: f for f in text_string_to_metric_families(capsys.readouterr().out)}
    [queued] = [s for s in families["songsdb_jobs_queued"].samples if s.labels["model"] == mine]
    assert (queued.labels["job_type"], queued.value) == ("chroma", 1)


def test_the_console_mounts_as_a_blueprint_in_another_flask_app(songsdb_ops: SongsDatabase) -> None:
    service = Flask("a-service")

    @service.get("/")
    def home() -> str:
        return "the service's own page"

    mount(service, songsdb_ops, ConsoleSettings(), url_prefix="/ops")
    client = service.test_client()
    assert client.get("/").get_data(as_text=True) == "the service's own page"
    assert "X-Frame-Options" not in client.get("/").headers  # the service's pages keep their own headers
    page = client.get("/ops/")
    assert page.status_code == 200 and page.headers["X-Frame-Options"] == "DENY"
    assert 'href="/ops/failed"' in page.get_data(as_text=True)
    assert client.get("/ops/metrics").status_code == 200
