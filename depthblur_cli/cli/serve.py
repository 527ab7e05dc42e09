"""``depthblur serve``: the local HTTP server (FastAPI on uvicorn; the ``serve`` extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from depthblur_cli import __version__
from depthblur_cli.cli.app import app, fail
from depthblur_cli.cli.params import MATTE_MODEL, DeviceOpt, ModelOpt, OfflineOpt, finite
from depthblur_cli.errors import EXIT_USAGE, DepthblurError
from depthblur_cli.options import defaults

SERVE_EXAMPLES = """Examples:

\b
  depthblur serve                                   # http://127.0.0.1:7860, docs at /docs
  depthblur serve --port 8000 --api-key "$KEY"
  curl -F image=@cat.jpg -F radius=20 http://127.0.0.1:7860/v2/rembg/blur/ -o cat.png
"""


@app.command(epilog=SERVE_EXAMPLES, short_help="Serve the fapihub, Photoroom and Photoshop APIs locally over HTTP.")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = defaults.SERVE_PORT,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            envvar="DEPTHBLUR_API_KEY",
            help="Accept only requests carrying this key (repeat for several; or DEPTHBLUR_API_KEY).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=64, help="Server processes, each with its models and its share of the cores."
        ),
    ] = 1,
    max_upload_mb: Annotated[
        float,
        typer.Option(
            "--max-upload-mb",
            metavar="MB",
            parser=finite(0, 1000, low_open=True),
            help="Largest accepted upload, MB, 0 < MB <= 1000.",
        ),
    ] = defaults.SERVE_MAX_UPLOAD_MB,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Requests processed at the same time per process.")
    ] = defaults.SERVE_CONCURRENCY,
    max_pending: Annotated[
        int,
        typer.Option(
            "--max-pending", min=1, max=10000, help="Requests queued or running per process; one more gets 429."
        ),
    ] = defaults.SERVE_MAX_PENDING,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="S",
            parser=finite(0, 3600, low_open=True),
            help="Time limit of one request's processing, seconds, 0 < S <= 3600.",
        ),
    ] = defaults.SERVE_TIMEOUT_S,
    allow_href: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-href",
            metavar="PREFIX",
            help="URL prefix (http/https) depthBlur jobs may read inputs from and write outputs to; repeat "
            "for several. None given: depthBlur jobs are refused.",
        ),
    ] = None,
    model: ModelOpt = MATTE_MODEL,
    offline: OfflineOpt = False,
    device: DeviceOpt = "auto",
) -> None:
    """Serve the fapihub rembg/blur, Photoroom background-blur and Photoshop depthBlur APIs on this machine.

    An existing client switches by changing only its base URL. Binds
    127.0.0.1 unless --host says otherwise; the OpenAPI page is at /docs.
    SIGTERM or Ctrl-C finishes the requests in flight, then exits."""
    import os

    try:
        import uvicorn

        from depthblur_cli.server import app as server
    except ImportError as exc:
        typer.echo(f"error: depthblur serve needs the serve extra ({exc.name} is missing): "
                   "pip install 'depthblur[serve]'", err=True)  # fmt: skip
        raise typer.Exit(EXIT_USAGE) from None

    from depthblur_cli.pipeline.modelbox import ModelBox

    given_keys = list(api_key or [])
    if "DEPTHBLUR_API_KEY" in os.environ and not given_keys:
        given_keys.append(os.environ["DEPTHBLUR_API_KEY"])
    if any(not k.strip() for k in given_keys):  # an empty key would silently mean "no authentication"
        raise typer.BadParameter("an API key must not be empty (leave the option out to run without keys)",
                                 param_hint="--api-key / DEPTHBLUR_API_KEY")  # fmt: skip
    keys = tuple(given_keys)
    for prefix in allow_href or ():
        if not prefix.startswith(("http://", "https://")) or len(prefix) < 10:
            raise typer.BadParameter(f"{prefix!r} is not an http(s) URL prefix", param_hint="--allow-href")
    threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None
    settings = server.ServerSettings(
        api_keys=keys, max_upload_mb=max_upload_mb, max_pending=max_pending, timeout_s=timeout,
        concurrency=concurrency, matte_model=model, allow_download=not offline, device=device,
        allow_href=tuple(allow_href or ()), threads=threads,
    )  # fmt: skip
    try:  # fail now, not on the first request: the model is there (downloaded if allowed) and loads
        matte_name = ModelBox(model, allow_download=not offline, device=device).matte_session()[0].name
    except DepthblurError as exc:
        fail(exc)
    if host not in ("127.0.0.1", "localhost", "::1") and not keys:
        typer.echo(f"warning: listening on {host} with no --api-key: anyone who can reach it can use it", err=True)
    from depthblur_cli.server.protocol import GuardedH11Protocol

    server.log_to_stderr()
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"depthblur serve {__version__}: http://{shown}:{port}/ (POST /v2/rembg/blur/, POST|GET /v2/edit, "
               "POST /pie/psdService/depthBlur, GET /pie/psdService/status/{jobId}, GET /health, /docs); "
               f"matte model {matte_name}; Ctrl-C to stop", err=True)  # fmt: skip
    common = dict(host=host, port=port, log_level="warning", timeout_graceful_shutdown=int(timeout),
                  http=GuardedH11Protocol, timeout_keep_alive=5)  # fmt: skip
    if workers == 1:
        uvicorn.run(server.create_app(settings), **common)  # type: ignore[arg-type]
    else:
        os.environ[server.SETTINGS_ENV] = server.settings_to_environment(settings)
        uvicorn.run("depthblur_cli.server.app:app_from_environment", factory=True, workers=workers,
                    **common)  # type: ignore[arg-type]  # fmt: skip
