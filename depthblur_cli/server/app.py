"""The FastAPI application of ``depthblur serve``: the fapihub, Photoroom and Photoshop endpoints, health.

Endpoints (request and response shapes of the APIs' own documents):

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
import hmac
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from depthblur_cli import __version__
from depthblur_cli.batch.engines import use_threads
from depthblur_cli.errors import EXIT_MODEL, DepthblurError, InputError
from depthblur_cli.options import defaults
from depthblur_cli.options.jobs import BackgroundBlurOptions
from depthblur_cli.pipeline.modelbox import ModelBox
from depthblur_cli.server.depth_jobs import (
    Jobs,
    ValidationFailed,
    fetch_url,
    href_allowed,
    validate_request,
    validation_body,
)
from depthblur_cli.server.http import (
    RETRY_AFTER_S,
    ApiError,
    Queue,
    declared_length,
    fapihub_error,
    limited,
    photoroom_error,
    photoshop_error,
)

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

    accepted: set[threading.Thread] = set()  # depthBlur jobs answered 202 and not finished

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        # A job a client was told is accepted is finished (its PUTs made) before the process ends, within
        # its own time limit; uvicorn has already finished the requests in flight.
        deadline = time.monotonic() + settings.timeout_s
        for thread in list(accepted):
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

    def check_key(request: Request, header: str, *, status: int = 401, sandbox: bool = False) -> None:
        """Refuse a request without one of the keys (``status``: 401 fapihub, 403 Photoroom and Adobe).

        ``sandbox``: Photoroom's ``sandbox_`` keys (a key with that prefix) are the key too.
        """
        if not settings.api_keys:
            return
        given = request.headers.get(header, "")
        if sandbox and given.startswith("sandbox_"):
            given = given[len("sandbox_") :]
        # every key is compared, in constant time, whatever the first comparisons gave
        matches = [hmac.compare_digest(given.encode(), key.encode()) for key in settings.api_keys]
        if not any(matches):
            message = "Unauthorized" if status == 403 else f"missing or invalid API key (header {header})"
            raise ApiError(status, "invalid_api_key", message)

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
        from depthblur_cli.batch.records import Record
        from depthblur_cli.pipeline.photo import background_blur

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
                    response = error_body(exc, request_id)
                    if exc.status == 429:
                        response.headers["Retry-After"] = str(RETRY_AFTER_S)
                    response.headers["x-request-id"] = request_id
                    return response
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

    def render_edit(data: bytes, edit: Any) -> tuple[bytes, float]:
        """A ``/v2/edit`` result (see :mod:`depthblur_cli.server.photoroom`): the file and its uncertainty score."""
        from depthblur_cli.batch.records import Record
        from depthblur_cli.pipeline.photo import background_blur
        from depthblur_cli.server import photoroom

        try:
            image = codec.load_image("imageFile", data=data)
        except InputError as exc:
            raise ApiError(400, "invalid_image", exc.message) from None
        result = "blur" if edit.blur else ("cutout" if edit.remove_background else "blur")
        options = BackgroundBlurOptions(mode=edit.blur or "gaussian", radius=edit.radius, result=result)
        if edit.blur is None and not edit.remove_background:  # nothing to change: the photo, exported
            rgb, alpha, matte = image.pixels, image.alpha, None
        else:
            rendered = background_blur(image, options, models, Record(input="imageFile"), reuse_input=True)
            rgb, alpha, matte = rendered.rgb, rendered.alpha, rendered.matte
        if edit.remove_background and alpha is not None:
            rgb, alpha = photoroom.lay_out(rgb, alpha, edit)
        if edit.fmt == "JPEG":
            alpha = None
        encoded = codec.encode_image(rgb, alpha, edit.fmt, quality=edit.quality, icc_profile=image.icc_profile,
                                     exif=image.exif)  # fmt: skip
        if edit.dpi is not None:
            encoded = photoroom.with_dpi(encoded, edit.fmt, edit.dpi)
        return encoded, (photoroom.uncertainty(matte) if matte is not None else -1.0)

    async def edit_response(params: Any, data: bytes) -> Response:
        from depthblur_cli.server import photoroom

        try:
            edit = photoroom.parse_edit(params)
        except photoroom.EditError as exc:
            raise ApiError(400, "invalid_parameter", str(exc)) from None
        queue.enter()
        try:
            with anyio.fail_after(settings.timeout_s):
                encoded, score = await anyio.to_thread.run_sync(
                    queue.run, lambda: render_edit(data, edit), abandon_on_cancel=True
                )
        except TimeoutError:
            raise ApiError(504, "timeout", f"processing took over {settings.timeout_s:g} s") from None
        return Response(encoded, media_type=edit.media_type, headers={"x-uncertainty-score": f"{score:g}"})

    @guarded(photoroom_error)
    async def photoroom_edit(request: Request) -> Response:
        check_key(request, "x-api-key", status=403, sandbox=True)
        form = await read_form(request)
        data = await read_file(form, "imageFile")
        fields = {k: v for k, v in form.items() if not isinstance(v, UploadFile) or k == "imageFile"}
        fields.pop("imageFile", None)
        return await edit_response(fields, data)

    @guarded(photoroom_error)
    async def photoroom_edit_url(request: Request) -> Response:
        check_key(request, "x-api-key", status=403, sandbox=True)
        params = dict(request.query_params)
        url = params.pop("imageUrl", None)
        if not url:
            raise ApiError(400, "invalid_parameter", "imageUrl is required (GET /v2/edit reads the photo by URL)")
        if not href_allowed(url, settings.allow_href):
            raise ApiError(400, "invalid_parameter", "imageUrl is not under a prefix this server allows (--allow-href)")
        data = await anyio.to_thread.run_sync(lambda: fetch_url(url, max_bytes, settings.timeout_s))
        return await edit_response(params, data)

    jobs = Jobs(models, max_bytes, settings.timeout_s)

    @guarded(photoshop_error)
    async def depth_blur(request: Request) -> Response:
        check_key(request, "x-api-key", status=403)
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

        def work() -> None:
            try:
                jobs.run(job_id, href, checked, outputs)
            finally:
                accepted.discard(threading.current_thread())

        thread = threading.Thread(target=queue.run, args=(work,), daemon=True, name=f"depthBlur-{job_id}")
        accepted.add(thread)
        thread.start()
        return JSONResponse({"_links": {"self": {"href": status_url.format(job_id=job_id)}}}, status_code=202)

    @guarded(photoshop_error)
    async def depth_blur_status(request: Request) -> Response:
        check_key(request, "x-api-key", status=403)
        doc = jobs.document(request.path_params["jobId"])
        if doc is None:
            raise ApiError(404, "FileNotFound", "no such job")
        return JSONResponse(doc)

    async def health() -> dict:
        return {"status": "ok", "version": __version__, "pending": queue.pending, "max_pending": queue.max_pending}

    app.state.queue = queue
    from depthblur_cli.server.openapi import OPERATIONS, complete

    def route(path: str, endpoint: Any, method: str, summary: str, name: str | None = None, **kw: Any) -> None:
        extra = OPERATIONS.get(name or "", {})
        app.add_api_route(path, endpoint, methods=[method], summary=summary, operation_id=name,
                          openapi_extra=extra or None, **kw)  # fmt: skip

    route("/v2/rembg/blur/", rembg_blur, "POST", "fapihub rembg/blur", "rembg_blur")
    route("/v2/rembg/blur", rembg_blur, "POST", "fapihub rembg/blur", include_in_schema=False)
    route("/v2/edit", photoroom_edit, "POST", "Photoroom image editing", "photoroom_edit")
    route("/v2/edit", photoroom_edit_url, "GET", "Photoroom image editing, by URL", "photoroom_edit_url")
    route("/pie/psdService/depthBlur", depth_blur, "POST", "Photoshop depthBlur", "depth_blur")
    route("/pie/psdService/status/{jobId}", depth_blur_status, "GET", "a depthBlur job's status", "depth_blur_status")
    route("/health", health, "GET", "liveness and queue", "health")
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(base_openapi())
        return app.openapi_schema

    app.openapi = openapi
    return app
