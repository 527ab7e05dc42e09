"""``depthblur models``: list, download and locate the models."""

from __future__ import annotations

from typing import Annotated

import typer

from depthblur_cli.cli.app import app, fail
from depthblur_cli.errors import DepthblurError

models_app = typer.Typer(
    help="List, download and locate the models.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(models_app, name="models", short_help="List, download and locate the models.")


@models_app.command("list")
def models_list(
    json_lines: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON line per model (name, task, size, licence, path, url, sha256, default here).",
        ),
    ] = False,
) -> None:
    """Show the catalog: name, task, size, licence, whether it is here, and which are the defaults here."""
    import json

    from rich.console import Console
    from rich.table import Table

    from depthblur_cli.models import catalog, paths, sessions, store

    auto = sessions.matte_model_for(sessions.providers_for("auto")[0][0])[0]
    rows = []
    for spec in catalog.load_catalog().values():
        path = store.find_model(spec)
        rows.append(
            {
                "name": spec.name,
                "task": spec.task,
                "size": spec.size,
                "license": spec.license,
                "bundled": spec.bundled,
                "available": path is not None,
                "path": str(path) if path else None,
                "url": spec.url,
                "sha256": spec.sha256,
                "default": spec.name in (auto, catalog.DEFAULT_DEPTH_MODEL),
            }
        )
    if json_lines:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    table = Table(title=f"models (cache: {paths.cache_dir()})")
    for col in ("name", "task", "size", "licence", "here"):
        table.add_column(col)
    for spec, row in zip(catalog.load_catalog().values(), rows):
        size = f"{spec.size / 1e6:.1f} MB" if spec.size else "?"
        here = "bundled" if spec.bundled else ("cached" if row["available"] else "download")
        table.add_row(spec.name + (" (default)" if row["default"] else ""), spec.task, size, spec.license, here)
    Console().print(table)
    typer.echo(f"-m auto, the default matte, is {auto} here (depthblur doctor says why)")


@models_app.command("pull")
def models_pull(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Catalog name, e.g. depth-anything-v2-small.")],
    force: Annotated[bool, typer.Option("--force", help="Download again even if the cached file is good.")] = False,
) -> None:
    """Download a model into the cache (verified by SHA-256); a damaged cached copy is replaced."""
    from depthblur_cli.models import catalog, store

    try:
        spec = catalog.get_spec(name)
        found = store.find_model(spec)
        if found is not None and not spec.bundled and (force or not store.verify_cached(spec, found)):
            if not force:
                typer.echo(f"warning: {store.corrupt_message(spec, found)}: downloading it again", err=True)
            found.unlink(missing_ok=True)
        path = store.ensure_model(spec, allow_download=True, progress=True)
    except DepthblurError as exc:
        fail(exc)
    typer.echo(str(path))


@models_app.command("verify")
def models_verify(
    names: Annotated[
        list[str] | None, typer.Argument(metavar="[NAME]...", help="Models to check (default: all).")
    ] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON line per model.")] = False,
) -> None:
    """Hash every model file that is here against the catalog's SHA-256 (exit 3 if one does not match)."""
    import json

    from depthblur_cli.errors import EXIT_MODEL
    from depthblur_cli.models import catalog, store

    try:
        specs = [catalog.get_spec(n) for n in names] if names else list(catalog.load_catalog().values())
    except DepthblurError as exc:
        fail(exc)
    bad = False
    for spec in specs:
        path = store.find_model(spec)
        if path is None:
            state, fix = "missing", f"depthblur models pull {spec.name}"
        elif store.sha256_file(path) == spec.sha256:
            state, fix = "ok", ""
        else:
            bad = True
            state, fix = "MISMATCH", store.corrupt_message(spec, path)
        if json_lines:
            typer.echo(json.dumps({"name": spec.name, "state": state.lower(), "path": str(path) if path else None}))
        else:
            typer.echo(f"{spec.name:28} {state:9} {path or ''}" + (f"\n  {fix}" if state == "MISMATCH" else ""))
    if bad:
        raise typer.Exit(EXIT_MODEL)


@models_app.command("path")
def models_path(
    name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="A model name; without it, the cache directory.")
    ] = None,
) -> None:
    """Print the cache directory, or where a model's file is (or would be)."""
    from depthblur_cli.models import catalog, paths, store

    if name is None:
        typer.echo(str(paths.cache_dir()))
        return
    try:
        spec = catalog.get_spec(name)
    except DepthblurError as exc:
        fail(exc)
    typer.echo(str(store.find_model(spec) or store.cached_path(spec)))
