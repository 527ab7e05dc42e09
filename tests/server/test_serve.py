"""`depthblur serve`: the real server on 127.0.0.1, spoken to over HTTP.

Each endpoint gives the command's image for the same request, and every
refusal has the API's error shape and status.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import numpy as np
import pytest
import uvicorn
from helpers import EXAMPLES, cli
from PIL import Image

from depthblur_cli.server.app import ServerSettings, create_app

PHOTO = EXAMPLES / "chelsea.png"


@contextmanager
def running(settings: ServerSettings) -> Iterator[tuple[str, object]]:
    """The server on a free port of 127.0.0.1: (base URL, the app)."""
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    assert server.started, "the server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running(ServerSettings(allow_download=False)) as (url, _):
        yield url


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def fapihub_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and len(error["request_id"]) == 32
    assert "Traceback" not in response.text and "/work" not in response.text and str(EXAMPLES) not in response.text


def photoroom_error(response: httpx.Response, status: int) -> None:
    """Photoroom's /v2/edit error shape (its OpenAPI file): {"error": {"message"}}, nothing else."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message"} and body["error"]["message"]


def test_health(base):
    body = httpx.get(f"{base}/health").json()
    assert body["status"] == "ok" and body["pending"] == 0 and body["max_pending"] == 16


def test_fapihub_rembg_blur_gives_the_commands_image(base, tmp_path):
    response = httpx.post(f"{base}/v2/rembg/blur/", files={"image": PHOTO.read_bytes()}, data={"radius": "20"},
                          timeout=60)  # fmt: skip
    assert response.status_code == 200 and response.headers["content-type"] == "image/png", response.text
    assert response.content.startswith(b"\x89PNG")
    cli("rembg-blur", PHOTO, "--radius", "20", "-o", tmp_path / "cli.png", "--offline")
    np.testing.assert_array_equal(pixels(response.content), pixels((tmp_path / "cli.png").read_bytes()))


