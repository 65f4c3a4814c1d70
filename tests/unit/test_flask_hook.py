"""songsdb.flask binds one X-Request-ID per request (taken or generated) and answers with it.

No database here: the views report what songsdb's request-id context holds while they run.
The request id's trail through a real server is tests/integration/test_flask_app.py.
"""

from __future__ import annotations

import threading
import uuid

import pytest

flask = pytest.importorskip("flask", reason="flask is in the test extra (songsdb[flask])")

from songsdb.context import current_request_id, request_id_var  # noqa: E402
from songsdb.flask import HEADER, init_app, request_id, setup_flask_app_hooks, usable_request_id  # noqa: E402


def make_app() -> flask.Flask:
    app = flask.Flask(__name__)
    seen: list[str | None] = []
    app.config["seen_by_earlier_hook"] = seen

    @app.before_request
    def earlier_hook() -> None:  # registered before init_app: still runs after the id is bound
        seen.append(current_request_id())

    init_app(app)

    @app.get("/id")
    def show() -> dict[str, str | None]:
        return {
            "context": current_request_id(),
            "g": flask.g.request_id,
            "request": flask.request.request_id,  # type: ignore[attr-defined]
            "helper": request_id(),
        }

    @app.get("/missing")
    def missing() -> flask.Response:
        flask.abort(404)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    return app


def test_a_request_without_the_header_gets_a_generated_id_in_context_and_in_the_response() -> None:
    app = make_app()
    response = app.test_client().get("/id")
    generated = response.headers[HEADER]
    assert uuid.UUID(generated)
    assert response.get_json() == {"context": generated, "g": generated, "request": generated, "helper": generated}
    assert app.config["seen_by_earlier_hook"] == [generated]


def test_a_usable_incoming_id_is_kept_and_echoed() -> None:
    response = make_app().test_client().get("/id", headers={HEADER: "req-42:abc/1"})
    assert response.headers[HEADER] == "req-42:abc/1"
    assert response.get_json()["context"] == "req-42:abc/1"


@pytest.mark.parametrize("bad", ["", "has space", "x" * 101, "caf\u00e9", "tab\there"])
def test_an_unusable_incoming_id_is_replaced_by_a_generated_one(bad: str) -> None:
    response = make_app().test_client().get("/id", headers={HEADER: bad})
    assert response.headers[HEADER] != bad and uuid.UUID(response.headers[HEADER])
    assert response.get_json()["context"] == response.headers[HEADER]


def test_usable_ids_are_printable_ascii_without_spaces_up_to_100_characters() -> None:
    assert usable_request_id("a" * 100) == "a" * 100 and usable_request_id("a" * 101) is None
    assert usable_request_id("abc-DEF_1.2:3/4") == "abc-DEF_1.2:3/4" and usable_request_id("a b") is None
    assert usable_request_id(None) is None


def test_error_responses_carry_the_id_too() -> None:
    client = make_app().test_client()
    assert client.get("/missing", headers={HEADER: "req-404"}).headers[HEADER] == "req-404"
    response = client.get("/boom", headers={HEADER: "req-500"})
    assert response.status_code == 500 and response.headers[HEADER] == "req-500"


def test_the_id_does_not_outlive_its_request() -> None:
    client = make_app().test_client()
    assert request_id_var.get() is None
    assert client.get("/id", headers={HEADER: "req-1"}).get_json()["context"] == "req-1"
    assert request_id_var.get() is None  # the test client ran the app in this very context
    second = client.get("/id").get_json()["context"]
    assert second not in (None, "req-1")


