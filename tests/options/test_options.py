"""The options wing: one schema, and the command, the library and the server all hold to it."""

from __future__ import annotations

import inspect
import math

import pytest
import typer.main

import depthblur_cli
from depthblur_cli.cli import app
from depthblur_cli.errors import UsageError
from depthblur_cli.options import schema

#: Which schema option a command's flag is, where a flag means another option in one command.
COMMAND_KEYS = {("rembg-blur", "--radius"): "rembg_radius"}
#: Which schema option a library function's keyword is, where it differs from the keyword.
API_KEYS = {("rembg_blur", "radius"): "rembg_radius", ("depth_blur", "focal_selector"): "focal_point"}
API_FUNCTIONS = ("bokeh", "gaussian", "rembg_blur", "depth_blur")


def _commands() -> dict:
    """The command's subcommands by name (Typer's click commands)."""
    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def _schema_params():
    """(command, click option, schema option) for every flag of an image command that the schema describes."""
    by_flag = {o.flag: o for o in schema.OPTIONS if o.key != "rembg_radius"}
    for name, command in _commands().items():
        for param in command.params:
            for flag in param.opts:
                key = COMMAND_KEYS.get((name, flag))
                option = schema.BY_KEY[key] if key else by_flag.get(flag)
                if option is not None:
                    yield name, param, option


def _just_outside(option: schema.Option) -> tuple[float, float]:
    step = 1 if option.kind == "integer" else max(1e-9, (option.high - option.low) * 1e-6)
    low = option.low if option.low_open else option.low - step
    return low, option.high + step


def test_every_ranged_flag_of_every_command_is_in_the_schema():
    seen = {(name, option.key) for name, _, option in _schema_params()}
    flags = {name for name, _ in seen}
    assert {"bokeh", "gaussian", "rembg-blur", "depth"} <= flags
    keys = {key for _, key in seen}
    numbers = {o.key for o in schema.OPTIONS if o.kind in ("number", "integer")}
    assert numbers - {"focal_point"} <= keys, numbers - keys


@pytest.mark.parametrize(
    "name, flag, option", [(n, p.opts[0], o) for n, p, o in _schema_params() if o.kind in ("number", "integer")]
)
def test_a_flag_takes_its_schema_range_and_refuses_just_outside_it(name, flag, option, tmp_path):
    from helpers import EXAMPLES, cli

    photo = EXAMPLES / "chelsea.png"
    ends = (option.high,) if option.low_open else (option.low, option.high)
    partner = {"--focus-disparity": ("--coc-scale", "1"), "--coc-scale": ("--focus-disparity", "0")}
    extra = partner.get(flag, ())  # the raw-units pair goes together
    for good in ends:
        text = str(int(good)) if option.kind == "integer" else repr(float(good))
        cli(name, photo, flag, text, *extra, "-o", tmp_path / "x.png", "--dry-run", "--offline")
    for bad in (*_just_outside(option), math.nan, math.inf):
        text = str(int(bad)) if option.kind == "integer" and math.isfinite(bad) else repr(bad)
        result = cli(name, photo, flag, text, *extra, "-o", tmp_path / "x.png", "--dry-run", "--offline", code=2)
        assert flag in result.stderr, result.stderr


@pytest.mark.parametrize("option", schema.OPTIONS, ids=lambda o: o.key)
def test_the_library_check_takes_the_range_and_refuses_just_outside_it(option):
    if option.kind == "boolean":
        assert option.check(True) is True
        with pytest.raises(UsageError):
            option.check("yes")
        return
    if option.kind == "point":
        assert option.check((0, 1)) == (0.0, 1.0)
        for bad in ((1.01, 0.5), (0.5, math.nan), "centre"):
            with pytest.raises(UsageError, match=option.name):
                option.check(bad)
        return
    assert option.check(option.high) == option.high
    if not option.low_open:
        assert option.check(option.low) == option.low
    for bad in (*_just_outside(option), math.nan, math.inf, "1"):
        with pytest.raises(UsageError, match=f"{option.name} must be"):
            option.check(bad)


def test_library_keyword_defaults_are_the_schemas():
    checked = 0
    for function in API_FUNCTIONS:
        for keyword, parameter in inspect.signature(getattr(depthblur_cli, function)).parameters.items():
            key = API_KEYS.get((function, keyword), keyword)
            if key in schema.BY_KEY:
                assert parameter.default == schema.BY_KEY[key].default, (function, keyword)
                checked += 1
    assert checked >= 25


def test_command_defaults_are_the_schemas():
    for name, param, option in _schema_params():
        if (name, option.key) in {("bokeh", "radius"), ("gaussian", "radius")}:
            assert param.default is None  # given as --radius or --radius-px; neither: the schema's default
            continue
        assert param.default == option.default, (name, param.name)


def test_the_server_and_the_library_refuse_a_radius_with_the_same_bounds():
    from depthblur_cli.server.photoroom import EditError, parse_edit

    bounds = schema.BY_KEY["radius"].bounds()
    with pytest.raises(EditError, match=bounds):
        parse_edit({"background.blur.mode": "bokeh", "removeBackground": "false", "background.blur.radius": "0.06"})
    with pytest.raises(UsageError, match=bounds):
        depthblur_cli.bokeh(__import__("numpy").zeros((8, 8, 3), "uint8"), radius=0.06)
