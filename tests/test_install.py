"""The wheel is complete: built from the source tree, installed into a fresh
virtual environment, it runs ``depthblur rembg-blur --offline`` with the
bundled matting model it carries (not the repository's copy).

The new environment gets the package from the wheel only (``--no-deps``);
its third-party dependencies (NumPy, onnxruntime, ...) come from the
environment running the tests through a ``.pth`` line naming that
environment's site-packages directory. Lines of a ``.pth`` file only extend
``sys.path``: the ``.pth`` files inside that directory (the editable install
of the repository) are not run, so ``import depthblur_cli`` can only find the
installed wheel. The commands run from a directory outside the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = "depthblur_cli/model_files/"


def _run(cmd, *, cwd, env=None, timeout=180) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def _build_wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the source tree (so no build/ or
    egg-info lands in the repository)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "depthblur_cli", src / "depthblur_cli", ignore=ignore)
    shutil.copytree(ROOT / "depthblur", src / "depthblur", ignore=ignore)
    shutil.copytree(ROOT / "models", src / "models", ignore=ignore)
    dist = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    if proc.returncode != 0:  # e.g. no 'build' module: fall back to pip
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, src], cwd=tmp_path, timeout=240)
    wheels = sorted(dist.glob("depthblur-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_installs_and_runs_offline_with_bundled_model(tmp_path):
    wheel = _build_wheel(tmp_path)

    # -- the wheel carries the model and the catalog ------------------------
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert BUNDLED + "u2netp.onnx" in names
        assert BUNDLED + "catalog.json" in names
        assert "depthblur_cli/cli/__init__.py" in names and "depthblur_cli/estimation/disparity.py" in names
        assert "depthblur/__init__.py" in names  # import depthblur: the alias under the command's name
        assert not any(n.startswith("depthblur_eval/") for n in names)  # tests and benchmarks only
        catalog = json.loads(zf.read(BUNDLED + "catalog.json"))
        onnx = zf.read(BUNDLED + "u2netp.onnx")
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "depthblur = depthblur_cli.cli:main" in zf.read(entry_points).decode()
    spec = next(m for m in catalog["models"] if m["name"] == "u2netp")
    # The real model (not a Git LFS pointer), byte for byte what the catalog pins.
    assert len(onnx) == spec["size"]
    assert hashlib.sha256(onnx).hexdigest() == spec["sha256"]

    # -- a fresh environment with only the wheel ----------------------------
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    py = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "--quiet", wheel],
        cwd=tmp_path,
    )
    site = Path(
        _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).stdout.strip()
    )
    deps = sysconfig.get_paths()["purelib"]  # the test environment's site-packages
    assert Path(deps).resolve() != site.resolve()
    (site / "_test_deps.pth").write_text(deps + "\n")

    work = tmp_path / "work"  # outside the repository
    work.mkdir()
    shutil.copy(ROOT / "examples" / "astronaut.png", work / "astronaut.png")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(DEPTHBLUR_HOME=str(home), PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1")

    where = _run(
        [py, "-c", "import depthblur_cli, numpy, onnxruntime; print(depthblur_cli.__file__)"], cwd=work, env=env
    ).stdout.strip()
    assert Path(where).resolve().is_relative_to(site.resolve()), where
    assert not Path(where).resolve().is_relative_to(ROOT.resolve())

    # The catalog lists the bundled model from the installed package.
    listing = _run([venv / "bin" / "depthblur", "models", "list", "--json"], cwd=work, env=env).stdout
    rows = {r["name"]: r for r in map(json.loads, listing.splitlines())}
    assert rows["u2netp"]["available"] is True
    assert Path(rows["u2netp"]["path"]).resolve() == (site / BUNDLED / "u2netp.onnx").resolve()

    # -- and it works, offline, with an empty model cache --------------------
    proc = _run(
        [venv / "bin" / "depthblur", "rembg-blur", "astronaut.png", "-o", "out.png", "--offline", "--save-mask"],
        cwd=work,
        env=env,
    )
    assert "error" not in proc.stderr
    with Image.open(work / "out.png") as out, Image.open(work / "astronaut.png") as inp:
        assert out.size == inp.size == (512, 512)
        res = np.asarray(out.convert("L"), dtype=np.float64)
        src = np.asarray(inp.convert("L"), dtype=np.float64)
    mask = np.asarray(Image.open(work / "out.mask.png").convert("L"), dtype=np.float64) / 255
    # The model really ran: the face is the subject and kept, the backdrop is blurred.
    face = (slice(100, 141), slice(205, 246))
    assert mask[face].min() > 0.9 and mask[:24, :24].max() < 0.1
    assert np.array_equal(res[face], src[face])
    backdrop = (slice(0, 40), slice(300, 360))
    assert np.diff(res[backdrop], axis=1).std() < 0.5 * np.diff(src[backdrop], axis=1).std()
    # Nothing was downloaded or cached.
    assert not (home / "models").exists() or not any((home / "models").iterdir())