def test_concurrent_requests_each_see_their_own_id() -> None:
    app = make_app()
    barrier = threading.Barrier(2)

    @app.get("/slow")
    def slow() -> dict[str, str | None]:
        barrier.wait(timeout=10)  # both requests are inside their views at once
        return {"context": current_request_id()}

    answers: dict[str, str | None] = {}

    def call(rid: str) -> None:
        answers[rid] = app.test_client().get("/slow", headers={HEADER: rid}).get_json()["context"]

    threads = [threading.Thread(target=call, args=(rid,)) for rid in ("req-a", "req-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert answers == {"req-a": "req-a", "req-b": "req-b"}


def test_the_original_designs_name_installs_the_same_hooks_once() -> None:
    app = flask.Flask(__name__)
    setup_flask_app_hooks(app)
    init_app(app)  # a second call adds no second set of hooks

    @app.get("/id")
    def show() -> str:
        return str(flask.request.request_id)  # type: ignore[attr-defined]

    response = app.test_client().get("/id", headers={HEADER: "req-seed"})
    assert response.get_data(as_text=True) == "req-seed" and response.headers[HEADER] == "req-seed"
    assert app.before_request_funcs[None].count(app.before_request_funcs[None][0]) == 1
    assert len(app.after_request_funcs[None]) == 1 and len(app.teardown_request_funcs[None]) == 1


def test_outside_a_hooked_app_request_id_says_what_to_do() -> None:
    app = flask.Flask(__name__)
    with app.test_request_context("/"), pytest.raises(RuntimeError, match="init_app"):
        request_id()


def test_songsdb_errors_become_json_answers_a_handler_can_act_on() -> None:
    from flask import Flask

    from songsdb import errors
    from songsdb.flask import init_app

    app = Flask(__name__)
    init_app(app, errors=True)
    raised = {
        "bad": errors.ValidationError("fileId is too long", parameter="file_id", server_parameter="@FileId", number=50002),
        "missing": errors.SongNotFound("no song", number=50101),
        "twice": errors.DuplicateSong("exists", number=50102),
        "lost": errors.LeaseLost("stale", number=50203),
        "down": errors.NotConnected("cannot reach SQL Server at db:1433"),
        "unknown": errors.OutcomeUnknown("lost during the call"),
        "other": errors.DatabaseError("server said something internal", number=8114),
    }
    for name, error in raised.items():
        app.add_url_rule(f"/{name}", name, lambda error=error: (_ for _ in ()).throw(error))
    client = app.test_client()
    answers = {name: client.get(f"/{name}", headers={"X-Request-ID": f"r-{name}"}) for name in raised}
    assert {name: a.status_code for name, a in answers.items()} == {
        "bad": 400, "missing": 404, "twice": 409, "lost": 409, "down": 503, "unknown": 503, "other": 500
    }
    assert answers["bad"].get_json() == {"error": "fileId is too long", "field": "file_id", "number": 50002, "request_id": "r-bad"}
    assert answers["unknown"].get_json()["outcome_unknown"] is True and answers["down"].get_json()["outcome_unknown"] is False
    assert answers["down"].headers["Retry-After"] == "1" and answers["down"].headers["X-Request-ID"] == "r-down"
    assert "internal" not in answers["other"].get_data(as_text=True).replace("internal error", "")  # no server text leaks


def test_a_role_client_can_be_the_apps_client_and_comes_back_typed() -> None:
    from songsdb import SongsDatabase, WebClient, WorkerClient
    from songsdb.config import Settings
    from songsdb.flask import database

    client = WebClient(Settings(connection_string="DRIVER={FreeTDS};SERVER=x;UID=u;PWD=p;"))  # never connects here
    app = flask.Flask(__name__)
    init_app(app, client)
    with app.test_request_context("/"):
        assert database(WebClient) is client
        with pytest.raises(TypeError, match=r"a WebClient, not a SongsDatabase: call database\(WebClient\)"):
            database()
        with pytest.raises(TypeError, match="not a WorkerClient"):
            database(WorkerClient)
    plain = flask.Flask(__name__)
    init_app(plain, SongsDatabase(Settings(connection_string="DRIVER={FreeTDS};SERVER=x;UID=u;PWD=p;")))
    with plain.test_request_context("/"):
        assert isinstance(database(), SongsDatabase)
