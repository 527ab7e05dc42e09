"""``depthblur doctor``: what this installation has: versions, devices, threads, cache and models."""

from __future__ import annotations

from typing import Annotated

import typer

from depthblur_cli.cli.app import app


def _writable(path) -> bool:
    """Whether ``path``, or the nearest folder above it that exists, can be written to."""
    import os

    while not path.exists() and path != path.parent:
        path = path.parent
    return os.access(path, os.W_OK)


def report() -> dict:
    """Everything ``doctor`` shows, as a dict (for ``--json``)."""
    import os
    import platform
    import sys
    from importlib import metadata

    from depthblur_cli import __version__, threads
    from depthblur_cli.models import catalog, paths, sessions, store

    versions = {"depthblur": __version__, "python": platform.python_version()}
    # the optional ones (extras) only when installed
    packages = ("numpy", "scipy", "opencv-python-headless", "onnxruntime", "onnxruntime-gpu", "pillow", "typer",
                "isal", "fsspec", "s3fs", "gcsfs", "ray", "fastapi", "uvicorn")  # fmt: skip
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    auto, _ = sessions.providers_for("auto")
    cache = paths.cache_dir()
    models = []
    for spec in catalog.load_catalog().values():
        path = store.find_model(spec)
        state = "missing" if path is None else ("ok" if store.verify_cached(spec, path) else "MISMATCH")
        models.append({"name": spec.name, "task": spec.task, "state": state, "path": str(path) if path else None})
    return {
        "versions": versions,
        "platform": f"{platform.system()} {platform.machine()}, {sys.implementation.name}",
        "providers_available": sessions.available_providers(),
        "device_auto": auto[0],
        "cpu_count": os.cpu_count(),
        "render_threads": threads.THREADS,
        "cache": {
            "path": str(cache),
            "exists": cache.is_dir(),
            "writable": _writable(cache),
        },
        "models": models,
        "int8_dot_products": sessions.int8_dot_products(),
        "matte_model_auto": dict(zip(("name", "reason"), sessions.matte_model_for(auto[0]), strict=True)),
    }


@app.command(short_help="Show versions, devices, threads, the model cache and the models' checksums.")
def doctor(
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Show what this installation has: versions, onnxruntime's execution providers (and what
    --device auto picks), threads, the model cache, and each model with its checksum state."""
    import json

    info = report()
    if json_out:
        typer.echo(json.dumps(info))
        return
    typer.echo("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    typer.echo(f"platform: {info['platform']}")
    typer.echo(f"devices: {', '.join(info['providers_available'])} (--device auto: {info['device_auto']})")
    typer.echo(f"threads: {info['cpu_count']} cores, renderer {info['render_threads']}")
    cache = info["cache"]
    typer.echo(f"model cache: {cache['path']} ({'exists' if cache['exists'] else 'not created yet'}, "
               f"{'writable' if cache['writable'] else 'NOT writable'})")  # fmt: skip
    for m in info["models"]:
        typer.echo(f"  {m['name']:28} {m['task']:6} {m['state']:9} {m['path'] or ''}")
    typer.echo(f"matte model (-m auto, the default): {info['matte_model_auto']['reason']}; "
               "-m u2netp or -m u2netp-int8 picks one")  # fmt: skip
