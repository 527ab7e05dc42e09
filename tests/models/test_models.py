"""Tests for depthblur_cli.models: catalog, store (download/resume/verify), sessions.

Downloads are served by a local HTTP server on 127.0.0.1 with Range support;
an autouse fixture makes any other URL fail, so no test can reach the network.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import shutil
import socket
import threading
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from depthblur_cli.errors import ModelError
from depthblur_cli.models import catalog, sessions, store
from depthblur_cli.models.catalog import (
    DEFAULT_DEPTH_MODEL,
    DEFAULT_MATTE_MODEL,
    ModelSpec,
    get_spec,
    load_catalog,
)

PAYLOAD = bytes(range(256)) * (10 * 1024 + 7)  # ~2.5 MiB: several 1 MiB chunks
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _local_only(monkeypatch, tmp_path):
    """Cache in tmp_path and refuse every URL that is not on 127.0.0.1."""
    monkeypatch.setenv("DEPTHBLUR_HOME", str(tmp_path / "home"))
    real = urllib.request.urlopen

    def guarded(req, *args, **kwargs):
        url = req.full_url if isinstance(req, urllib.request.Request) else str(req)
        host = urllib.parse.urlsplit(url).hostname
        assert host == "127.0.0.1", f"test tried to reach {url}"
        return real(req, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, handler):
        super().__init__(addr, handler)
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []  # {"path", "range"}
        self.honour_range = True


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves server.files; supports ``Range: bytes=N-`` / ``bytes=N-M``."""

    timeout = 5  # seconds per socket operation: bounds every connection

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        srv: _Server = self.server  # type: ignore[assignment]
        rng = self.headers.get("Range")
        srv.requests.append({"path": self.path, "range": rng})
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start, end = 0, len(data) - 1
        status = 200
        if rng and srv.honour_range:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if not m or int(m.group(1)) >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(m.group(1))
            end = min(int(m.group(2)), end) if m.group(2) else end
            status = 206
        body = data[start : end + 1]
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = _Server(("127.0.0.1", 0), _RangeHandler)
    srv.timeout = 5
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.files["/model.onnx"] = PAYLOAD
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def _spec(server=None, **overrides) -> ModelSpec:
    base = ModelSpec(
        name="tiny",
        task="depth",
        filename="tiny.onnx",
        url=None if server is None else server.base + "/model.onnx",
        sha256=PAYLOAD_SHA,
        size=len(PAYLOAD),
        license="MIT",
        bundled=False,
        input_size=518,
        resize="shorter_side",
        multiple=14,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        interpolation="bicubic",
        description="test payload",
    )
    return replace(base, **overrides)


def _closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/model.onnx"


def _tiny_onnx(path: Path, dynamic: bool = True) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    dims = [1, 3, "height", "width"] if dynamic else [1, 3, 8, 8]
    x = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("predicted_depth", TensorProto.FLOAT, dims)
    graph = helper.make_graph([helper.make_node("Relu", ["pixel_values"], ["predicted_depth"])], "tiny", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


# --------------------------------------------------------------------------- catalog


def test_catalog_has_all_entries_with_valid_hashes():
    cat = load_catalog()
    assert list(cat) == [
        "u2netp",
        "u2netp-int8",
        "u2net",
        "isnet-general-use",
        "fastdepth",
        "depth-anything-v2-small",
        "depth-anything-v2-small-q8",
        "midas-v21-small",
    ]
    for spec in cat.values():
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), spec.name
        assert spec.task in ("matte", "depth")
        assert spec.bundled == (spec.url is None)
        assert spec.url is None or spec.url.startswith("https://")
    assert DEFAULT_MATTE_MODEL == "auto"  # u2netp-int8 or u2netp, both bundled
    assert all(cat[name].bundled and cat[name].task == "matte" for name in ("u2netp", "u2netp-int8"))
    assert cat[DEFAULT_DEPTH_MODEL].task == "depth"
    da = cat["depth-anything-v2-small"]
    assert (da.resize, da.input_size, da.multiple, da.interpolation) == ("shorter_side", 518, 14, "bicubic")
    assert cat["depth-anything-v2-small-q8"].size is None
    assert cat["midas-v21-small"].mean == (0.0, 0.0, 0.0) and cat["midas-v21-small"].std == (1.0, 1.0, 1.0)
    assert cat["isnet-general-use"].input_size == 1024 and cat["isnet-general-use"].std == (1.0, 1.0, 1.0)
    assert load_catalog() is not load_catalog()  # callers cannot corrupt the cache


def test_get_spec_unknown_lists_names():
    with pytest.raises(ModelError, match=r"unknown model 'nope'.*u2netp.*midas-v21-small"):
        get_spec("nope")


