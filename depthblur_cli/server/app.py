"""The FastAPI application of ``depthblur serve``: the fapihub, Photoroom and Photoshop endpoints, health.

Endpoints (request and response shapes of the APIs' own documents):

- ``POST /v2/rembg/blur/`` (fapihub ``rembg/blur``): multipart ``image``
  (file) and ``radius`` (integer pixels, 1..50); header ``ApiKey``; 200 with
  the PNG; errors as ``{"error": {"code", "message", "request_id"}}``.
- ``POST /v2/edit`` (Photoroom image editing): multipart ``imageFile``,
  ``background.blur.mode`` (``bokeh`` | ``gaussian``),
  ``background.blur.radius`` (0 < r <= 0.05 of the longer side, default
  0.01), ``removeBackground`` (must be false for a blur), ``export.format``
  (png, jpeg, webp; default png); header ``x-api-key``; 200 with the image;
  errors as ``{"detail", "status_code", "type"}``.
- ``POST /pie/psdService/depthBlur`` and ``GET /pie/psdService/status/{jobId}``
  (Photoshop API): see :mod:`~depthblur_cli.server.depth_jobs`; header
  ``x-api-key``; errors as ``{"type", "code", "title"}``.
- ``GET /health``: ``{"status": "ok", "version", "pending", "max_pending"}``.

Every request is checked, in this order: the API key (constant-time
comparison, when keys are set), the upload size (413), the form fields
(400), a free place in the bounded queue (429), then the image is decoded
under the decompression-bomb guard and processed in a worker thread with a
time limit (504). One matting session is loaded once and reused by every
request. No traceback or file path ever reaches a client: internal errors
are logged on the server and answered with a request id.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from depthblur_cli import __version__, defaults
from depthblur_cli.errors import EXIT_MODEL, DepthblurError, InputError
from depthblur_cli.jobs import use_threads
from depthblur_cli.modelbox import ModelBox
from depthblur_cli.options import BackgroundBlurOptions
from depthblur_cli.server.depth_jobs import Jobs, ValidationFailed, validate_request, validation_body

log = logging.getLogger("depthblur.serve")

#: Output formats of the Photoroom endpoint's ``export.format`` and their media types.
PHOTOROOM_FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "jpg": ("JPEG", "image/jpeg"),
                     "webp": ("WEBP", "image/webp")}  # fmt: skip


@dataclass(frozen=True)
class ServerSettings:
    """What ``depthblur serve`` was asked for.

    Attributes:
        api_keys: accepted keys; empty = no key needed.
        max_upload_mb: largest accepted upload, MB (10**6 bytes), > 0.
        max_pending: requests queued or running at once; one more gets 429.
        concurrency: requests processed at the same time (threads).
        timeout_s: time limit of one request's processing, seconds (504).
        matte_model: the matting model's catalog name or path.
        allow_download: download a missing catalog model on first use.
        device: onnxruntime device (``--device``).
        allow_href: URL prefixes the depthBlur jobs may read from and write to.
        threads: threads of this process (renderer, OpenCV, onnxruntime), or
            None for all the cores; ``serve --workers N`` gives each ``cores // N``.
    """

    api_keys: tuple[str, ...] = ()
    max_upload_mb: float = defaults.SERVE_MAX_UPLOAD_MB
    max_pending: int = defaults.SERVE_MAX_PENDING
    concurrency: int = defaults.SERVE_CONCURRENCY
    timeout_s: float = defaults.SERVE_TIMEOUT_S
    matte_model: str = defaults.MATTE_MODEL
    allow_download: bool = False
    device: str = "auto"
    allow_href: tuple[str, ...] = ()
    threads: int | None = None


DESCRIPTION = "Local, offline drop-in for the fapihub rembg/blur and Photoroom background-blur APIs."

#: Environment variable carrying the settings to each uvicorn worker process (``--workers`` > 1).
SETTINGS_ENV = "DEPTHBLUR_SERVE_SETTINGS"


def settings_to_environment(settings: ServerSettings) -> str:
    """The settings as the JSON text :func:`app_from_environment` reads."""
    import json

    return json.dumps(settings.__dict__)


def app_from_environment() -> FastAPI:
    """The application with the settings in ``$DEPTHBLUR_SERVE_SETTINGS`` (uvicorn's factory for workers)."""
    import json
    import os

    given = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
    given["api_keys"] = tuple(given.get("api_keys", ()))
    given["allow_href"] = tuple(given.get("allow_href", ()))
    return create_app(ServerSettings(**given))


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
    """The Photoshop API's error body: ``{"type", "code", "title"}`` (plus ``request_id``)."""
    body = {"type": error.code, "code": error.status, "title": error.message, "request_id": request_id}
    return JSONResponse(body, status_code=error.status)


def photoroom_error(error: ApiError, request_id: str) -> JSONResponse:
    """Photoroom's error body: ``{"detail", "status_code", "type"}`` (plus ``request_id``).

    Not in a Photoroom document reachable offline; public Photoroom clients
    read ``detail`` first, which agrees with it.
    """
    body = {"detail": error.message, "status_code": error.status, "type": error.code, "request_id": request_id}
    return JSONResponse(body, status_code=error.status)


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


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The FastAPI application of ``depthblur serve``.

    Args:
        settings: keys, limits, model, device, allowed hrefs, threads;
            :class:`ServerSettings`'s defaults when None.

    Returns:
        the application, with ``app.state.queue`` (its :class:`Queue`). The
        matting session is loaded on the first request (``depthblur serve``
        loads it before starting, so a missing model stops it with exit 3).
    """
    from depthblur_cli.imaging import codec

    settings = settings or ServerSettings()
    if settings.threads:
        use_threads(settings.threads)
    models = ModelBox(settings.matte_model, allow_download=settings.allow_download, progress=False,
                      device=settings.device, threads=settings.threads)  # fmt: skip
    queue = Queue(settings.max_pending, settings.concurrency)
    max_bytes = int(settings.max_upload_mb * 1_000_000)
    app = FastAPI(title="depthblur", version=__version__, description=DESCRIPTION)

    def check_key(request: Request, header: str) -> None:
        if not settings.api_keys:
            return
        given = request.headers.get(header, "").encode()
        # every key is compared, in constant time, whatever the first comparisons gave
        matches = [hmac.compare_digest(given, key.encode()) for key in settings.api_keys]
        if not any(matches):
            raise ApiError(401, "invalid_api_key", f"missing or invalid API key (header {header})")

    async def read_form(request: Request) -> Any:
        too_large = ApiError(413, "file_too_large", f"the upload is over {settings.max_upload_mb:g} MB")
        limit = max_bytes + 64 * 1024  # the form's fields and boundaries beside the file
        if declared_length(request) > limit:
            raise too_large
        try:
            return await limited(request, limit, too_large).form()
        except ApiError:
            raise
        except Exception as exc:  # starlette's multipart errors (too large, malformed)
            if "size" in str(exc).lower():
                raise ApiError(413, "file_too_large", f"the upload is over {settings.max_upload_mb:g} MB") from None
            raise ApiError(400, "invalid_request", "the body is not a valid multipart form") from None

    async def read_file(form: Any, field: str) -> bytes:
        upload = form.get(field)
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "invalid_image", f"the form field {field!r} (an image file) is missing")
        data = await upload.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ApiError(413, "file_too_large", f"the upload is over {settings.max_upload_mb:g} MB")
        if not data:
            raise ApiError(400, "invalid_image", f"the file in {field!r} is empty")
        return data

    def render(data: bytes, name: str, options: BackgroundBlurOptions, fmt: str, quality: int) -> bytes:
        from depthblur_cli.pipeline import background_blur
        from depthblur_cli.report import Record

        try:
            image = codec.load_image(name, data=data)
        except InputError as exc:
            raise ApiError(400, "invalid_image", exc.message) from None
        rendered = background_blur(image, options, models, Record(input=name), reuse_input=True)
        alpha = None if fmt == "JPEG" else rendered.alpha
        return codec.encode_image(rendered.rgb, alpha, fmt, quality=quality, icc_profile=image.icc_profile,
                                  exif=image.exif)  # fmt: skip

    async def process(data: bytes, name: str, options: BackgroundBlurOptions, fmt: str, quality: int = 95) -> bytes:
        queue.enter()
        try:
            with anyio.fail_after(settings.timeout_s):
                # abandon_on_cancel: on timeout the thread finishes on its own and then frees its place
                return await anyio.to_thread.run_sync(
                    queue.run, lambda: render(data, name, options, fmt, quality), abandon_on_cancel=True
                )
        except TimeoutError:
            raise ApiError(504, "timeout", f"processing took over {settings.timeout_s:g} s") from None

    def guarded(error_body: Any):
        """Wrap an endpoint: ApiError and DepthblurError become the API's error body; nothing else leaks."""

        def wrap(endpoint: Any) -> Any:
            async def run(request: Request) -> Response:
                request_id = uuid.uuid4().hex
                try:
                    response = await endpoint(request)
                except ApiError as exc:
                    return error_body(exc, request_id)
                except DepthblurError as exc:
                    status = 503 if exc.exit_code == EXIT_MODEL else 400  # a model missing or failing: the server
                    return error_body(ApiError(status, exc.code, exc.message), request_id)
                except Exception:
                    log.exception("request %s failed", request_id)
                    return error_body(ApiError(500, "internal_error", "internal error; see the server's log"),
                                      request_id)  # fmt: skip
                response.headers["x-request-id"] = request_id
                return response

            return run

        return wrap

    @guarded(fapihub_error)
    async def rembg_blur(request: Request) -> Response:
        check_key(request, "ApiKey")
        form = await read_form(request)
        raw = form.get("radius")
        if raw is None:
            raise ApiError(400, "invalid_radius", "the form field 'radius' (integer pixels, 1..50) is missing")
        try:
            radius = int(str(raw))
        except ValueError:
            raise ApiError(400, "invalid_radius", f"radius must be an integer, got {str(raw)[:40]!r}") from None
        if not 1 <= radius <= defaults.MAX_REMBG_RADIUS_PX:
            raise ApiError(400, "invalid_radius", f"radius must be 1..{defaults.MAX_REMBG_RADIUS_PX}, got {radius}")
        data = await read_file(form, "image")
        options = BackgroundBlurOptions(mode="gaussian", radius=None, radius_px=float(radius))
        return Response(await process(data, "image", options, "PNG"), media_type="image/png")

    @guarded(photoroom_error)
    async def photoroom_edit(request: Request) -> Response:
        check_key(request, "x-api-key")
        form = await read_form(request)
        mode = str(form.get("background.blur.mode", "")).strip()
        if mode not in ("bokeh", "gaussian"):
            raise ApiError(400, "invalid_parameter", "background.blur.mode must be bokeh or gaussian")
        raw = form.get("background.blur.radius")
        try:
            radius = defaults.BLUR_RADIUS if raw is None else float(str(raw))
        except ValueError:
            radius = math.nan
        if not (math.isfinite(radius) and 0 < radius <= defaults.MAX_BLUR_RADIUS):
            raise ApiError(
                400, "invalid_parameter", f"background.blur.radius must be in (0, {defaults.MAX_BLUR_RADIUS}]"
            )
        if str(form.get("removeBackground", "false")).strip().lower() not in ("false", "0"):
            raise ApiError(400, "invalid_parameter", "a background blur needs removeBackground=false")
        export = str(form.get("export.format", "png")).strip().lower()
        if export not in PHOTOROOM_FORMATS:
            raise ApiError(400, "invalid_parameter", "export.format must be png, jpeg or webp")
        data = await read_file(form, "imageFile")
        fmt, media_type = PHOTOROOM_FORMATS[export]
        options = BackgroundBlurOptions(mode=mode, radius=radius)
        return Response(await process(data, "imageFile", options, fmt), media_type=media_type)

    jobs = Jobs(models, max_bytes, settings.timeout_s)

    @guarded(photoshop_error)
    async def depth_blur(request: Request) -> Response:
        check_key(request, "x-api-key")
        too_large = ApiError(413, "PayloadTooLarge", "the request body is over 1 MB")
        if declared_length(request) > 1_000_000:
            raise too_large
        try:
            body = await limited(request, 1_000_000, too_large).json()
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
            raise ApiError(400, "InputValidationError", "the body is not valid JSON") from None
        try:
            href, checked, outputs = validate_request(body, settings.allow_href)
        except ValidationFailed as exc:
            return JSONResponse(validation_body(exc), status_code=400)
        queue.enter()
        status_url = str(request.base_url) + "pie/psdService/status/{job_id}"
        job_id = jobs.create(href, outputs, status_url)
        work = lambda: jobs.run(job_id, href, checked, outputs)  # noqa: E731
        threading.Thread(target=queue.run, args=(work,), daemon=True, name=f"depthBlur-{job_id}").start()
        return JSONResponse({"_links": {"self": {"href": status_url.format(job_id=job_id)}}}, status_code=202)

    @guarded(photoshop_error)
    async def depth_blur_status(request: Request) -> Response:
        check_key(request, "x-api-key")
        doc = jobs.document(request.path_params["job_id"])
        if doc is None:
            raise ApiError(404, "FileNotFound", "no such job")
        return JSONResponse(doc)

    async def health() -> dict:
        return {"status": "ok", "version": __version__, "pending": queue.pending, "max_pending": queue.max_pending}

    app.state.queue = queue
    app.add_api_route("/v2/rembg/blur/", rembg_blur, methods=["POST"], summary="fapihub rembg/blur")
    app.add_api_route("/v2/rembg/blur", rembg_blur, methods=["POST"], include_in_schema=False)
    app.add_api_route("/v2/edit", photoroom_edit, methods=["POST"], summary="Photoroom image editing: background blur")
    app.add_api_route("/pie/psdService/depthBlur", depth_blur, methods=["POST"], summary="Photoshop depthBlur")
    app.add_api_route("/pie/psdService/status/{job_id}", depth_blur_status, methods=["GET"], summary="a job's status")
    app.add_api_route("/health", health, methods=["GET"], summary="liveness and queue")
    return app
