"""The HTTP protocol ``depthblur serve`` runs: uvicorn's h11 one, guarded against slow and idle clients.

uvicorn gives a connection no deadline for its request headers, and takes
connections without bound: 1,100 connections that never finish their headers
(slowloris) used up the process's 1,024 open files and ``/health`` failed.
This protocol closes a connection whose first request's headers are not
complete within :data:`HEADER_TIMEOUT_S`, and refuses connections beyond
:data:`MAX_CONNECTIONS` (closed at once). Idle keep-alive connections are
closed by uvicorn's own ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

#: Seconds a new connection has to send its request's headers.
HEADER_TIMEOUT_S = 10.0
#: Connections open at once per server process; more are closed as they come.
MAX_CONNECTIONS = 512


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a cap on open connections (see the module)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        if len(self.connections) > MAX_CONNECTIONS:
            transport.close()
            return
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._headers_too_slow)

    def _headers_too_slow(self) -> None:
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_lost(self, exc: Any) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()  # type: ignore[union-attr]
            self._header_timer = None
        super().connection_lost(exc)