def test_bundled_u2netp_present_and_hash_matches():
    spec = get_spec("u2netp")
    path = store.find_model(spec)
    assert path is not None and path.parent == store.bundled_dir()
    assert path.stat().st_size == spec.size == 4574861
    assert store.sha256_file(path) == spec.sha256
    assert (store.bundled_dir() / "catalog.json").is_file()
    assert store.ensure_model(spec, allow_download=False) == path


def test_bundled_dir_installed_namespace_package(monkeypatch, tmp_path):
    # In a wheel install model_files is a namespace package: files() gives a MultiplexedPath.
    import importlib.resources
    from importlib.resources.readers import MultiplexedPath

    (tmp_path / "catalog.json").write_text("{}")
    monkeypatch.setattr(importlib.resources, "files", lambda package: MultiplexedPath(tmp_path))
    assert store.bundled_dir() == tmp_path


def test_bundled_dir_editable_fallback(monkeypatch):
    import importlib.resources

    import depthblur_cli

    def missing(package):
        raise ModuleNotFoundError(package)

    monkeypatch.setattr(importlib.resources, "files", missing)
    assert store.bundled_dir() == Path(depthblur_cli.__file__).resolve().parent.parent / "models"


def test_cache_dir_env_and_default(monkeypatch, tmp_path):
    assert store.cache_dir() == tmp_path / "home" / "models"
    monkeypatch.delenv("DEPTHBLUR_HOME")
    import platformdirs

    assert store.cache_dir() == Path(platformdirs.user_cache_dir("depthblur")) / "models"


# --------------------------------------------------------------------------- download


