"""What every endpoint of ``depthblur serve`` shares: its settings, the matting session, the queue,
reading a request, the API key check and each API's error body.

Each API's router checks the key first, as a FastAPI dependency
(:meth:`ServerContext.key_check`, constant-time, when keys are set): a
refused request gets the API's own error body before its endpoint runs or
its body is read. Its endpoints are wrapped by :meth:`ServerContext.guard`
with the API's error body: an :class:`~depthblur_cli.server.http.ApiError`
or a :class:`~depthblur_cli.errors.DepthblurError` becomes that body,
anything else a 500 with a request id (the traceback goes to the server's
log, never to the client).
"""

from __future__ import annotations

import hmac
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from depthblur_cli.errors import EXIT_MODEL, DepthblurError, InputError
from depthblur_cli.imaging.codec import LoadedImage
from depthblur_cli.options import defaults
from depthblur_cli.pipeline.modelbox import ModelBox
from depthblur_cli.server.http import RETRY_AFTER_S, ApiError, Queue, declared_length, limited

log = logging.getLogger("depthblur.serve")

T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]
ErrorBody = Callable[[ApiError, str], JSONResponse]


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


class ServerContext:
    """The server's shared state and request helpers.

    Args (constructor):
        settings: the server's settings.

    Attributes:
        settings: as given.
        models: the matting session, loaded on first use.
        queue: the bounded queue of requests (429 beyond it).
        max_bytes: the largest upload, bytes.
        accepted: depthBlur jobs answered 202 and not finished (waited for at shutdown).
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.models = ModelBox(settings.matte_model, allow_download=settings.allow_download, progress=False,
                               device=settings.device, threads=settings.threads)  # fmt: skip
        self.queue = Queue(settings.max_pending, settings.concurrency)
        self.max_bytes = int(settings.max_upload_mb * 1_000_000)
        self.accepted: set[threading.Thread] = set()

    def check_key(self, request: Request, header: str, *, status: int = 401, sandbox: bool = False) -> None:
        """Refuse a request without one of the keys (``status``: 401 fapihub, 403 Photoroom and Adobe).

        ``sandbox``: Photoroom's ``sandbox_`` keys (a key with that prefix) are the key too.

        Raises:
            ApiError: the key is missing or not one of the server's.
        """
        if not self.settings.api_keys:
            return
        given = request.headers.get(header, "")
        if sandbox and given.startswith("sandbox_"):
            given = given[len("sandbox_") :]
        # every key is compared, in constant time, whatever the first comparisons gave
        matches = [hmac.compare_digest(given.encode(), key.encode()) for key in self.settings.api_keys]
        if not any(matches):
            message = "Unauthorized" if status == 403 else f"missing or invalid API key (header {header})"
            raise ApiError(status, "invalid_api_key", message)

    def _too_large(self) -> ApiError:
        return ApiError(413, "file_too_large", f"the upload is over {self.settings.max_upload_mb:g} MB")

    async def read_form(self, request: Request) -> Any:
        """The request's multipart form, within the upload limit (413 beyond it, 400 when malformed)."""
        limit = self.max_bytes + 64 * 1024  # the form's fields and boundaries beside the file
        if declared_length(request) > limit:
            raise self._too_large()
        try:
            return await limited(request, limit, self._too_large()).form()
        except ApiError:
            raise
        except Exception as exc:  # starlette's multipart errors (too large, malformed)
            if "size" in str(exc).lower():
                raise self._too_large() from None
            raise ApiError(400, "invalid_request", "the body is not a valid multipart form") from None

    async def read_file(self, form: Any, field: str) -> bytes:
        """The bytes of the form's file ``field`` (400 when missing or empty, 413 when too large)."""
        upload = form.get(field)
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "invalid_image", f"the form field {field!r} (an image file) is missing")
        data = await upload.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise self._too_large()
        if not data:
            raise ApiError(400, "invalid_image", f"the file in {field!r} is empty")
        return data

    async def read_mask(self, form: Any) -> bytes | None:
        """The optional form file ``mask``: the subject's matte, as ``--mask`` (an extension of the APIs).

        A grayscale image (0 = background, 255 = subject) or an RGBA one's
        alpha, of any size (resized to the photo); None when not given.
        """
        mask = form.get("mask")
        if mask is None:
            return None
        if not isinstance(mask, UploadFile):  # (read_file would call it missing)
            raise ApiError(400, "invalid_image", "the form field 'mask' must be an image file")
        return await self.read_file(form, "mask")

    @staticmethod
    def decode_mask(data: bytes) -> np.ndarray:
        """An uploaded matte decoded (under the decompression-bomb guard) as (h, w); 400 when not an image."""
        mask = ServerContext.decode(data, "mask")
        return mask.alpha if mask.alpha is not None else mask.pixels[..., 0]

    @staticmethod
    def decode(data: bytes, name: str) -> LoadedImage:
        """The uploaded photo decoded (under the decompression-bomb guard); 400 when it is not an image."""
        from depthblur_cli.imaging import codec

        try:
            return codec.load_image(name, data=data)
        except InputError as exc:
            raise ApiError(400, "invalid_image", exc.message) from None

    async def process(self, work: Callable[[], T]) -> T:
        """``work()`` in a worker thread, with a place in the queue (429 without) and the time limit (504)."""
        self.queue.enter()
        try:
            with anyio.fail_after(self.settings.timeout_s):
                # abandon_on_cancel: on timeout the thread finishes on its own and then frees its place
                return await anyio.to_thread.run_sync(self.queue.run, work, abandon_on_cancel=True)
        except TimeoutError:
            raise ApiError(504, "timeout", f"processing took over {self.settings.timeout_s:g} s") from None

    def key_check(
        self, error_body: ErrorBody, header: str, *, status: int = 401, sandbox: bool = False
    ) -> Callable[[Request], Awaitable[None]]:
        """One API's key check, a dependency of its router (``APIRouter(dependencies=[Depends(...)])``).

        Args:
            error_body: the API's error body of an ApiError and a request id.
            header, status, sandbox: see :meth:`check_key`.

        Returns:
            the dependency; it raises :class:`KeyRefused` with the API's
            error body (and an ``x-request-id``) for a request without a
            valid key, which the app answers as it is (:func:`answer_refused`).
        """

        async def require_key(request: Request) -> None:
            try:
                self.check_key(request, header, status=status, sandbox=sandbox)
            except ApiError as exc:
                request_id = uuid.uuid4().hex
                response = error_body(exc, request_id)
                response.headers["x-request-id"] = request_id
                raise KeyRefused(response) from None

        return require_key

    def guard(self, error_body: ErrorBody) -> Callable[[Endpoint], Endpoint]:
        """The wrapper of one API's endpoints: errors as the API's body, each response with its request id.

        Args:
            error_body: the API's error body of an ApiError and a request id.
        """

        def wrap(endpoint: Endpoint) -> Endpoint:
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


class KeyRefused(Exception):
    """A request without a valid API key, and the API's answer to it (see :meth:`ServerContext.key_check`)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def answer_refused(request: Request, exc: Exception) -> Response:
    """The app's handler of :class:`KeyRefused`: the API's error body, as the key check made it."""
    assert isinstance(exc, KeyRefused)
    return exc.response


def add_route(router: APIRouter, path: str, endpoint: Any, method: str, summary: str, name: str | None = None,
              **kw: Any) -> None:  # fmt: skip
    """Add an endpoint with its OpenAPI operation (id, and what the API's own document says of it)."""
    from depthblur_cli.server.openapi import OPERATIONS

    extra = OPERATIONS.get(name or "", {})
    router.add_api_route(path, endpoint, methods=[method], summary=summary, operation_id=name,
                         openapi_extra=extra or None, **kw)  # fmt: skip
