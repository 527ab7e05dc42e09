"""Photoshop API ``depthBlur`` on the local server: asynchronous jobs reading and writing by URL.

``POST /pie/psdService/depthBlur`` takes the API's JSON request
(``inputs[0].href``, ``options`` = ``DepthBlurDetails``, ``outputs[]`` with
``href``, ``storage``, ``type``, ``quality``, ``compression``), validates it
(400 ``InputValidationError`` with ``details``), queues a job and answers
202 with ``_links.self.href``, the job's status URL. ``GET
/pie/psdService/status/{jobId}`` returns the job document (``jobId``,
``created``, ``modified``, ``outputs[]`` each with ``input``, ``status``
pending | running | succeeded | failed, ``_links.renditions[]`` and, when
failed, ``errors``).

The job GETs its input from ``href`` and sends each rendition to its output
``href`` (presigned URLs: a PUT; ``azure`` a block-blob PUT, ``dropbox`` a
POST), within the job's time limit as a total deadline, only under the server's ``--allow-href``
prefixes (same scheme, host and port, path under the prefix's path; no
user info; redirects not followed), so the server cannot be used to reach
other hosts. The image is the ``depth`` command's for the same options.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any

import httpx

from depthblur_cli.errors import DepthblurError, UsageError
from depthblur_cli.options import defaults, photoshop

#: Finished jobs kept for their status URL (the oldest are forgotten first).
MAX_JOBS = 1000
#: Storage kinds whose ``href`` is an HTTP(S) URL (presigned).
STORAGES = ("external", "azure", "dropbox")
STORAGE_TYPES = {"jpg": "image/jpeg", "png": "image/png", "tif": "image/tiff"}


class ValidationFailed(Exception):
    """The request does not validate; ``reasons`` in the API's shape."""

    def __init__(self, reasons: list[dict[str, str]]) -> None:
        super().__init__(reasons[0]["message"])
        self.reasons = reasons


def validation_body(error: ValidationFailed) -> dict[str, Any]:
    """The API's ``InputValidationError`` body (status 400): ``type``, ``code`` (a string), ``title``,
    ``details[{name, reason}]`` (Adobe's OpenAPI file, ``InputValidationError`` and ``ErrorDetails``)."""
    details = [{"name": r["dataPath"].lstrip("."), "reason": r["message"]} for r in error.reasons]
    return {"type": "InputValidationError", "code": "400", "title": "request parameters didn't validate",
            "details": details}  # fmt: skip


def _reason(path: str, message: str, keyword: str = "invalid") -> ValidationFailed:
    return ValidationFailed([{"keyword": keyword, "dataPath": path, "message": message}])


def href_allowed(href: str, prefixes: tuple[str, ...]) -> bool:
    """True when ``href`` is an http(s) URL under one of ``prefixes`` (scheme, host, port, path prefix).

    A prefix matches whole path segments only (``/bucket`` allows
    ``/bucket/x.jpg``, never ``/bucket-private/x.jpg`` or ``/bucket.evil/``).
    An href with user info, a percent-encoded dot or path separator
    (``%2e``, ``%2f``, ``%5c``), a backslash, or a ``.``/``..`` segment is
    never allowed, whatever the storage server would make of it.
    """
    try:
        url = httpx.URL(href)
    except Exception:
        return False
    raw = url.raw_path.split(b"?", 1)[0]
    lowered = raw.lower()
    if url.scheme not in ("http", "https") or url.userinfo:  # no credentials in the URL
        return False
    if any(code in lowered for code in (b"%2e", b"%2f", b"%5c")) or b"\\" in raw:
        return False  # left for the storage server to decode: refused
    if any(segment in (b".", b"..") for segment in raw.split(b"/")) or any(
        segment in (".", "..") for segment in href.split("?", 1)[0].split("#", 1)[0].split("/")[3:]
    ):
        return False
    for prefix in prefixes:
        allowed = httpx.URL(prefix)
        if (url.scheme, url.host, url.port) != (allowed.scheme, allowed.host, allowed.port):
            continue
        base = allowed.path if allowed.path.endswith("/") else allowed.path + "/"
        if url.path == allowed.path.rstrip("/") or url.path.startswith(base):
            return True
    return False


