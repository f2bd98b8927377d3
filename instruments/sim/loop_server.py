"""A simulated network server living on an asyncio loop in a daemon thread of its own.

Started and stopped from the caller's thread (a test, the simulated station): `start()` returns
once the socket listens (port 0 becomes the free port the OS chose) or raises what stopped it;
`stop()` closes gracefully when it can and always stops the loop and joins the thread. The two
Modbus simulators (one per instrument, one per site) share this life; each opens its own socket.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class LoopServer:
    """Base of a server on its own loop; subclasses open the socket in `_begin` and close in `_close`."""

    name: str
    host: str
    port: int

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def resource(self) -> str:
        return f"{self.host}:{self.port}"

    async def _begin(self) -> None:
        """Open the listening socket (on the loop) and set `self.port` to the one bound."""
        raise NotImplementedError

    async def _close(self) -> None:
        """Close the socket and the clients gracefully (on the loop)."""

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._begin())
        except BaseException as exc:  # reported to start(), which raises it in the caller
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        # drain what the server left scheduled, then close the loop in its own thread
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    def start(self, timeout_s: float = 5.0) -> Any:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-{id(self):x}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"{self.name}: server did not start within {timeout_s} s")
        if self._error is not None:
            self._thread.join(timeout_s)
            raise RuntimeError(
                f"{self.name}: server failed to start on {self.host}:{self.port}: {self._error}"
            ) from self._error
        return self

    def call(self, coro: Any, timeout_s: float = 2.0) -> Any:
        """Run a coroutine on the server loop from another thread."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._close(), loop).result(2.0)
            except Exception:  # stopping matters more than a graceful close
                pass
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=3.0)
        self._loop = self._thread = self._server = None

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
