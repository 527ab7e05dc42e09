"""The server's HTTP plumbing: a refused request in each API's error shape, the bounded queue, body limits."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse


class ApiError(Exception):
    """A request refused: HTTP ``status``, machine-readable ``code``, one-line ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def fapihub_error(error: ApiError, request_id: str) -> JSONResponse:
    """fapihub's error body: ``{"error": {"code", "message", "request_id"}}``."""
    body = {"error": {"code": error.code, "message": error.message, "request_id": request_id}}
    return JSONResponse(body, status_code=error.status)


def photoshop_error(error: ApiError, request_id: str) -> JSONResponse:
    """The Photoshop API's error body (its OpenAPI file's ``JobError``): ``type``, ``code`` (a string), ``title``."""
    body = {"type": error.code, "code": str(error.status), "title": error.message}
    return JSONResponse(body, status_code=error.status)


def photoroom_error(error: ApiError, request_id: str) -> JSONResponse:
    """Photoroom's ``/v2/edit`` error body (its OpenAPI file: 400, 403, 500): ``{"error": {"message"}}``."""
    return JSONResponse({"error": {"message": error.message}}, status_code=error.status)


#: Seconds a client is told to wait after a 429 (``Retry-After``).
RETRY_AFTER_S = 5


class Queue:
    """A bounded queue: at most ``max_pending`` requests in, ``concurrency`` processed at once."""

    def __init__(self, max_pending: int, concurrency: int) -> None:
        self.max_pending = max_pending
        self.pending = 0
        self._lock = threading.Lock()
        self._running = threading.BoundedSemaphore(concurrency)

    def enter(self) -> None:
        """Take a place. Raises ApiError 429 when the queue is full."""
        with self._lock:
            if self.pending >= self.max_pending:
                raise ApiError(429, "rate_limit_exceeded", f"the server is busy ({self.pending} requests pending)")
            self.pending += 1

    def run(self, job: Any) -> Any:
        """Run ``job()`` in this thread when a processing slot is free; the place is released after."""
        try:
            with self._running:
                return job()
        finally:
            with self._lock:
                self.pending -= 1


def declared_length(request: Request) -> int:
    """The request's Content-Length in bytes, 0 when it has none (a chunked body) or an unreadable one."""
    length = request.headers.get("content-length", "")
    return int(length) if length.isdigit() else 0


def limited(request: Request, limit: int, error: ApiError) -> Request:
    """The same request, whose body raises ``error`` once more than ``limit`` bytes have arrived.

    For bodies with no Content-Length (``Transfer-Encoding: chunked``): they
    are counted as they are read, so an endless upload is cut off at the
    limit instead of being spooled to disk whole.
    """
    received = 0
    receive = request.receive

    async def counted() -> Any:
        nonlocal received
        message = await receive()
        if message.get("type") == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise error
        return message

    return Request(request.scope, counted)
