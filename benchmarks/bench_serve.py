"""The local server under load: ``depthblur serve`` with concurrent clients on loopback.

Starts ``depthblur serve`` (one process, ``--max-pending`` above the client
count) and, with ``--rembg PATH``, ``rembg s`` beside it on the same
machine (same model, u2netp, offline through ``U2NET_HOME``). Then, per
endpoint, ``--clients`` threads each with its own HTTP connection send
``--requests`` requests in all, with a photo of 800-1000 px; it reports
requests per second, p50 / p95 latency, errors (any answer but 200), and
the server's resident memory (VmRSS) before and after. The Photoshop
``depthBlur`` endpoint is measured end to end: a storage server in this
process serves the photos (GET) and takes the results (PUT); a request's
latency runs from the POST to its job's ``succeeded`` status (polled every
50 ms), and a job that fails counts as an error.

Usage: ``python benchmarks/bench_serve.py [--requests 1000] [--clients 8] [--rembg PATH]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_batch import make_photos  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, MB (Linux /proc)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def wait_up(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def storage_server(photos: list[bytes]) -> tuple[str, dict[str, int]]:
    """A loopback HTTP server: GET /in/I.jpg serves photo I, PUT /out/... is counted (not kept)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = {"puts": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            data = photos[int(self.path.removeprefix("/in/").removesuffix(".jpg")) % len(photos)]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            received["puts"] += 1
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", received


class _Done:
    """The answer of a depthBlur job, as the load loop reads it."""

    def __init__(self, ok: bool) -> None:
        self.status_code = 200 if ok else 500


def load(url: str, make_request, requests: int, clients: int) -> tuple[float, list[float], int]:
    """(wall s, latencies s, errors) of ``requests`` requests from ``clients`` threads."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        with httpx.Client(timeout=300) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                start = time.perf_counter()
                try:
                    ok = make_request(http, url, i).status_code == 200
                except httpx.HTTPError:
                    ok = False
                took = time.perf_counter() - start
                with lock:
                    latencies.append(took)
                    errors[0] += not ok

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies, errors[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000, help="requests per endpoint (default 1000)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    ap.add_argument("--rembg", default=shutil.which("rembg"), help="the rembg command, for rembg s (default: on PATH)")
    ap.add_argument("--serve-arg", action="append", default=[], help="an extra argument of depthblur serve (repeat)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    make_photos(work / "photos", 8)
    photos = [p.read_bytes() for p in sorted((work / "photos").iterdir())]
    u2 = work / "u2net"
    u2.mkdir()
    shutil.copy(ROOT / "models" / "u2netp.onnx", u2 / "u2netp.onnx")
    env = dict(os.environ, U2NET_HOME=str(u2))

    servers = []
    port = free_port()
    store, received = storage_server(photos)
    depthblur = subprocess.Popen([sys.executable, "-m", "depthblur_cli", "serve", "--port", str(port), "--offline",
                                  "--max-pending", str(4 * args.clients), "--allow-href", f"{store}/",
                                  *args.serve_arg], env=env)  # fmt: skip
    servers.append(depthblur)
    base = f"http://127.0.0.1:{port}"
    wait_up(f"{base}/health", depthblur)

    def fapihub(http, url, i):
        return http.post(f"{url}/v2/rembg/blur/", files={"image": photos[i % len(photos)]}, data={"radius": "10"})

    def photoroom(http, url, i):
        fields = {"background.blur.mode": "gaussian", "background.blur.radius": "0.01"}
        return http.post(f"{url}/v2/edit", files={"imageFile": photos[i % len(photos)]}, data=fields)

    def depth_blur(http, url, i):
        job = {"inputs": [{"href": f"{store}/in/{i}.jpg", "storage": "external"}],
               "options": {"focusSubject": True, "blurStrength": 50},
               "outputs": [{"href": f"{store}/out/{i}.jpg", "storage": "external", "type": "image/jpeg"}]}  # fmt: skip
        answer = http.post(f"{url}/pie/psdService/depthBlur", json=job)
        if answer.status_code != 202:
            return answer
        status = answer.json()["_links"]["self"]["href"]
        while True:
            state = http.get(status).json()["outputs"][0]["status"]
            if state in ("succeeded", "failed"):
                return _Done(state == "succeeded")
            time.sleep(0.05)

    cases = [("depthblur fapihub /v2/rembg/blur/", depthblur, base, fapihub),
             ("depthblur Photoroom /v2/edit (gaussian)", depthblur, base, photoroom),
             ("depthblur Photoshop depthBlur (job, PUT)", depthblur, base, depth_blur)]  # fmt: skip
    if args.rembg:
        rport = free_port()
        rembg = subprocess.Popen([args.rembg, "s", "--host", "127.0.0.1", "--port", str(rport), "--no-ui"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        servers.append(rembg)
        wait_up(f"http://127.0.0.1:{rport}/docs", rembg, 300)

        def rembg_remove(http, url, i):
            return http.post(f"{url}/api/remove", files={"file": photos[i % len(photos)]}, data={"model": "u2netp"})

        cases.append(("rembg s /api/remove (u2netp)", rembg, f"http://127.0.0.1:{rport}", rembg_remove))
    else:
        print("rembg not found (--rembg PATH): no rembg s line", file=sys.stderr)

    try:
        print(
            f"{args.requests} requests per endpoint, {args.clients} clients, {os.cpu_count()} cores, 800-1000 px JPEG"
        )
        print(f"{'endpoint':42s} {'req/s':>6s} {'p50 s':>6s} {'p95 s':>6s} {'errors':>6s} {'RSS MB before/after':>20s}")
        for name, proc, url, request in cases:
            load(url, request, args.clients, args.clients)  # warm-up: models loaded, pools started
            before = rss_mb(proc.pid)
            wall, lat, errors = load(url, request, args.requests, args.clients)
            after = rss_mb(proc.pid)
            q = statistics.quantiles(lat, n=20)
            print(f"{name:42s} {len(lat) / wall:6.2f} {statistics.median(lat):6.2f} {q[18]:6.2f} {errors:6d} "
                  f"{before:9.0f} / {after:<9.0f}")  # fmt: skip
        print(f"depthBlur results PUT to the storage server: {received['puts']}")
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
