"""Batches a CI can trust: the bad-input and fault matrix, idempotent re-runs, workers, the report.

Every case runs the real command and checks the exit code, that the message
is one line naming the file or option, that no traceback leaks, and that
nothing that existed was changed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import onnx
import pytest
from helpers import EXAMPLES, ROOT, cli
from onnx import TensorProto, helper
from PIL import Image

SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text())
SMALL = (96, 64)


def small_png(path: Path, mode: str = "RGB", size=SMALL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(EXAMPLES / "chelsea.png") as im:
        im.convert("RGB").resize(size).convert(mode).save(path)
    return path


def records(text: str) -> list[dict]:
    out = [json.loads(line) for line in text.splitlines() if line.strip()]
    for record in out:
        jsonschema.validate(record, SCHEMA)
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert lines, stderr
    assert "Traceback" not in stderr
    return lines[0]


# ---------------------------------------------------------------------------
# Bad inputs: one line naming the file, the batch goes on, exit 1
# ---------------------------------------------------------------------------


def _truncated(path: Path) -> None:
    small_png(path)
    path.write_bytes(path.read_bytes()[:200])


def _truncated_jpeg(path: Path) -> None:
    with Image.open(EXAMPLES / "chelsea.png") as im:
        im.convert("RGB").save(path, "JPEG")
    path.write_bytes(path.read_bytes()[:500])


BAD_INPUTS = {
    "empty.png": lambda p: p.write_bytes(b""),
    "text.png": lambda p: p.write_text("not an image"),
    "garbage.jpg": lambda p: p.write_bytes(os.urandom(3000)),
    "truncated.png": _truncated,
    "truncated.jpg": _truncated_jpeg,
    "header-only.png": lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n"),
    "zero-pixels.npy.png": lambda p: p.write_bytes(b"\x00" * 10),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_a_bad_input_is_one_line_and_the_batch_goes_on(tmp_path, name):
    good = small_png(tmp_path / "in" / "good.png")
    bad = tmp_path / "in" / name
    BAD_INPUTS[name](bad)
    before = snapshot(tmp_path / "in")
    result = cli("gaussian", bad, good, "-o", tmp_path / "out/", "--offline", "--json", code=1)
    line = one_line_error(result.stderr)
    assert str(bad) in line
    by_input = {r["input"]: r for r in records(result.stdout)}
    assert by_input[str(bad)]["status"] == "error" and by_input[str(bad)]["error"]["code"] == "bad_input"
    assert by_input[str(good)]["status"] == "ok" and (tmp_path / "out" / "good.png").exists()
    assert snapshot(tmp_path / "in") == before


@pytest.mark.parametrize(
    "make, named",
    [
        (lambda d: str(d / "missing.png"), "no such file"),
        (lambda d: str(d / "*.nothing"), "matched no image files"),
        (lambda d: (d / "empty-dir").mkdir() or str(d / "empty-dir"), "contains no image files"),
    ],
)
def test_an_argument_matching_nothing_is_reported(tmp_path, make, named):
    arg = make(tmp_path)
    result = cli("bokeh", arg, "-o", tmp_path / "out/", "--offline", code=1)
    assert named in one_line_error(result.stderr)


def test_the_decompression_bomb_guard_covers_photos_and_depth_maps(tmp_path, monkeypatch):
    from depthblur_cli.imaging import codec

    monkeypatch.setattr(codec, "MAX_PIXELS", 1000)
    photo = small_png(tmp_path / "p.png")
    result = cli("gaussian", photo, "-o", tmp_path / "o.png", "--offline", code=1)
    assert "too large" in one_line_error(result.stderr)
    np.save(tmp_path / "d.npy", np.zeros((100, 100), np.float32))
    small = small_png(tmp_path / "s.png", size=(20, 20))
    result = cli("depth", small, "--depth-map", tmp_path / "d.npy", "-o", tmp_path / "o2.png", "--offline", code=1)
    assert "depth map is too large" in one_line_error(result.stderr)


@pytest.mark.parametrize(
    "make, named",
    [
        (lambda d: np.save(d / "dm.npy", np.zeros((2, 3, 4))), "2-D"),
        (lambda d: np.save(d / "dm.npy", np.zeros((8, 8), complex)), "real numbers"),
        (lambda d: np.save(d / "dm.npy", np.full((8, 8), np.nan)), "no valid"),
        (lambda d: (d / "dm.npy").write_bytes(b"garbage"), "NumPy"),
        (lambda d: (d / "dm.npy").write_bytes(b""), "empty"),
        (lambda d: None, "not found"),
        (lambda d: (d / "dm.npy").write_bytes(b"\x89PNG\r\n\x1a\n garbage"), "NumPy"),
    ],
)
def test_a_bad_depth_map_fails_that_input_naming_the_map(tmp_path, make, named):
    photo = small_png(tmp_path / "p.png")
    make(tmp_path)
    result = cli("depth", photo, "--depth-map", tmp_path / "dm.npy", "-o", tmp_path / "o.png", "--offline", code=1)
    line = one_line_error(result.stderr)
    assert str(tmp_path / "dm.npy") in line and named in line and "BytesIO" not in line
    assert not (tmp_path / "o.png").exists()


def test_a_right_view_of_another_size_is_refused(tmp_path):
    left, right = small_png(tmp_path / "l.png"), small_png(tmp_path / "r.png", size=(50, 40))
    result = cli("depth", left, "--stereo-right", right, "-o", tmp_path / "o.png", "--offline", code=1)
    assert "same size" in one_line_error(result.stderr)


# ---------------------------------------------------------------------------
# Bad options: exit 2 naming the option, nothing written
# ---------------------------------------------------------------------------

BAD_OPTIONS = [
    ["gaussian", "--radius", "0"],
    ["gaussian", "--radius", "0.06"],
    ["gaussian", "--radius", "-1"],
    ["gaussian", "--radius-px", "0"],
    ["gaussian", "--radius-px", "2001"],
    ["gaussian", "--radius", "0.01", "--radius-px", "5"],
    ["bokeh", "--blades", "1"],
    ["bokeh", "--blades", "17"],
    ["bokeh", "--blade-rotation", "400"],
    ["bokeh", "--blade-curvature", "2"],
    ["bokeh", "--highlights", "101"],
    ["bokeh", "--highlight-threshold", "-0.1"],
    ["bokeh", "--quality", "0"],
    ["bokeh", "--quality", "101"],
    ["bokeh", "--format", "gif"],
    ["bokeh", "--png-compression", "ultra"],
    ["bokeh", "--workers", "0"],
    ["bokeh", "--workers", "lots"],
    ["bokeh", "--device", "gpu"],
    ["rembg-blur", "--radius", "51"],
    ["rembg-blur", "--radius", "2.5"],
    ["rembg-blur", "--cutout", "--only-mask"],
    ["depth", "--focal-selector", "a,b"],
    ["depth", "--focal-selector", "2,0"],
    ["depth", "--focal-selector", "0.5"],
    ["depth", "--focal-distance", "101"],
    ["depth", "--coc-scale", "2"],
    ["depth", "--depth-kind", "height"],
    ["depth", "--ps-options", "{not json"],
    ["depth", "--ps-options", '{"hazee": 3}'],
    ["depth", "--ps-options", "@/nonexistent/options.json"],
    ["depth", "--ps-output", '{"quality": 13}'],
    ["depth", "--seed", "-1"],
    ["depth", "--depth-map", "d/{nope}.png"],
]


@pytest.mark.parametrize("args", BAD_OPTIONS, ids=[" ".join(a) for a in BAD_OPTIONS])
def test_a_bad_option_exits_2_naming_it_and_writes_nothing(tmp_path, args):
    photo = small_png(tmp_path / "p.png")
    result = cli(args[0], photo, *args[1:], "-o", tmp_path / "o.png", "--offline", code=2)
    option = next(a for a in reversed(args[1:]) if a.startswith("--"))
    assert option in result.stderr or option.lstrip("-") in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("output", ["x.gif", "x.bmp", "x.txt"])  # (.heic and .avif are written: test_phone_photos)
def test_an_output_suffix_that_cannot_be_written_exits_2(tmp_path, output):
    photo = small_png(tmp_path / "p.png")
    result = cli("gaussian", photo, "-o", tmp_path / output, "--offline", code=2)
    assert Path(output).suffix in result.stderr
    assert not (tmp_path / output).exists()


# ---------------------------------------------------------------------------
# Outputs: nothing replaced by surprise
# ---------------------------------------------------------------------------


def test_an_existing_output_is_refused_before_any_work_and_kept(tmp_path, monkeypatch):
    from depthblur_cli.imaging import codec

    photo = small_png(tmp_path / "p.png")
    out = tmp_path / "o.png"
    out.write_bytes(b"precious")
    decoded = []
    real = codec.load_image
    monkeypatch.setattr(codec, "load_image", lambda *a, **k: decoded.append(a) or real(*a, **k))
    result = cli("bokeh", photo, "-o", out, "--offline", code=1)
    assert "--overwrite" in one_line_error(result.stderr)
    assert out.read_bytes() == b"precious" and decoded == []  # refused before the photo was even decoded


def test_an_input_is_never_overwritten_even_with_overwrite(tmp_path):
    photo = small_png(tmp_path / "p.png")
    before = photo.read_bytes()
    result = cli("bokeh", photo, "-o", photo, "--offline", "--overwrite", code=1)
    assert "input" in one_line_error(result.stderr)
    assert photo.read_bytes() == before


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_device_is_never_replaced(tmp_path):
    photo = small_png(tmp_path / "p.png")
    result = cli("gaussian", photo, "-o", "/dev/null", "--format", "png", "--overwrite", "--offline", code=1)
    assert "regular file" in one_line_error(result.stderr)
    assert Path("/dev/null").is_char_device()


def test_model_files_given_as_paths_are_protected(tmp_path):
    import shutil

    from depthblur_cli.models import paths

    model = tmp_path / "matting-model"  # a model file named without .onnx: only its protection keeps it
    shutil.copy(paths.bundled_dir() / "u2netp.onnx", model)
    before = model.read_bytes()
    photo = small_png(tmp_path / "p.png")
    result = cli("gaussian", photo, "-m", model, "-o", model, "--format", "png", "--overwrite", "--offline", code=1)
    assert "input" in one_line_error(result.stderr)
    assert model.read_bytes() == before
    onnx_file = tmp_path / "m.onnx"
    shutil.copy(model, onnx_file)
    cli("gaussian", photo, "-m", onnx_file, "-o", onnx_file, "--overwrite", "--offline", code=2)  # not an image suffix
    assert onnx_file.read_bytes() == before


def test_a_side_output_clash_leaves_no_main_output(tmp_path):
    photo = small_png(tmp_path / "p.png")
    (tmp_path / "o.mask.png").write_bytes(b"mine")
    result = cli("bokeh", photo, "-o", tmp_path / "o.png", "--save-mask", "--offline", code=1)
    assert "o.mask.png" in one_line_error(result.stderr)
    assert not (tmp_path / "o.png").exists() and (tmp_path / "o.mask.png").read_bytes() == b"mine"


def test_several_inputs_to_one_file_or_stdout_exit_2(tmp_path):
    a, b = small_png(tmp_path / "a.png"), small_png(tmp_path / "b.png")
    cli("gaussian", a, b, "-o", tmp_path / "one.png", "--offline", code=2)
    cli("gaussian", a, b, "-o", "-", "--offline", code=2)


def test_cutout_to_jpeg_fails_one_line(tmp_path):
    photo = small_png(tmp_path / "p.png")
    result = cli("rembg-blur", photo, "--cutout", "-o", tmp_path / "c.jpg", "--offline", code=1)
    assert "JPEG" in one_line_error(result.stderr) and not (tmp_path / "c.jpg").exists()


# ---------------------------------------------------------------------------
# Models: exit 3, the batch stops, every input still has a record
# ---------------------------------------------------------------------------


def _model(path: Path, in_shape, out_shape) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    if len(in_shape) == len(out_shape):
        node = helper.make_node("Identity", ["x"], ["y"])
    else:
        node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=0)
    graph = helper.make_graph([node], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


@pytest.mark.parametrize(
    "make, named",
    [
        (lambda d: d / "missing.onnx", "not found"),
        (lambda d: (d / "junk.onnx").write_bytes(b"junk") and d / "junk.onnx", "not a valid ONNX model"),
        (lambda d: _model(d / "rank3.onnx", [1, 320, 320], [1, 320, 320]), "not a matting model"),
        (lambda d: _model(d / "vector.onnx", [1, 3, 32, 32], [1, 3]), "expected one (h, w) map"),
        (lambda d: "no-such-model", "unknown model"),
    ],
)
def test_a_bad_matting_model_exits_3_and_the_rest_is_not_processed(tmp_path, make, named):
    model = make(tmp_path)
    a, b = small_png(tmp_path / "in" / "a.png"), small_png(tmp_path / "in" / "b.png")
    result = cli("gaussian", a, b, "-m", model, "-o", tmp_path / "out/", "--offline", "--json", code=3)
    assert named in one_line_error(result.stderr)
    statuses = [r["status"] for r in records(result.stdout)]
    assert statuses == ["error", "not_processed"]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_an_uncached_catalog_model_offline_exits_3_with_the_way_out(tmp_path):
    photo = small_png(tmp_path / "p.png")
    result = cli("depth", photo, "--depth-model", "midas-v21-small", "-o", tmp_path / "o.png", "--offline", code=3)
    line = one_line_error(result.stderr)
    assert "midas-v21-small" in line and "--depth-model PATH" in line


# ---------------------------------------------------------------------------
# Idempotent re-runs, skip, dry run, workers, the report
# ---------------------------------------------------------------------------


def test_running_twice_on_a_folder_never_blurs_its_own_outputs(tmp_path):
    folder = tmp_path / "shop"
    small_png(folder / "cat.png")
    small_png(folder / "dog.png")
    cli("bokeh", folder, "--offline", "-q")
    assert sorted(p.name for p in folder.iterdir()) == ["cat.bokeh.png", "cat.png", "dog.bokeh.png", "dog.png"]
    result = cli("bokeh", folder, "--offline", "--skip-existing", "--json")
    assert [r["status"] for r in records(result.stdout)] == ["skipped", "skipped"]
    assert sorted(p.name for p in folder.iterdir()) == ["cat.bokeh.png", "cat.png", "dog.bokeh.png", "dog.png"]
    result = cli("bokeh", folder, "--offline", "--overwrite", "-q")
    assert sorted(p.name for p in folder.iterdir()) == ["cat.bokeh.png", "cat.png", "dog.bokeh.png", "dog.png"]


def test_dry_run_writes_nothing_and_says_what_would_happen(tmp_path):
    folder = tmp_path / "in"
    small_png(folder / "a.png")
    small_png(folder / "b.png")
    small_png(folder / "a.gaussian.png")  # a whole PNG: done
    (folder / "b.gaussian.png").write_bytes(b"x")  # not an image: made again
    result = cli("gaussian", folder, "--dry-run", "--skip-existing", "--json", "--offline")
    plans = {Path(r["input"]).name: r for r in records(result.stdout)}
    assert plans["a.png"]["plan"].startswith("skip") and plans["b.png"]["plan"].startswith("redo")
    assert all(r["status"] == "planned" for r in plans.values())
    assert sorted(p.name for p in folder.iterdir()) == ["a.gaussian.png", "a.png", "b.gaussian.png", "b.png"]


def test_workers_give_the_same_bytes_as_one_process(tmp_path):
    folder = tmp_path / "in"
    for i in range(4):
        small_png(folder / f"p{i}.png", size=(96 + 8 * i, 64))
    cli("bokeh", folder, "-o", tmp_path / "one/", "--offline", "-q", "-j", "1")
    result = cli("bokeh", folder, "-o", tmp_path / "two/", "--offline", "-j", "2", "--json")
    assert [r["status"] for r in records(result.stdout)] == ["ok"] * 4
    for i in range(4):
        assert (tmp_path / "one" / f"p{i}.png").read_bytes() == (tmp_path / "two" / f"p{i}.png").read_bytes()


def test_a_killed_worker_process_breaks_no_input(tmp_path):
    """A pool process killed mid-batch: a new pool takes what was not done; every output is still the same."""
    import multiprocessing
    import threading

    folder = tmp_path / "in"
    n = 16
    for i in range(n):
        small_png(folder / f"p{i:02d}.png", size=(320 + 8 * i, 240))
    cli("gaussian", folder, "-o", tmp_path / "one/", "--offline", "-q", "-j", "1")
    killed: list[int] = []

    def kill_one_once_busy() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            children = multiprocessing.active_children()
            if len(children) >= 2 and any((tmp_path / "two").glob("p*.png")):  # both up, outputs coming
                victim = children[0]
                os.kill(victim.pid, signal.SIGKILL)
                killed.append(victim.pid)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_one_once_busy)
    killer.start()
    result = cli("gaussian", folder, "-o", tmp_path / "two/", "--offline", "-j", "2", "--json")
    killer.join()
    assert killed
    rows = records(result.stdout)
    assert [Path(r["input"]).name for r in rows] == [f"p{i:02d}.png" for i in range(n)]
    assert {r["status"] for r in rows} <= {"ok", "skipped"}
    for i in range(n):
        name = f"p{i:02d}.png"
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert not list((tmp_path / "two").glob(".*.depthblur.tmp"))  # the killed worker's temp file is gone too


def test_the_json_file_holds_one_valid_record_per_input(tmp_path):
    good = small_png(tmp_path / "in" / "good.png")
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"nope")
    report = tmp_path / "report.jsonl"
    cli("rembg-blur", good, bad, tmp_path / "missing.png", "-o", tmp_path / "out/", "--offline",
        "--json-file", report, code=1)  # fmt: skip
    rows = records(report.read_text())
    assert {Path(r["input"]).name: r["status"] for r in rows} == {"missing.png": "error", "good.png": "ok",
                                                                  "bad.png": "error"}  # fmt: skip
    assert all(r["command"] == "rembg-blur" for r in rows)
    assert next(r for r in rows if r["status"] == "ok")["provider"] == "CPUExecutionProvider"


def _run(args, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "depthblur_cli", *map(str, args)], env=env, **kwargs)


def test_with_the_image_on_stdout_stderr_carries_only_json_records(tmp_path):
    photo = small_png(tmp_path / "p.png")
    proc = _run(["gaussian", "-", "-o", "-", "--json", "--offline"], input=photo.read_bytes(), capture_output=True)
    assert proc.returncode == 0
    assert proc.stdout.startswith(b"\x89PNG")  # the input's format
    (record,) = records(proc.stderr.decode())
    assert record["status"] == "ok" and record["output"] == "-"


def test_stdin_jpeg_comes_out_as_jpeg(tmp_path):
    jpeg = tmp_path / "in.jpg"
    with Image.open(EXAMPLES / "chelsea.png") as im:
        im.convert("RGB").resize(SMALL).save(jpeg, "JPEG")
    proc = _run(["gaussian", "-", "-o", "-", "--offline"], input=jpeg.read_bytes(), capture_output=True)
    assert proc.returncode == 0 and proc.stdout.startswith(b"\xff\xd8\xff")


def test_sigterm_stops_with_a_summary_exit_143_and_no_temporary_files(tmp_path):
    folder = tmp_path / "in"
    for i in range(30):
        small_png(folder / f"p{i:02d}.png", size=(400, 300))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "depthblur_cli", "bokeh", str(folder), "-o", f"{out}/", "--offline",
                             "--json-file", str(tmp_path / "r.jsonl")], stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and not (out.exists() and any(out.glob("*.png"))):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    assert b"terminated" in err and b"not processed" in err
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    rows = records((tmp_path / "r.jsonl").read_text())
    assert len(rows) == 30 and {r["status"] for r in rows} <= {"ok", "not_processed"}


def test_a_killed_runs_temporary_files_are_removed_by_the_next_run(tmp_path):
    photo = small_png(tmp_path / "p.png")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".{dead.stdout.strip()}-abc.depthblur.tmp"
    stale.write_bytes(b"half an image")
    live = tmp_path / f".{os.getpid()}-xyz.depthblur.tmp"  # a run still going: left alone
    live.write_bytes(b"being written")
    cli("gaussian", photo, "-o", tmp_path / "o.png", "--offline", "-q")
    assert not stale.exists() and live.exists()


def test_grayscale_and_16_bit_inputs_keep_their_kind_and_metadata_can_be_stripped(tmp_path):
    gray = small_png(tmp_path / "g.png", mode="L")
    cli("gaussian", gray, "-o", tmp_path / "g_out.png", "--offline")
    with Image.open(tmp_path / "g_out.png") as im:
        assert im.mode == "L"
    deep = tmp_path / "d16.png"
    Image.fromarray((np.linspace(0, 65535, 96 * 64).reshape(64, 96)).astype(np.uint16)).save(deep)
    cli("gaussian", deep, "-o", tmp_path / "d_out.png", "--offline")
    with Image.open(tmp_path / "d_out.png") as im:
        assert im.mode.startswith("I")  # 16 bits kept
    exif = Image.Exif()
    exif[0x8825] = {2: (1.0, 2.0, 3.0)}  # GPS
    tagged = tmp_path / "t.jpg"
    with Image.open(EXAMPLES / "chelsea.png") as im:
        im.convert("RGB").resize(SMALL).save(tagged, exif=exif)
    cli("gaussian", tagged, "-o", tmp_path / "kept.jpg", "--offline")
    cli("gaussian", tagged, "-o", tmp_path / "stripped.jpg", "--offline", "--strip-metadata")
    with Image.open(tmp_path / "kept.jpg") as kept, Image.open(tmp_path / "stripped.jpg") as stripped:
        assert 0x8825 in kept.getexif() and 0x8825 not in stripped.getexif()


@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_a_reader_that_goes_away_is_an_error_not_a_silent_success(tmp_path, unbuffered):
    # `depthblur ... -o - | head -c 100`: unbuffered (python -u) stdout takes part of a write per call
    photo = small_png(tmp_path / "p.png", size=(400, 300))
    env = dict(os.environ, PYTHONUNBUFFERED=unbuffered)
    proc = subprocess.Popen([sys.executable, "-m", "depthblur_cli", "gaussian", str(photo), "-o", "-", "--offline"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert len(proc.stdout.read(100)) == 100
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1, err
    assert one_line_error(err).startswith("error: -: cannot write to standard output")


def test_a_batch_on_a_terminal_shows_its_progress_and_reports_every_failure():
    from io import StringIO

    from rich.console import Console

    from depthblur_cli.batch.run import run_batch
    from depthblur_cli.errors import EXIT_FAILED
    from depthblur_cli.pipeline.outputs import OutputPlan
    from depthblur_cli.pipeline.records import Record

    plans = [OutputPlan(f"in{i}.jpg", f"out{i}.jpg", "JPEG") for i in range(3)]
    records = [
        Record(input="in0.jpg", output="out0.jpg"),
        Record(input="in1.jpg", output=None, status="error", error={"code": "input", "message": "in1.jpg: bad"}),
        Record(input="in2.jpg", output="out2.jpg"),
    ]
    screen = StringIO()
    console = Console(file=screen, force_terminal=True, width=100, highlight=False)
    assert run_batch(plans, iter(records), command="gaussian", stderr=console) == EXIT_FAILED
    shown = screen.getvalue()
    assert "3/3" in shown  # the bar counted every input
    assert "2 written, 1 failed" in shown and "in1.jpg: bad" in shown
