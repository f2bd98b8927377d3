"""bench ui over HTTP: pages, the event stream, and who may change what (token, Host, Origin, JSON,
open prompts of running runs only; nothing journalled can be rewritten)."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench.journal import Journal
from bench.prompts import make_spec
from bench.ui.security import Guard
from bench.ui.server import serve_in_background


@pytest.fixture
def served(tmp_path: Path):
    j = Journal(tmp_path / "journal.sqlite")
    j.start_run("run-a", plan="smoke", station="sim-bench", dut_serial="DUT-A", operator="Op")
    j.start_run("run-b", plan="intake", station="lab-2", dut_serial="DUT-B", operator="Op")
    j.end_run("run-b", "COMPLETED", "PASS")
    rid = j.open_request("run-a", "visual.ok", "Undamaged?", make_spec(["yes", "no"]), step="s::t", t=1.0)
    (tmp_path / "run-b").mkdir()
    (tmp_path / "run-b" / "report.html").write_text("<html>END OF REPORT</html>")
    with serve_in_background(tmp_path / "journal.sqlite", port=0, report_dir=tmp_path, linger_s=0) as srv:
        yield srv, j, rid, tmp_path


def _req(srv, path, *, method="GET", body=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(srv.url.rstrip("/") + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_run_list_filters_and_links_reports(served):
    srv, j, rid, tmp = served
    status, page = _req(srv, "/")
    assert status == 200 and "run-a" in page and "run-b" in page
    assert 'href="/reports/run-b/report.html"' in page and "no report" in page
    status, page = _req(srv, "/?plan=intake")
    assert "run-b" in page and "run-a" not in page
    status, page = _req(srv, "/?verdict=PASS&station=lab-2&dut=DUT-B")
    assert "run-b" in page and "run-a" not in page
    assert _req(srv, "/reports/run-b/report.html")[1] == "<html>END OF REPORT</html>"
    assert _req(srv, "/reports/run-b/../journal.sqlite")[0] == 404
    assert _req(srv, "/reports/..%2Fjournal.sqlite/x")[0] == 404


def test_answer_needs_token_json_same_origin_a_name_and_a_valid_answer(served):
    srv, j, rid, tmp = served
    path = f"/runs/run-a/prompts/{rid}"
    ok = {"X-Bench-Token": srv.token}
    assert _req(srv, path, method="POST", body={"answer": "yes", "name": "Eve"})[0] == 403
    assert (
        _req(
            srv,
            path,
            method="POST",
            body={"answer": "yes", "name": "Eve"},
            headers={**ok, "Origin": "http://evil.example"},
        )[0]
        == 403
    )
    assert (
        _req(
            srv,
            path,
            method="POST",
            raw=b"answer=yes&name=Eve",
            headers={**ok, "Content-Type": "application/x-www-form-urlencoded"},
        )[0]
        == 415
    )
    status, text = _req(srv, path, method="POST", body={"answer": "yes"}, headers=ok)
    assert status == 422 and "your name is required" in text
    status, text = _req(srv, path, method="POST", body={"answer": "maybe", "name": "Pat"}, headers=ok)
    assert status == 422 and "not one of" in text
    assert j.requests("run-a")[0]["open"], "nothing was journalled by refused requests"
    origin = srv.url.rstrip("/")
    status, text = _req(
        srv, path, method="POST", body={"answer": "yes", "name": "Pat Page"}, headers={**ok, "Origin": origin}
    )
    assert status == 200, text
    req = j.requests("run-a")[0]
    assert (req["answer"], req["answered_by"], req["origin"]) == ("yes", "Pat Page", "bench ui (127.0.0.1)")
    status, text = _req(srv, path, method="POST", body={"answer": "no", "name": "Late"}, headers=ok)
    assert status == 409 and "already answered" in text
    assert j.requests("run-a")[0]["answer"] == "yes"


def test_abort_request_journalled_with_who_only_for_running_runs(served):
    srv, j, rid, tmp = served
    ok = {"X-Bench-Token": srv.token}
    status, text = _req(srv, "/runs/run-a/abort", method="POST", body={"name": "Ada", "reason": "smoke"}, headers=ok)
    assert status == 202, text
    (r,) = j.abort_requests("run-a")
    assert (r["requested_by"], r["reason"], r["origin"]) == ("Ada", "smoke", "bench ui (127.0.0.1)")
    status, text = _req(srv, "/runs/run-b/abort", method="POST", body={"name": "Ada"}, headers=ok)
    assert status == 422 and "COMPLETED: nothing can be changed" in text
    assert j.abort_requests("run-b") == []
    assert _req(srv, "/runs/run-a/abort", method="GET")[0] == 405
    assert _req(srv, "/runs/run-a/abort", method="PUT", body={}, headers=ok)[0] == 405


def test_host_header_must_be_the_loopback_address(served):
    srv, j, rid, tmp = served
    assert _req(srv, "/", headers={"Host": f"rebound.example:{srv.port}"})[0] == 421


def test_event_stream_pushes_a_new_measurement(served):
    srv, j, rid, tmp = served
    req = urllib.request.Request(srv.url + "runs/run-a/stream")
    with urllib.request.urlopen(req, timeout=10) as r:
        first = r.readline().decode()
        assert first == "event: state\n"
        state = json.loads(r.readline().decode()[len("data: ") :])
        assert state["run"]["run_id"] == "run-a" and state["requests"][0]["key"] == "visual.ok"
        Journal(j.path).add_measurement(
            "run-a", step="s::t", name="pack.ocv", value=52.1, unit="V", verdict="PASS", reason="within limits", t=2.0
        )
        for _ in range(200):  # bounded: the stream sends at most a few events a second
            line = r.readline().decode()
            if line.startswith("data: ") and "pack.ocv" in line:
                update = json.loads(line[len("data: ") :])
                assert update["measurements"][0]["value"] == 52.1
                break
        else:
            pytest.fail("the measurement never reached the stream")


def _call(guard: Guard, path: str, *, query: str = "", headers=None, method: str = "GET"):
    sent: list = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg):
        sent.append(msg)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    asyncio.run(guard(scope, receive, send))
    return sent[0]["status"], dict(sent[0].get("headers", []))


def test_bound_elsewhere_every_request_needs_the_token_then_a_strict_cookie():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    token = "t0ken-" + os.urandom(4).hex()
    guard = Guard(app, token=token, host="0.0.0.0", port=8765)
    assert _call(guard, "/", headers={"Host": "bench-7.lab:8765"})[0] == 401
    assert _call(guard, "/", query="token=wrong")[0] == 401
    status, headers = _call(guard, "/runs/x", query=f"token={token}&a=1")
    assert status == 303 and headers[b"location"] == b"/runs/x?a=1"
    assert b"HttpOnly" in headers[b"set-cookie"] and b"SameSite=Strict" in headers[b"set-cookie"]
    assert _call(guard, "/", headers={"Cookie": f"bench_token={token}"})[0] == 200
    # a POST needs the header, not just the cookie a browser would attach to a cross-site form
    assert (
        _call(
            guard,
            "/runs/x/abort",
            method="POST",
            headers={"Cookie": f"bench_token={token}", "Content-Type": "application/json"},
        )[0]
        == 403
    )