def test_a_users_mask_steers_the_subject_on_both_upload_endpoints(base, tmp_path):
    """Issue 26: ``--mask`` in the server too (an extension field ``mask``): the same image as the command's."""
    photo = pixels(PHOTO.read_bytes())
    h, w = photo.shape[:2]
    mask = np.zeros((h // 2, w // 2), np.uint8)  # any size: resized to the photo
    mask[:, : w // 4] = 255  # the left half is the subject
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, "PNG")
    (tmp_path / "mask.png").write_bytes(buffer.getvalue())
    files = {"image": PHOTO.read_bytes(), "mask": buffer.getvalue()}
    response = httpx.post(f"{base}/v2/rembg/blur/", files=files, data={"radius": "20"}, timeout=60)
    assert response.status_code == 200, response.text
    cli("rembg-blur", PHOTO, "--radius", "20", "--mask", tmp_path / "mask.png", "-o", tmp_path / "cli.png", "--offline")
    got = pixels(response.content)
    np.testing.assert_array_equal(got, pixels((tmp_path / "cli.png").read_bytes()))
    assert np.array_equal(got[:, : w // 2 - 8], photo[:, : w // 2 - 8])  # the mask's subject untouched
    assert np.abs(got[:, w // 2 + 30 :].astype(int) - photo[:, w // 2 + 30 :]).mean() > 3  # the rest blurred
    files = {"imageFile": PHOTO.read_bytes(), "mask": buffer.getvalue()}
    edit = httpx.post(f"{base}/v2/edit", files=files, data={"background.blur.mode": "gaussian"}, timeout=60)
    assert edit.status_code == 200, edit.text
    shown = pixels(edit.content)
    assert np.abs(shown[:, : w // 2 - 8].astype(int) - photo[:, : w // 2 - 8]).max() <= 1
    assert np.abs(shown[:, w // 2 + 30 :].astype(int) - photo[:, w // 2 + 30 :]).mean() > 3
    fapihub_error(
        httpx.post(f"{base}/v2/rembg/blur/", files={"image": PHOTO.read_bytes(), "mask": b"no image"},
                   data={"radius": "20"}, timeout=60), 400, "invalid_image",
    )  # fmt: skip
    not_a_file = httpx.post(f"{base}/v2/rembg/blur/", files={"image": PHOTO.read_bytes()},
                            data={"radius": "20", "mask": "left half"}, timeout=60)  # fmt: skip
    fapihub_error(not_a_file, 400, "invalid_image")
    assert "'mask' must be an image file" in not_a_file.json()["error"]["message"]


@pytest.mark.parametrize(
    ("data", "files", "code"),
    [
        ({}, True, "invalid_radius"),
        ({"radius": "51"}, True, "invalid_radius"),
        ({"radius": "0"}, True, "invalid_radius"),
        ({"radius": "ten"}, True, "invalid_radius"),
        ({"radius": "2.5"}, True, "invalid_radius"),
        ({"radius": "10"}, False, "invalid_image"),
    ],
)
def test_fapihub_bad_fields_are_400_in_its_error_shape(base, data, files, code):
    sent = {"image": PHOTO.read_bytes()} if files else None
    fapihub_error(httpx.post(f"{base}/v2/rembg/blur/", data=data, files=sent), 400, code)


@pytest.mark.parametrize("content", [b"", b"not an image at all", PHOTO.read_bytes()[:2000]])
def test_fapihub_a_bad_image_is_400_invalid_image(base, content):
    response = httpx.post(f"{base}/v2/rembg/blur/", files={"image": ("x.png", content)}, data={"radius": "5"})
    fapihub_error(response, 400, "invalid_image")


def test_photoroom_edit_gives_the_commands_image(base, tmp_path):
    fields = {"background.blur.mode": "bokeh", "background.blur.radius": "0.02", "removeBackground": "false"}
    response = httpx.post(f"{base}/v2/edit", files={"imageFile": PHOTO.read_bytes()}, data=fields, timeout=60)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png", response.text
    cli("bokeh", PHOTO, "--radius", "0.02", "-o", tmp_path / "cli.png", "--offline")
    np.testing.assert_array_equal(pixels(response.content), pixels((tmp_path / "cli.png").read_bytes()))

    fields = {"background.blur.mode": "gaussian", "export.format": "jpeg"}
    response = httpx.post(f"{base}/v2/edit", files={"imageFile": PHOTO.read_bytes()}, data=fields, timeout=60)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content.startswith(b"\xff\xd8")


@pytest.mark.parametrize(
    "fields",
    [
        {"background.blur.mode": "lens"},
        {"background.blur.mode": "bokeh", "background.blur.radius": "0.06"},
        {"background.blur.mode": "bokeh", "background.blur.radius": "0"},
        {"background.blur.mode": "bokeh", "background.blur.radius": "nan"},
        {"background.blur.mode": "bokeh", "removeBackground": "true"},
        {"background.blur.mode": "bokeh", "export.format": "gif"},
    ],
)
def test_photoroom_bad_fields_are_400(base, fields):
    photoroom_error(httpx.post(f"{base}/v2/edit", files={"imageFile": PHOTO.read_bytes()}, data=fields), 400)


def test_api_keys_are_checked_on_every_endpoint():
    with running(ServerSettings(api_keys=("k1", "k2"))) as (url, _):
        sent = {"files": {"image": PHOTO.read_bytes()}, "data": {"radius": "5"}, "timeout": 60}
        fapihub_error(httpx.post(f"{url}/v2/rembg/blur/", **sent), 401, "invalid_api_key")
        fapihub_error(httpx.post(f"{url}/v2/rembg/blur/", headers={"ApiKey": "k3"}, **sent), 401, "invalid_api_key")
        assert httpx.post(f"{url}/v2/rembg/blur/", headers={"ApiKey": "k2"}, **sent).status_code == 200
        fields = {"background.blur.mode": "gaussian"}
        edit = {"files": {"imageFile": PHOTO.read_bytes()}, "data": fields, "timeout": 60}
        refused = httpx.post(f"{url}/v2/edit", headers={"x-api-key": "nope"}, **edit)
        photoroom_error(refused, 403)  # Photoroom: 403 {"error": {"message": "Unauthorized"}}
        assert refused.json()["error"]["message"] == "Unauthorized"
        assert httpx.post(f"{url}/v2/edit", headers={"x-api-key": "k1"}, **edit).status_code == 200
        assert httpx.post(f"{url}/v2/edit", headers={"x-api-key": "sandbox_k1"}, **edit).status_code == 200
        # The key first: a request without one is refused in its API's shape, with a request id, before its
        # body is read (an upload over the limit is 401, not 413; a GET by URL fetches nothing).
        huge = httpx.post(f"{url}/v2/rembg/blur/", files={"image": b"x" * (60 << 20)}, data={"radius": "5"}, timeout=60)
        fapihub_error(huge, 401, "invalid_api_key")
        assert huge.headers["x-request-id"]
        photoroom_error(httpx.get(f"{url}/v2/edit", params={"imageUrl": "http://127.0.0.1:9/x.png"}), 403)


def test_an_upload_over_the_limit_is_413():
    with running(ServerSettings(max_upload_mb=0.05)) as (url, _):
        big = PHOTO.read_bytes()
        assert len(big) > 50_000
        response = httpx.post(f"{url}/v2/rembg/blur/", files={"image": big}, data={"radius": "5"})
        fapihub_error(response, 413, "file_too_large")


def _chunked(body: bytes, size: int = 16_384) -> Iterator[bytes]:
    """``body`` in pieces: httpx sends an iterator without Content-Length, as Transfer-Encoding: chunked."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_upload_is_cut_off_at_the_limit():
    """No Content-Length to refuse up front: the body is counted as it arrives."""
    with running(ServerSettings(max_upload_mb=0.05)) as (url, _):
        fields = [("radius", (None, b"5")), ("image", ("x.png", PHOTO.read_bytes() * 20, "image/png"))]
        request = httpx.Request("POST", f"{url}/v2/rembg/blur/", files=fields)
        body = request.read()
        assert len(body) > 4_000_000
        headers = {"content-type": request.headers["content-type"]}
        response = httpx.post(f"{url}/v2/rembg/blur/", content=_chunked(body), headers=headers)
        assert "content-length" not in response.request.headers
        fapihub_error(response, 413, "file_too_large")
        huge = b'{"inputs": [' + b" " * 2_000_000 + b"]}"
        response = httpx.post(f"{url}/pie/psdService/depthBlur", content=_chunked(huge))
        assert response.status_code == 413 and response.json()["type"] == "PayloadTooLarge", response.text


def test_a_full_queue_is_429_and_frees_its_places(base):
    with running(ServerSettings(max_pending=1)) as (url, app):
        app.state.queue.enter()  # the only place, taken
        response = httpx.post(f"{url}/v2/rembg/blur/", files={"image": PHOTO.read_bytes()}, data={"radius": "5"})
        fapihub_error(response, 429, "rate_limit_exceeded")
        assert int(response.headers["Retry-After"]) > 0  # Adobe's docs tell clients to honour it
        app.state.queue.run(lambda: None)  # released
        ok = httpx.post(f"{url}/v2/rembg/blur/", files={"image": PHOTO.read_bytes()}, data={"radius": "5"}, timeout=60)
        assert ok.status_code == 200 and app.state.queue.pending == 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_serve_command_answers_and_stops_on_sigterm(workers):
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "depthblur_cli", "serve", "--port", str(port), "--offline",
                             "--workers", workers],
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline, body = time.time() + 60, None
        while body is None and time.time() < deadline and proc.poll() is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/health").json()
            except httpx.TransportError:
                time.sleep(0.1)
        assert body is not None and body["status"] == "ok", proc.stderr.read().decode() if proc.stderr else ""
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["paths"].keys() >= {"/v2/edit", "/health"}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    # uvicorn finishes the requests in flight; one process then re-raises SIGTERM (the shell sees 143, as
    # for a batch), the supervisor of several exits 0 once its workers have stopped
    assert proc.returncode == (-signal.SIGTERM if workers == "1" else 0), err.decode()
    assert b"Traceback" not in err
    log = err.decode()
    assert f"http://127.0.0.1:{port}/" in log and "POST /v2/edit" not in log.splitlines()[-1]  # the startup line
    from depthblur_cli.models import sessions

    picked = sessions.matte_model_for(sessions.providers_for("auto")[0][0])[0]
    assert f"matte model {picked};" in log  # the model -m auto picked here, named
    assert "GET /health 200" in log and "depthblur serve: stopped" in log  # an access line; the shutdown line


def test_slow_headers_and_too_many_connections_are_closed(monkeypatch):
    """Slowloris: a connection that never finishes its headers is closed, and connections past the cap
    are closed at once; /health keeps answering."""
    import socket

    from depthblur_cli.server import protocol

    monkeypatch.setattr(protocol, "HEADER_TIMEOUT_S", 0.5)
    monkeypatch.setattr(protocol, "MAX_CONNECTIONS", 4)
    app = create_app(ServerSettings(allow_download=False))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", http=protocol.GuardedH11Protocol)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]
        for s in slow:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never the blank line
            s.settimeout(5)

        def closed(s: socket.socket) -> bool:
            try:
                return s.recv(10) == b""
            except ConnectionResetError:  # closed with our request unread: a reset, as good
                return True

        assert closed(slow[-1])  # past the cap: closed at once
        time.sleep(1.0)
        assert all(closed(s) for s in slow[:4])  # past the header deadline: closed
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "ok"
    finally:
        for s in slow:
            s.close()
        server.should_exit = True
        thread.join(timeout=30)


# --------------------------------------------------------------------------- #
# Photoshop depthBlur: the job flow against a local storage server
# --------------------------------------------------------------------------- #


@contextmanager
def storage(delay: float = 0.0) -> Iterator[tuple[str, dict[str, bytes]]]:
    """A local HTTP server: GET /in/NAME serves the example photo NAME (after ``delay`` seconds),
    PUT /out/NAME is kept in the dict."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(delay)
            path = EXAMPLES / self.path.removeprefix("/in/")
            if not self.path.startswith("/in/") or not path.is_file():
                self.send_response(404)
                self.end_headers()
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self):
            received[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
            received[f"PUT {self.path} x-ms-blob-type"] = (self.headers.get("x-ms-blob-type") or "").encode()
            self.send_response(201)
            self.end_headers()

        def do_POST(self):  # a Dropbox upload link takes POST
            received[f"POST {self.path}"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", received
    finally:
        httpd.shutdown()


def wait_for(url: str, **kw) -> dict:
    deadline = time.time() + 120
    while time.time() < deadline:
        doc = httpx.get(url, **kw).json()
        if doc["outputs"][0]["status"] in ("succeeded", "failed"):
            return doc
        time.sleep(0.1)
    raise AssertionError("the job did not finish")


def test_depth_blur_job_reads_by_href_puts_the_commands_image_and_reports_its_status(tmp_path):
    with storage() as (store, received), running(ServerSettings(allow_href=(f"{store}/",))) as (url, _):
        request = {
            "inputs": [{"href": f"{store}/in/chelsea.png", "storage": "external"}],
            "options": {"focusSubject": True, "blurStrength": 60, "haze": 10},
            "outputs": [{"href": f"{store}/out/a.png", "storage": "external", "type": "image/png"},
                        {"href": f"{store}/out/b.jpg", "storage": "external", "type": "image/jpeg", "quality": 7}],
        }  # fmt: skip
        response = httpx.post(f"{url}/pie/psdService/depthBlur", json=request)
        assert response.status_code == 202, response.text
        status = response.json()["_links"]["self"]["href"]
        assert status.startswith(f"{url}/pie/psdService/status/")
        doc = wait_for(status)
        out = doc["outputs"][0]
        assert out["status"] == "succeeded" and out["input"] == f"{store}/in/chelsea.png", doc
        assert [r["href"] for r in out["_links"]["renditions"]] == [f"{store}/out/a.png", f"{store}/out/b.jpg"]
        assert doc["jobId"] in status and doc["created"] <= doc["modified"]
    cli("depth", EXAMPLES / "chelsea.png", "--focus-subject", "--blur-strength", "60", "--haze", "10",
        "-o", tmp_path / "cli.png", "--offline")  # fmt: skip
    np.testing.assert_array_equal(pixels(received["/out/a.png"]), pixels((tmp_path / "cli.png").read_bytes()))
    assert received["/out/b.jpg"].startswith(b"\xff\xd8")


def _request(store: str, **change) -> dict:
    request = {
        "inputs": [{"href": f"{store}/in/chelsea.png", "storage": "external"}],
        "options": {},
        "outputs": [{"href": f"{store}/out/a.png", "storage": "external", "type": "image/png"}],
    }
    request.update(change)
    return request


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"options": {"blurStrength": 101}}, ".options.blurStrength"),
        ({"options": {"haze": "10"}}, ".options.haze"),
        ({"options": {"focalSelector": {"x": "2", "y": 0}}}, ".options.focalSelector"),
        ({"inputs": []}, ".inputs"),
        ({"outputs": [{"href": "http://127.0.0.1:1/out/x.png", "type": "image/png"}]}, ".outputs[0].href"),
        ({"inputs": [{"href": "http://example.com/in/chelsea.png"}]}, ".inputs[0].href"),
        ({"inputs": [{"href": "file:///etc/passwd"}]}, ".inputs[0].href"),
        ({"outputs": [{"href": "STORE/out/a.gif", "type": "image/gif"}]}, ".outputs[0]"),
    ],
)
def test_depth_blur_requests_that_do_not_validate_are_400_input_validation_error(change, path):
    with storage() as (store, received), running(ServerSettings(allow_href=(f"{store}/",))) as (url, _):
        for entry in change.get("outputs", []) + change.get("inputs", []):
            entry["href"] = entry["href"].replace("STORE", store)
        response = httpx.post(f"{url}/pie/psdService/depthBlur", json=_request(store, **change))
        assert response.status_code == 400, response.text
        body = response.json()
        # Adobe's InputValidationError: code a string, details[{name, reason}]
        assert body["type"] == "InputValidationError" and body["code"] == "400"
        assert body["details"][0]["name"] == path.lstrip(".") and body["details"][0]["reason"]
        assert not received


def test_depth_blur_with_no_allowed_prefix_refuses_every_href_and_a_missing_input_fails_the_job():
    with storage() as (store, received):
        with running(ServerSettings()) as (url, _):
            response = httpx.post(f"{url}/pie/psdService/depthBlur", json=_request(store))
            assert response.status_code == 400 and response.json()["details"][0]["name"] == "inputs[0].href"
        with running(ServerSettings(allow_href=(f"{store}/",))) as (url, _):
            missing = _request(store, inputs=[{"href": f"{store}/in/nothing.png", "storage": "external"}])
            status = httpx.post(f"{url}/pie/psdService/depthBlur", json=missing).json()["_links"]["self"]["href"]
            out = wait_for(status)["outputs"][0]
            assert out["status"] == "failed" and out["errors"]["type"] == "InputFileError"
            assert "404" in out["errors"]["title"] and not received
            assert httpx.get(f"{url}/pie/psdService/status/unknown").status_code == 404


@pytest.mark.parametrize(
    ("href", "allowed"),
    [
        ("http://127.0.0.1:5/bucket/a.png?sig=1", True),
        ("http://127.0.0.1:5/bucket/../x.png", False),
        ("http://127.0.0.1:5/bucket/%2e%2e/x.png", False),
        ("http://127.0.0.1:5/bucket/%2E%2E/x.png", False),
        ("http://u:p@127.0.0.1:5/bucket/a.png", False),
        ("http://127.0.0.1:6/bucket/a.png", False),
        ("https://127.0.0.1:5/bucket/a.png", False),
        ("http://127.0.0.1:5/bucketx/a.png", False),
        ("http://127.0.0.1:5@evil.example/bucket/a.png", False),
        ("ftp://127.0.0.1:5/bucket/a.png", False),
        ("not a url", False),
    ],
)
def test_only_hrefs_under_an_allowed_prefix_are_allowed(href, allowed):
    from depthblur_cli.server.depth_jobs import href_allowed

    assert href_allowed(href, ("http://127.0.0.1:5/bucket/",)) is allowed


def test_a_depth_blur_job_over_its_time_limit_fails_and_puts_nothing(monkeypatch):
    from depthblur_cli.pipeline import photo as pipeline

    render = pipeline.depth_blur

    def slow_render(*args, **kwargs):
        time.sleep(1.0)  # a render longer than the limit, whatever this machine's speed
        return render(*args, **kwargs)

    monkeypatch.setattr(pipeline, "depth_blur", slow_render)
    with storage() as (store, received), running(ServerSettings(allow_href=(f"{store}/",), timeout_s=0.3)) as (url, _):
        status = httpx.post(f"{url}/pie/psdService/depthBlur", json=_request(store)).json()["_links"]["self"]["href"]
        out = wait_for(status)["outputs"][0]
        assert out["status"] == "failed" and out["errors"]["type"] == "ProcessingError", out
        assert "took over 0.3 s" in out["errors"]["title"]
        time.sleep(3)  # the render in hand finishes in its thread: its result is dropped
        assert not received
        assert httpx.get(status).json()["outputs"][0]["status"] == "failed"


# ---------------------------------------------------------------------------
# The specs' edges (issue 24): Photoroom's /v2/edit and Adobe's depthBlur as their OpenAPI files say


def _edit(url: str, fields: dict, **kw) -> httpx.Response:
    return httpx.post(f"{url}/v2/edit", files={"imageFile": PHOTO.read_bytes()}, data=fields, timeout=60, **kw)


def test_photoroom_plain_request_is_a_cutout_with_an_uncertainty_score(base):
    """removeBackground defaults to true: the request every Photoroom client sends gives the subject alone."""
    response = _edit(base, {})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png", response.text
    assert 0.0 <= float(response.headers["x-uncertainty-score"]) <= 1.0
    with Image.open(io.BytesIO(response.content)) as im:
        rgba = np.asarray(im.convert("RGBA"))
    assert rgba[..., 3][:10, :10].max() == 0 and rgba[..., 3][150, 225] == 255  # backdrop gone, the cat kept


def test_photoroom_background_colour_output_size_padding_formats_and_dpi(base):
    red = _edit(base, {"background.color": "FF0000", "export.format": "jpeg"})
    assert red.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(red.content)) as im:
        corner = np.asarray(im.convert("RGB"))[:8, :8].reshape(-1, 3).mean(axis=0)
    assert corner[0] > 230 and corner[1] < 30 and corner[2] < 30
    fitted = _edit(base, {"outputSize": "200x100", "padding": "0.1", "export.format": "webp"})
    with Image.open(io.BytesIO(fitted.content)) as im:
        assert im.format == "WEBP" and im.size == (200, 100)
    cropped = _edit(base, {"outputSize": "croppedSubject"})
    with Image.open(io.BytesIO(cropped.content)) as im:
        assert im.size[0] < 451 and im.size[1] <= 300 and np.asarray(im.convert("RGBA"))[..., 3].max() == 255
    dense = _edit(base, {"background.blur.mode": "gaussian", "removeBackground": "false", "export.dpi": "300"})
    with Image.open(io.BytesIO(dense.content)) as im:
        assert im.format == "PNG" and round(im.info["dpi"][0]) == 300 and im.size == (451, 300)
    avif = _edit(base, {"background.blur.mode": "bokeh", "export.format": "avif"})
    with Image.open(io.BytesIO(avif.content)) as im:
        assert avif.headers["content-type"] == "image/avif" and im.format == "AVIF" and im.size == (451, 300)


@pytest.mark.parametrize("name", ["shadow.mode", "background.prompt", "templateId", "margin"])
def test_photoroom_parameters_this_server_does_not_do_are_400_naming_them(base, name):
    response = _edit(base, {name: "1"})
    photoroom_error(response, 400)
    assert name in response.json()["error"]["message"] and "not supported" in response.json()["error"]["message"]


def test_photoroom_get_reads_image_url_only_under_allow_href():
    with storage() as (store, _), running(ServerSettings(allow_href=(f"{store}/in",))) as (url, _):
        ok = httpx.get(f"{url}/v2/edit", params={"imageUrl": f"{store}/in/chelsea.png",
                                                 "background.blur.mode": "bokeh"}, timeout=60)  # fmt: skip
        assert ok.status_code == 200 and pixels(ok.content).shape == (300, 451, 3), ok.text
        outside = httpx.get(f"{url}/v2/edit", params={"imageUrl": f"{store}/out/x.png"}, timeout=60)
        photoroom_error(outside, 400)


def test_adobe_errors_credentials_and_spec_valid_requests():
    with (
        storage() as (store, received),
        running(ServerSettings(api_keys=("k",), allow_href=(f"{store}/",))) as (
            url,
            _,
        ),
    ):
        refused = httpx.post(f"{url}/pie/psdService/depthBlur", json=_request(store), headers={"x-api-key": "no"})
        assert refused.status_code == 403  # the spec's Forbidden, a JobError with a string code
        body = refused.json()
        assert body["code"] == "403" and body["type"] and body["title"]
        request = _request(store, options={"focalSelector": {"x": 1.5, "y": -0.2}, "futureOption": 3})
        request["outputs"] = [
            {"href": f"{store}/out/q.jpg", "storage": "azure", "type": "image/jpeg", "quality": 12},
            {"href": f"{store}/out/d.png", "storage": "dropbox", "type": "image/png"},
        ]
        accepted = httpx.post(f"{url}/pie/psdService/depthBlur", json=request, headers={"x-api-key": "k"})
        assert accepted.status_code == 202, accepted.text  # quality 12, an unknown option, a point outside 0..1
        doc = wait_for(accepted.json()["_links"]["self"]["href"], headers={"x-api-key": "k"})
        assert doc["outputs"][0]["status"] == "succeeded", doc
    assert received["/out/q.jpg"].startswith(b"\xff\xd8") and received["PUT /out/q.jpg x-ms-blob-type"] == b"BlockBlob"
    assert received["POST /out/d.png"].startswith(b"\x89PNG")


def test_our_openapi_document_is_valid_and_complete_and_docs_work_offline(base):
    """openapi-spec-validator passes it; each operation documents its body or parameters, its key and
    its error statuses; /docs loads Swagger UI from this server, not a CDN."""
    from openapi_spec_validator import validate

    spec = httpx.get(f"{base}/openapi.json").json()
    validate(spec)
    ops = {(path, method): op for path, item in spec["paths"].items() for method, op in item.items()}
    edit = ops[("/v2/edit", "post")]
    fields = edit["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"imageFile", "removeBackground", "background.blur.mode", "export.format"} <= set(fields)
    assert {"400", "403", "429"} <= set(edit["responses"]) and edit["security"] == [{"XApiKey": []}]
    assert "Retry-After" in edit["responses"]["429"]["headers"]
    assert ops[("/pie/psdService/status/{jobId}", "get")]["parameters"][0]["name"] == "jobId"
    assert set(spec["components"]["securitySchemes"]) == {"ApiKey", "XApiKey"}
    page = httpx.get(f"{base}/docs").text
    assert "swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    script = next(part.split('"')[0] for part in page.split('src="')[1:] if "swagger-ui-bundle.js" in part)
    assert httpx.get(script if script.startswith("http") else f"{base}{script}").status_code == 200


def test_sigterm_finishes_an_accepted_depth_blur_job_before_exiting(tmp_path):
    """A job answered 202 is done (its output PUT) before the server exits on SIGTERM."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with storage(delay=1.5) as (store, received):  # the job is running when SIGTERM comes
        _depth_blur_then_sigterm(store, port)
    assert received.get("/out/a.png", b"").startswith(b"\x89PNG"), "the accepted job's output was never PUT"


def _depth_blur_then_sigterm(store: str, port: int) -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "depthblur_cli", "serve", "--port", str(port), "--offline",
                             "--allow-href", f"{store}/"], stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        response = httpx.post(f"http://127.0.0.1:{port}/pie/psdService/depthBlur", json=_request(store))
        assert response.status_code == 202, response.text
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