def _clamped(v: Any) -> Any:
    """A finite number held to 0..1 (anything else as it is, for the check to refuse)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf"):
        return min(1.0, max(0.0, float(v)))
    return v


def fetch_url(href: str, max_bytes: int, timeout_s: float) -> bytes:
    """GET an allowed URL (checked by the caller with :func:`href_allowed`) within ``timeout_s`` in all.

    Raises:
        DepthblurError: not 200, over ``max_bytes``, past the time, or the transfer failed.
    """
    deadline = time.monotonic() + timeout_s
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client, client.stream("GET", href) as response:
            if response.status_code != 200:
                raise DepthblurError(f"imageUrl answered HTTP {response.status_code}")
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > max_bytes or time.monotonic() > deadline:
                    raise DepthblurError("imageUrl is too large or too slow")
    except httpx.HTTPError as exc:
        raise DepthblurError(f"imageUrl could not be read ({type(exc).__name__})") from None
    return bytes(data)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def validate_request(body: Any, prefixes: tuple[str, ...]) -> tuple[str, dict, list[dict]]:
    """(input href, checked options, outputs with their encoder settings) of a depthBlur request.

    Raises:
        ValidationFailed: a missing or wrong field, an option out of range, an href outside ``prefixes``.
    """
    if not isinstance(body, dict):
        raise _reason("", "the body must be a JSON object", "type")
    inputs, outputs = body.get("inputs"), body.get("outputs")
    if not (isinstance(inputs, list) and len(inputs) == 1 and isinstance(inputs[0], dict)):
        raise _reason(".inputs", "inputs must be an array of one {href, storage}", "required")
    if not (isinstance(outputs, list) and 1 <= len(outputs) <= 25 and all(isinstance(o, dict) for o in outputs)):
        raise _reason(".outputs", "outputs must be an array of 1..25 {href, storage, type}", "required")
    checked_outputs = []
    for where, entry in [(".inputs[0]", inputs[0])] + [(f".outputs[{i}]", o) for i, o in enumerate(outputs)]:
        href, storage = entry.get("href"), entry.get("storage", "external")
        if not isinstance(href, str) or not href:
            raise _reason(f"{where}.href", "href is required", "required")
        if storage not in STORAGES:
            raise _reason(f"{where}.storage", f"storage must be one of {', '.join(STORAGES)}", "enum")
        if not href_allowed(href, prefixes):
            raise _reason(f"{where}.href", "href is not under a prefix this server allows (--allow-href)")
        if where.startswith(".outputs"):
            try:
                settings = photoshop.output_settings(entry, where=where)
            except UsageError as exc:
                raise _reason(where, exc.message) from None
            checked_outputs.append({"href": href, "storage": storage, "settings": settings})
    raw = body.get("options", {})
    if not isinstance(raw, dict):
        raise _reason(".options", "options must be an object (DepthBlurDetails)", "type")
    options = {}
    for key, value in raw.items():
        if key not in photoshop.BY_NAME:
            continue  # the spec allows other properties: ignored, as the service does
        if key == "focalSelector" and isinstance(value, dict) and set(value) == {"x", "y"}:
            value = {axis: _clamped(v) for axis, v in value.items()}  # the spec gives no range: held to the image
        try:
            options[key] = photoshop.check_value(photoshop.BY_NAME[key], value, where="options")
        except UsageError as exc:
            raise _reason(f".options.{key}", exc.message) from None
    return inputs[0]["href"], options, checked_outputs


def depth_options(checked: dict[str, Any]):
    """:class:`~depthblur_cli.pipeline.options.DepthOptions` of checked ``DepthBlurDetails``, else the defaults."""
    from depthblur_cli.pipeline.options import DepthOptions
    from depthblur_cli.render.effects import Effects
    from depthblur_cli.render.highlights import Highlights

    fields = {photoshop.BY_NAME[key].name: value for key, value in checked.items()}
    effect_fields = set(Effects.__dataclass_fields__)
    effects = Effects(**{k: v for k, v in fields.items() if k in effect_fields})
    rest = {k: v for k, v in fields.items() if k not in effect_fields}
    highlights = Highlights.from_amount(defaults.HIGHLIGHTS, defaults.HIGHLIGHT_THRESHOLD)
    return DepthOptions(**rest, highlights=highlights, effects=effects)


class Jobs:
    """The server's depthBlur jobs: their documents, and the work of each.

    A job has ``timeout_s`` from its start (its place in the queue) to its
    last PUT. Past it, its status is ``failed`` (a ``ProcessingError``,
    "took over N s") as soon as anyone asks, and nothing more is PUT: the
    work in hand finishes in its thread (a render cannot be stopped halfway)
    and its result is dropped.
    """

    def __init__(self, models: Any, max_bytes: int, timeout_s: float) -> None:
        self.models = models
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self._docs: OrderedDict[str, dict] = OrderedDict()
        self._deadlines: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(self, href: str, outputs: list[dict], status_url: str) -> str:
        """A new pending job's id; its document is kept for ``GET status``."""
        job_id = uuid.uuid4().hex
        now = _now()
        renditions = [{"href": o["href"], "storage": o["storage"], "type": STORAGE_TYPES[o["settings"].fmt or "jpg"]}
                      for o in outputs]  # fmt: skip
        doc = {"jobId": job_id, "created": now, "modified": now,
               "outputs": [{"input": href, "status": "pending", "created": now, "modified": now,
                            "_links": {"renditions": renditions}}],
               "_links": {"self": {"href": status_url.format(job_id=job_id)}}}  # fmt: skip
        with self._lock:
            self._docs[job_id] = doc
            while len(self._docs) > MAX_JOBS:
                self._docs.popitem(last=False)
        return job_id

    def document(self, job_id: str) -> dict | None:
        """A copy of the job's document, or None when unknown."""
        import copy

        self._expire(job_id)
        with self._lock:
            doc = self._docs.get(job_id)
            return None if doc is None else copy.deepcopy(doc)

    def _expire(self, job_id: str) -> bool:
        """Fail a running job past its time limit; True when it is (now or before) timed out."""
        with self._lock:
            deadline = self._deadlines.get(job_id)
            if deadline is None or time.monotonic() <= deadline:
                return False
            doc = self._docs.get(job_id)
            if doc is not None and doc["outputs"][0]["status"] == "running":
                now = _now()
                doc["modified"] = doc["outputs"][0]["modified"] = now
                doc["outputs"][0]["status"] = "failed"
                doc["outputs"][0]["errors"] = {
                    "type": "ProcessingError", "title": f"the job took over {self.timeout_s:g} s", "code": 500,
                }  # fmt: skip
            return True

    def _status(self, job_id: str, status: str, errors: dict | None = None) -> None:
        with self._lock:
            doc = self._docs.get(job_id)
            if doc is None or doc["outputs"][0]["status"] == "failed":  # a timed-out job stays failed
                return
            now = _now()
            doc["modified"] = doc["outputs"][0]["modified"] = now
            doc["outputs"][0]["status"] = status
            if errors is not None:
                doc["outputs"][0]["errors"] = errors

    def _left(self, job_id: str) -> float:
        """Seconds left of the job's time limit (a total deadline for every GET and PUT); raises past it."""
        left = self._deadlines.get(job_id, time.monotonic() + self.timeout_s) - time.monotonic()
        if left <= 0:
            raise DepthblurError(f"the job took over {self.timeout_s:g} s")
        return left

    def _fetch(self, client: httpx.Client, href: str, job_id: str) -> bytes:
        with client.stream("GET", href, timeout=self._left(job_id)) as response:
            if response.status_code != 200:
                raise DepthblurError(f"the input href answered HTTP {response.status_code}")
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                self._left(job_id)  # a server dripping bytes is cut off at the deadline, not per read
                if len(data) > self.max_bytes:
                    raise DepthblurError(f"the input is over {self.max_bytes / 1e6:g} MB")
        return bytes(data)

    def _upload(self, client: httpx.Client, storage: str, href: str, data: bytes, fmt: str, job_id: str) -> None:
        """Send one rendition as its storage takes it: Azure a block-blob PUT, Dropbox a POST, else a PUT."""
        headers = {"Content-Type": STORAGE_TYPES[fmt]}
        method = "PUT"
        if storage == "azure":
            headers["x-ms-blob-type"] = "BlockBlob"
        elif storage == "dropbox":
            method, headers["Content-Type"] = "POST", "application/octet-stream"
        sent = client.request(method, href, content=data, headers=headers, timeout=self._left(job_id))
        if sent.status_code >= 300:
            raise DepthblurError(f"the output href answered HTTP {sent.status_code}")

    def run(self, job_id: str, href: str, checked: dict[str, Any], outputs: list[dict]) -> None:
        """Fetch, render and PUT one job; its document says how it went (never raises)."""
        from depthblur_cli.imaging import codec
        from depthblur_cli.pipeline.photo import depth_blur
        from depthblur_cli.pipeline.records import Record

        with self._lock:
            self._deadlines[job_id] = time.monotonic() + self.timeout_s
            while len(self._deadlines) > MAX_JOBS:
                self._deadlines.pop(next(iter(self._deadlines)))
        self._status(job_id, "running")
        stage = "InputFileError"
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
                image = codec.load_image("input", data=self._fetch(client, href, job_id))
                stage = "ProcessingError"
                rendered = depth_blur(
                    image, depth_options(checked), self.models, Record(input=href), keep_depth=False, keep_matte=False
                )
                stage = "OutputFileError"
                for out in outputs:
                    if self._expire(job_id):
                        return
                    s = out["settings"]
                    fmt = s.fmt or "jpg"
                    data = codec.encode_image(rendered.rgb, None if fmt == "jpg" else rendered.alpha, fmt,
                                              quality=s.quality or defaults.QUALITY, icc_profile=image.icc_profile,
                                              exif=image.exif, png_compression=s.png_compression or "fast")  # fmt: skip
                    self._upload(client, out["storage"], out["href"], data, fmt, job_id)
        except (DepthblurError, httpx.HTTPError) as exc:
            message = exc.message if isinstance(exc, DepthblurError) else f"HTTP transfer failed ({type(exc).__name__})"
            code = 500 if stage == "ProcessingError" else 400
            self._status(job_id, "failed", {"type": stage, "title": message, "code": code})
            return
        except Exception:  # logged by the server, never shown with a traceback
            import logging

            logging.getLogger("depthblur.serve").exception("depthBlur job %s failed", job_id)
            self._status(job_id, "failed", {"type": "ProcessingError", "title": "internal error", "code": 500})
            return
        with self._lock:
            self._deadlines.pop(job_id, None)  # every PUT began in time: done
        self._status(job_id, "succeeded")
