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
        typer.Option("--json", help="Print one JSON line per model (name, task, size, licence, path, url, sha256)."),
    ] = False,
) -> None:
    """Show the catalog: name, task, size, licence, and whether it is here."""
    import json

    from rich.console import Console
    from rich.table import Table

    from depthblur_cli.models import catalog, paths, store

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
        table.add_row(spec.name, spec.task, size, spec.license, here)
    Console().print(table)


@models_app.command("pull")
def models_pull(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Catalog name, e.g. depth-anything-v2-small.")],
) -> None:
    """Download a model into the cache (verified by SHA-256)."""
    from depthblur_cli.models import catalog, store

    try:
        path = store.ensure_model(catalog.get_spec(name), allow_download=True, progress=True)
    except DepthblurError as exc:
        fail(exc)
    typer.echo(str(path))


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
