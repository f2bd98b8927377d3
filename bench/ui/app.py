"""The operator page (`bench ui`): runs, the live run, prompts, abort; built on the journal only.

Pages are rendered with jinja2; a little JavaScript (bench/ui/static, no build step, nothing from
a CDN) subscribes to a server-sent-event stream per run. The stream polls the journal every
`POLL_S` (a `PRAGMA data_version` check first, so an idle run costs nearly nothing) and pushes
what changed: the update reaches the page well within a second of the journal commit
(benchmarks/ui_latency.py measures it). Answers and abort requests are journal rows the running
session picks up; see bench/ui/security.py for who may send them.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bench.errors import BenchError
from bench.identifiers import check_name
from bench.journal import RUNNING, Journal
from bench.live.estimate import fmt_duration
from bench.live.view import RunView
from bench.prompts import PromptError, validate_answer
from bench.ui.runs import FILTERS, Signatures, list_runs
from bench.ui.security import Guard
from bench.ui.series import LivePlots

POLL_S = 0.2  # journal poll of each stream
HEARTBEAT_S = 1.0  # progress (time in step, time left) is pushed at least this often while running
STATIC = Path(__file__).parent / "static"


def _json_script(data: Any) -> str:
    """JSON safe to embed in a <script type="application/json"> element."""
    return json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class OperatorApp:
    """Holds the journal, the report folder, the token; builds the Starlette app."""

    def __init__(
        self,
        journal_path: Path,
        *,
        report_dir: Path | None = None,
        token: str,
        host: str,
        port: int,
        trust: Path | None = None,
    ) -> None:
        self.journal_path = Path(journal_path)
        self.report_dir = Path(report_dir) if report_dir is not None else self.journal_path.parent
        self.journal = Journal(self.journal_path)
        self.token = token
        self.signatures = Signatures(trust)
        self.local_writes = 0  # the server's own writes do not change its connection's data_version
        self.env = Environment(loader=PackageLoader("bench.ui", "templates"), autoescape=select_autoescape(["html"]))
        self.env.globals["fmt_duration"] = fmt_duration
        routes = [
            Route("/", self.runs_page),
            Route("/favicon.ico", self.favicon),
            Route("/runs.json", self.runs_json),
            Route("/runs/{run_id}", self.run_page),
            Route("/runs/{run_id}/stream", self.stream),
            Route("/runs/{run_id}/prompts/{request_id:int}", self.answer, methods=["POST"]),
            Route("/runs/{run_id}/abort", self.abort, methods=["POST"]),
            Route("/reports/{run_id}/{path:path}", self.report_file),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        ]
        self.guard = Guard(Starlette(routes=routes), token=token, host=host, port=port)

    def close(self) -> None:
        self.journal.close()

    # -- pages ------------------------------------------------------------------------------------
    async def favicon(self, request: Request) -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    def _page(self, name: str, **ctx: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(token=self.token, **ctx)
        return HTMLResponse(
            html,
            headers={
                "Cache-Control": "no-store",
                "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            },
        )

    async def runs_page(self, request: Request) -> HTMLResponse:
        filters = {k: request.query_params.get(k, "") for k in FILTERS}
        rows, choices = list_runs(self.journal, self.report_dir, self.signatures, filters)
        return self._page("runs.html", runs=rows, filters=filters, choices=choices, journal=str(self.journal_path))

    async def runs_json(self, request: Request) -> JSONResponse:
        filters = {k: request.query_params.get(k, "") for k in FILTERS}
        rows, _ = list_runs(self.journal, self.report_dir, self.signatures, filters)
        return JSONResponse({"runs": rows})

    def _view(self, run_id: str) -> RunView | None:
        try:
            return RunView(self.journal, run_id)
        except KeyError:
            return None

    async def run_page(self, request: Request) -> HTMLResponse:
        view = self._view(request.path_params["run_id"])
        if view is None:
            return HTMLResponse(f"no run {request.path_params['run_id']!r} in {self.journal_path}", status_code=404)
        view.refresh()
        return self._page("run.html", run=view.run, boot=_json_script(self._state(view)))

    def _report(self, run_id: str) -> str | None:
        return f"/reports/{run_id}/report.html" if (self.report_dir / run_id / "report.html").exists() else None

    def _state(self, view: RunView) -> dict[str, Any]:
        return {
            **view.snapshot(),
            "progress": view.progress(),
            "report": self._report(view.run_id),
            "server_time": time.time(),
        }

    # -- the live stream --------------------------------------------------------------------------
    async def stream(self, request: Request) -> StreamingResponse | PlainTextResponse:
        run_id = request.path_params["run_id"]
        view = self._view(run_id)
        if view is None:
            return PlainTextResponse(f"no run {run_id!r}", status_code=404)
        # The journal's version is read before the first snapshot: a write after it is always seen as a
        # change (one landing between the two is refreshed twice, harmlessly), never lost.
        version, local = self.journal.data_version(), self.local_writes
        view.refresh()
        plots = LivePlots(self.journal, view.run_id)

        async def events() -> Any:
            nonlocal version, local
            yield _sse("state", self._state(view))
            svgs = await asyncio.to_thread(plots.poll, True)
            if svgs:
                yield _sse("plots", svgs)
            beat = time.monotonic()
            report = self._report(view.run_id)
            while True:
                if await request.is_disconnected():
                    return
                await asyncio.sleep(POLL_S)
                v, w = self.journal.data_version(), self.local_writes
                now = time.monotonic()
                if v != version or w != local:
                    version, local = v, w
                    changes = view.refresh()
                    changes["progress"] = view.progress()
                    yield _sse("update", changes)
                    beat = now
                elif view.running and now - beat >= HEARTBEAT_S:
                    yield _sse("update", {"progress": view.progress(), "measurements": [], "events": []})
                    beat = now
                elif not view.running and now - beat >= 15:
                    yield ": keep-alive\n\n"
                    beat = now
                new_report = self._report(view.run_id)
                if new_report != report:
                    report = new_report
                    yield _sse("report", {"report": report})
                svgs = await asyncio.to_thread(plots.poll)
                if svgs:
                    yield _sse("plots", svgs)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    # -- changes: answers and aborts ---------------------------------------------------------------
    async def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise BenchError("expected a JSON object") from None
        if not isinstance(body, dict):
            raise BenchError("expected a JSON object")
        return body

    def _who(self, body: dict[str, Any]) -> str:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise BenchError("your name is required: it is journalled with the answer")
        return check_name(name, "name")

    def _running(self, run_id: str) -> dict[str, Any]:
        run = self.journal.run(run_id)
        if run["status"] != RUNNING:
            raise BenchError(f"run {run['run_id']} is {run['status']}: nothing can be changed")
        return run

    async def answer(self, request: Request) -> JSONResponse:
        run_id, rid = request.path_params["run_id"], int(request.path_params["request_id"])
        try:
            body = await self._body(request)
            who = self._who(body)
            run = self._running(run_id)
            req = next((r for r in self.journal.requests(run["run_id"]) if r["id"] == rid), None)
            if req is None:
                return JSONResponse({"error": f"no prompt {rid} in run {run_id}"}, status_code=404)
            if not req["open"]:
                return JSONResponse(
                    {
                        "error": f"already answered: {req['answer']!r} by {req['answered_by'] or '?'} ({req['origin']})"
                        if not req["withdrawn"]
                        else f"the prompt was withdrawn: {req['origin']}"
                    },
                    status_code=409,
                )
            answer = validate_answer(req["spec"], body.get("answer"))
        except (BenchError, PromptError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        except KeyError as exc:
            return JSONResponse({"error": str(exc.args[0])}, status_code=404)
        client = request.client.host if request.client else "?"
        got = self.journal.answer_request(rid, answer, by=who, origin=f"bench ui ({client})")
        self.local_writes += 1
        if not got["won"]:
            return JSONResponse(
                {"error": f"answered first by {got['answered_by'] or '?'} ({got['origin']}): {got['answer']!r}"},
                status_code=409,
            )
        return JSONResponse({"ok": True, "answer": got["answer"], "answered_by": got["answered_by"]})

    async def abort(self, request: Request) -> JSONResponse:
        run_id = request.path_params["run_id"]
        try:
            body = await self._body(request)
            who = self._who(body)
            run = self._running(run_id)
            reason = body.get("reason") or ""
            if not isinstance(reason, str) or len(reason) > 200:
                raise BenchError("reason: at most 200 characters of text")
        except BenchError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        except KeyError as exc:
            return JSONResponse({"error": str(exc.args[0])}, status_code=404)
        client = request.client.host if request.client else "?"
        rid = self.journal.request_abort(run["run_id"], by=who, origin=f"bench ui ({client})", reason=reason.strip())
        self.local_writes += 1
        return JSONResponse({"ok": True, "request": rid}, status_code=202)

    # -- report files -----------------------------------------------------------------------------
    async def report_file(self, request: Request) -> FileResponse | PlainTextResponse:
        run_id, rel = request.path_params["run_id"], request.path_params["path"]
        base = (self.report_dir / run_id).resolve()
        target = (base / rel).resolve()
        if (
            not target.is_relative_to(base)
            or not base.is_relative_to(self.report_dir.resolve())
            or not target.is_file()
        ):
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(target)


def _sse(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"
