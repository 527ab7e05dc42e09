"""The FastAPI application of ``depthblur serve``: the fapihub, Photoroom and Photoshop routers, health.

Endpoints (request and response shapes of the APIs' own documents; one
router each in :mod:`depthblur_cli.server.routes`, sharing
:class:`~depthblur_cli.server.context.ServerContext`):

- ``POST /v2/rembg/blur/`` (fapihub ``rembg/blur``): multipart ``image``
  (file) and ``radius`` (integer pixels, 1..50); header ``ApiKey``; 200 with
  the PNG; errors as ``{"error": {"code", "message", "request_id"}}``.
- ``POST /v2/edit`` and ``GET /v2/edit?imageUrl=`` (Photoroom image editing,
  the URL only under ``--allow-href``): the cutout (``removeBackground``,
  true by default), ``background.color``, ``background.blur.mode`` /
  ``.radius``, ``outputSize``, ``padding``, ``export.format`` / ``.dpi``
  (see :mod:`~depthblur_cli.server.photoroom`; any other parameter is a
  400 naming it); header ``x-api-key`` (``sandbox_`` keys too); 200 with the
  image and ``x-uncertainty-score``; errors as ``{"error": {"message"}}``, a
  bad key 403.
- ``POST /pie/psdService/depthBlur`` and ``GET /pie/psdService/status/{jobId}``
  (Photoshop API): see :mod:`~depthblur_cli.server.depth_jobs`; header
  ``x-api-key`` (a bad one 403); errors as ``{"type", "code", "title"}``
  (``code`` a string), as Adobe's OpenAPI file's ``JobError``.
- ``GET /health``: ``{"status": "ok", "version", "pending", "max_pending"}``.

Every request is checked, in this order: the API key (constant-time
comparison, when keys are set), the upload size (413), the form fields
(400), a free place in the bounded queue (429, with ``Retry-After``), then the image is decoded
under the decompression-bomb guard and processed in a worker thread with a
time limit (504). One matting session is loaded once and reused by every
request. No traceback or file path ever reaches a client: internal errors
are logged on the server and answered with a request id.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import Response

from depthblur_cli import __version__
from depthblur_cli.batch.engines import use_threads
from depthblur_cli.server.context import KeyRefused, ServerContext, ServerSettings, add_route, answer_refused, log
from depthblur_cli.server.routes import fapihub, photoroom, photoshop

__all__ = ["ServerSettings", "app_from_environment", "create_app", "log_to_stderr", "settings_to_environment"]

DESCRIPTION = "Local, offline drop-in for the fapihub rembg/blur, Photoroom /v2/edit and Photoshop depthBlur APIs."

#: Environment variable carrying the settings to each uvicorn worker process (``--workers`` > 1).
SETTINGS_ENV = "DEPTHBLUR_SERVE_SETTINGS"


def settings_to_environment(settings: ServerSettings) -> str:
    """The settings as the JSON text :func:`app_from_environment` reads."""
    import json

    return json.dumps(settings.__dict__)


def log_to_stderr() -> None:
    """Send the server's log (one line per request, the shutdown line, errors) to stderr, once."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def app_from_environment() -> FastAPI:
    """The application with the settings in ``$DEPTHBLUR_SERVE_SETTINGS`` (uvicorn's factory for workers)."""
    import json
    import os

    given = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
    given["api_keys"] = tuple(given.get("api_keys", ()))
    given["allow_href"] = tuple(given.get("allow_href", ()))
    log_to_stderr()
    return create_app(ServerSettings(**given))


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The FastAPI application of ``depthblur serve``: one router per API, the access log, ``/health``.

    Args:
        settings: keys, limits, model, device, allowed hrefs, threads;
            :class:`ServerSettings`'s defaults when None.

    Returns:
        the application, with ``app.state.queue`` (its
        :class:`~depthblur_cli.server.http.Queue`). The matting session is
        loaded on the first request (``depthblur serve`` loads it before
        starting, so a missing model stops it with exit 3).
    """
    settings = settings or ServerSettings()
    if settings.threads:
        use_threads(settings.threads)
    ctx = ServerContext(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        # A job a client was told is accepted is finished (its PUTs made) before the process ends, within
        # its own time limit; uvicorn has already finished the requests in flight.
        deadline = time.monotonic() + settings.timeout_s
        for thread in list(ctx.accepted):
            await anyio.to_thread.run_sync(thread.join, max(0.0, deadline - time.monotonic()))
        log.info("depthblur serve: stopped (process %d)", os.getpid())

    Application: Any = FastAPI  # without fastapi-offline, FastAPI's own /docs (Swagger UI from a CDN)
    with contextlib.suppress(ImportError):  # /docs from a local copy of Swagger UI: it works offline
        from fastapi_offline import FastAPIOffline as Application
    app = Application(title="depthblur", version=__version__, description=DESCRIPTION, lifespan=lifespan)

    @app.middleware("http")
    async def access_log(request: Request, call_next: Any) -> Response:
        """One line per request: method, path (no query: it may carry a signature), status, time, request id."""
        start = time.perf_counter()
        response = await call_next(request)
        took = (time.perf_counter() - start) * 1000
        rid = response.headers.get("x-request-id", "-")
        log.info("%s %s %d %.0f ms %s", request.method, request.url.path, response.status_code, took, rid)
        return response

    async def health() -> dict:
        return {"status": "ok", "version": __version__, "pending": ctx.queue.pending,
                "max_pending": ctx.queue.max_pending}  # fmt: skip

    app.add_exception_handler(KeyRefused, answer_refused)
    for api in (fapihub.router(ctx), photoroom.router(ctx), photoshop.router(ctx)):
        app.include_router(api)
    add_route(app.router, "/health", health, "GET", "liveness and queue", "health")
    app.state.queue = ctx.queue
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        from depthblur_cli.server.openapi import complete

        if app.openapi_schema is None:
            app.openapi_schema = complete(base_openapi())
        return app.openapi_schema

    app.openapi = openapi
    return app