def test_download_succeeds_and_verifies(server, capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich treats stderr as a terminal: bar is drawn
    spec = _spec(server)
    path = store.download(spec, progress=True, timeout=5)
    assert path == store.cache_dir() / "tiny.onnx"
    assert store.sha256_file(path) == PAYLOAD_SHA
    assert not path.with_name("tiny.onnx.part").exists()
    captured = capsys.readouterr()
    assert captured.out == "" and "downloading tiny" in captured.err  # progress on stderr only
    assert [r["range"] for r in server.requests] == [None]
    # Now present: found by size, no further request.
    assert store.find_model(spec) == path
    assert store.ensure_model(spec, allow_download=False) == path
    assert len(server.requests) == 1


def test_ensure_model_downloads_when_missing(server):
    spec = _spec(server)
    assert store.find_model(spec) is None
    path = store.ensure_model(spec, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_download_url_override(server):
    spec = _spec(url="https://example.invalid/never-used.onnx")
    path = store.download(spec, url=server.base + "/model.onnx", progress=False, timeout=5)
    assert path.read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_file(server):
    spec = _spec(server, sha256="0" * 64)
    with pytest.raises(
        ModelError, match=r"checksum mismatch for tiny: expected 0{64}, got " + PAYLOAD_SHA + r" \(file deleted\)"
    ):
        store.download(spec, progress=False, timeout=5)
    assert list(store.cache_dir().iterdir()) == []


def test_size_mismatch_deletes_file(server):
    server.files["/model.onnx"] = PAYLOAD + b"extra"
    with pytest.raises(ModelError, match="size mismatch for tiny"):
        store.download(_spec(server), progress=False, timeout=5)
    assert list(store.cache_dir().iterdir()) == []


def test_resume_with_range(server):
    spec = _spec(server)
    half = len(PAYLOAD) // 2
    store.cache_dir().mkdir(parents=True)
    (store.cache_dir() / "tiny.onnx.part").write_bytes(PAYLOAD[:half])
    path = store.download(spec, progress=False, timeout=5)
    assert [r["range"] for r in server.requests] == [f"bytes={half}-"]
    assert path.read_bytes() == PAYLOAD
    assert not (store.cache_dir() / "tiny.onnx.part").exists()


def test_resume_server_without_range_starts_over(server):
    server.honour_range = False
    spec = _spec(server)
    store.cache_dir().mkdir(parents=True)
    (store.cache_dir() / "tiny.onnx.part").write_bytes(b"garbage that must be discarded")
    path = store.download(spec, progress=False, timeout=5)
    assert server.requests[0]["range"] == "bytes=30-"
    assert path.read_bytes() == PAYLOAD


def test_resume_unknown_size_complete_part_gets_416(server):
    # Size unknown and the .part is already whole: the server answers 416; start over.
    spec = _spec(server, size=None)
    store.cache_dir().mkdir(parents=True)
    (store.cache_dir() / "tiny.onnx.part").write_bytes(PAYLOAD)
    path = store.download(spec, progress=False, timeout=5)
    assert [r["range"] for r in server.requests] == [f"bytes={len(PAYLOAD)}-", None]
    assert path.read_bytes() == PAYLOAD


def test_complete_part_with_known_size_is_not_refetched(server):
    spec = _spec(server)
    store.cache_dir().mkdir(parents=True)
    (store.cache_dir() / "tiny.onnx.part").write_bytes(PAYLOAD)
    assert store.download(spec, progress=False, timeout=5).read_bytes() == PAYLOAD
    assert server.requests == []


def test_server_down_names_url_and_keeps_part():
    url = _closed_port_url()
    spec = _spec(url=url)
    store.cache_dir().mkdir(parents=True)
    part = store.cache_dir() / "tiny.onnx.part"
    part.write_bytes(PAYLOAD[:100])
    with pytest.raises(ModelError) as info:
        store.download(spec, progress=False, timeout=5)
    msg = str(info.value)
    assert url in msg and "\n" not in msg
    assert "--depth-model PATH" in msg and str(store.cache_dir() / "tiny.onnx") in msg
    assert part.read_bytes() == PAYLOAD[:100]  # kept for a later resume


def test_http_error_names_url(server):
    spec = _spec(url=server.base + "/missing.onnx")
    with pytest.raises(ModelError, match=r"HTTP 404.*missing\.onnx"):
        store.download(spec, progress=False, timeout=5)
    assert not store.find_model(spec)


def test_ensure_model_offline_missing_raises_without_network():
    spec = get_spec(DEFAULT_DEPTH_MODEL)
    assert store.find_model(spec) is None
    with pytest.raises(ModelError, match=r"not in the cache.*downloading is disabled"):
        store.ensure_model(spec, allow_download=False)
    with pytest.raises(ModelError, match="not in the cache"):
        store.resolve_model(DEFAULT_DEPTH_MODEL, "depth", allow_download=False)


def test_find_model_rejects_wrong_size_in_cache():
    spec = _spec(url="http://127.0.0.1:9/unused")
    store.cache_dir().mkdir(parents=True)
    (store.cache_dir() / "tiny.onnx").write_bytes(PAYLOAD[:-1])
    assert store.find_model(spec) is None
    (store.cache_dir() / "tiny.onnx").write_bytes(PAYLOAD)
    assert store.find_model(spec) == store.cache_dir() / "tiny.onnx"


def test_cached_model_is_hashed_once_then_again_only_when_it_changes(tmp_path, monkeypatch):
    payload = b"0123456789"
    spec = replace(get_spec("midas-v21-small"), size=10, sha256=hashlib.sha256(payload).hexdigest())
    store.cache_dir().mkdir(parents=True)
    path = store.cache_dir() / spec.filename
    path.write_bytes(payload)
    hashed = []
    real = store.sha256_file
    monkeypatch.setattr(store, "sha256_file", lambda p: hashed.append(p) or real(p))
    assert store.ensure_model(spec, allow_download=False) == path
    assert store.ensure_model(spec, allow_download=False) == path
    assert len(hashed) == 1  # stamped after the first check: not hashed per run
    path.write_bytes(b"9876543210")  # damaged: same size, new time
    os.utime(path, ns=(1, 1))
    with pytest.raises(ModelError, match=r"does not match its checksum.*models pull midas-v21-small --force"):
        store.ensure_model(spec, allow_download=False)
    assert len(hashed) == 2


def test_verifying_a_model_writes_nothing_beside_it(tmp_path):
    """The stamp lives in the user's cache: a model in a checkout or a read-only folder stays as it was."""
    payload = b"abcdefghij"
    spec = replace(get_spec("midas-v21-small"), size=10, sha256=hashlib.sha256(payload).hexdigest())
    folder = tmp_path / "checkout"
    folder.mkdir()
    model = folder / spec.filename
    model.write_bytes(payload)
    folder.chmod(0o555)
    try:
        assert store.verify_cached(spec, model)
        assert sorted(p.name for p in folder.iterdir()) == [spec.filename]
    finally:
        folder.chmod(0o755)
    stamps = list((store.cache_dir() / "verified").iterdir())
    assert len(stamps) == 1 and stamps[0].read_text().split()[0] == spec.sha256


# --------------------------------------------------------------------------- resolve_model


def test_resolve_copy_of_bundled_gives_u2netp_spec(tmp_path):
    copy = tmp_path / "my-matte.onnx"
    shutil.copyfile(store.bundled_dir() / "u2netp.onnx", copy)
    spec, path = store.resolve_model(str(copy), "matte")
    assert spec.name == "u2netp" and spec.sha256 == get_spec("u2netp").sha256
    assert path == copy.resolve()
    with pytest.raises(ModelError, match="matte model u2netp, not a depth model"):
        store.resolve_model(str(copy), "depth")


def test_resolve_names():
    spec, path = store.resolve_model("u2netp", "matte", allow_download=False)
    assert spec == get_spec("u2netp") and path == store.bundled_dir() / "u2netp.onnx"
    with pytest.raises(ModelError, match="u2netp is a matte model, not a depth model"):
        store.resolve_model("u2netp", "depth")
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        store.resolve_model("nope", "depth")
    with pytest.raises(ModelError, match="unknown model task"):
        store.resolve_model("u2netp", "segment")


def test_resolve_missing_path(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        store.resolve_model(str(tmp_path / "absent.onnx"), "depth")
    with pytest.raises(ModelError, match="model file not found"):
        store.resolve_model("absent.onnx", "matte")
    with pytest.raises(ModelError, match="model file not found"):
        store.resolve_model(str(tmp_path), "matte")  # a directory


def test_resolve_unknown_file_gives_generic_spec(tmp_path):
    model = _tiny_onnx(tmp_path / "custom-depth.onnx")
    spec, path = store.resolve_model(str(model), "depth")
    assert path == model.resolve()
    assert (spec.name, spec.task, spec.resize, spec.input_size, spec.multiple) == (
        "custom-depth",
        "depth",
        "auto",
        518,
        14,
    )
    assert spec.mean == (0.485, 0.456, 0.406) and spec.url is None and spec.sha256 == ""
    spec, _ = store.resolve_model(str(model), "matte")
    assert (spec.task, spec.resize, spec.input_size, spec.interpolation) == ("matte", "square", 320, "bilinear")


# --------------------------------------------------------------------------- sessions


def test_session_cached_and_dynamic_dims(tmp_path):
    model = _tiny_onnx(tmp_path / "dyn.onnx")
    sess = sessions.get_session(model)
    assert sessions.get_session(str(model)) is sess
    assert sess.get_providers() == ["CPUExecutionProvider"]
    (inp,) = sessions.input_info(sess)
    assert inp == sessions.TensorInfo("pixel_values", (1, 3, None, None), "float32")
    (out,) = sessions.output_info(sess)
    assert out.name == "predicted_depth" and out.shape[2:] == (None, None)


def test_session_static_dims_of_bundled_u2netp():
    sess = sessions.get_session(store.bundled_dir() / "u2netp.onnx")
    assert sessions.input_info(sess) == [sessions.TensorInfo("input.1", (1, 3, 320, 320), "float32")]
    outs = sessions.output_info(sess)
    assert len(outs) == 7 and outs[0].shape == (1, 1, 320, 320)


def test_session_invalid_file(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(ModelError) as info:
        sessions.get_session(junk)
    msg = str(info.value)
    assert msg.startswith(f"{junk}: not a valid ONNX model (") and "\n" not in msg
    with pytest.raises(ModelError, match="model file not found"):
        sessions.get_session(tmp_path / "absent.onnx")


def test_catalog_module_defaults():
    assert catalog.DEFAULT_MATTE_MODEL == "auto"
    assert catalog.DEFAULT_DEPTH_MODEL == "depth-anything-v2-small"


def test_running_the_tool_leaves_the_checkouts_models_folder_as_it_was(tmp_path):
    """A run verifies the bundled models but writes nothing beside them: `git status` stays clean."""
    from helpers import cli, small_copy

    folder = store.bundled_dir()
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}
    photo = small_copy("chelsea.png", tmp_path / "c.png", (64, 48))
    cli("depth", photo, "-o", tmp_path / "d.png", "--offline")  # the matte and the offline depth network
    cli("doctor")
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert after == before


def test_the_int8_matte_is_bundled_verified_and_gives_the_same_subject():
    """u2netp-int8 (models/make_u2netp_int8.py) is in the wheel's folder with its catalog checksum and
    gives u2netp's subject on a portrait (IoU at 0.5 measured 0.991 on the astronaut)."""
    import numpy as np
    from PIL import Image

    from depthblur_cli.estimation.matte import estimate_matte

    photo = np.asarray(Image.open(Path(__file__).resolve().parents[2] / "examples" / "astronaut.png").convert("RGB"))
    mattes = []
    for name in ("u2netp", "u2netp-int8"):
        spec, path = store.resolve_model(name, "matte", allow_download=False)
        assert store.sha256_file(path) == spec.sha256
        mattes.append(estimate_matte(photo, sessions.get_session(path), spec) >= 0.5)
    assert (mattes[0] & mattes[1]).sum() / (mattes[0] | mattes[1]).sum() >= 0.98
    assert sessions.int8_dot_products() in (None, *sessions.INT8_FEATURES)
