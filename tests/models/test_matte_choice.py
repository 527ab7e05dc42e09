"""``--model auto`` (the default): the int8 matte on a CPU with fast int8 instructions, float32 elsewhere."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import cli, small_copy
from PIL import Image

from depthblur_cli.models import sessions
from depthblur_cli.pipeline.modelbox import ModelBox


@pytest.mark.parametrize(
    ("lines", "feature"),
    [
        ("flags\t\t: fpu sse4_2 avx avx2 fma\n", "avx2"),
        ("flags\t\t: fpu avx2 avx512f avx512_vnni amx_int8\n", "amx_int8"),  # the best one first
        ("flags\t\t: fpu avx avx_vnni avx2\n", "avx_vnni"),
        ("Features\t: fp asimd evtstrm aes asimddp sha512\n", "asimddp"),  # ARM
        ("flags\t\t: fpu sse4_2 avx\n", None),  # no AVX2: no fast int8 path
        ("model name\t: avx2 in a name is no flag\n", None),
    ],
)
def test_the_cpus_int8_instructions_are_read_from_its_flags(tmp_path, lines, feature):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\n" + lines, encoding="ascii")
    assert sessions.int8_dot_products(str(cpuinfo)) == feature
    assert sessions.int8_dot_products(str(tmp_path / "absent")) is None  # not Linux: no guess


def test_auto_picks_int8_on_a_fast_int8_cpu_and_float32_on_others_and_on_a_gpu(monkeypatch):
    monkeypatch.setattr(sessions, "int8_dot_products", lambda: "avx512_vnni")
    name, reason = sessions.matte_model_for("CPUExecutionProvider")
    assert name == "u2netp-int8" and "avx512_vnni" in reason
    assert sessions.matte_model_for("CUDAExecutionProvider") == (
        "u2netp",
        "u2netp (float32): the models run on CUDA",
    )
    monkeypatch.setattr(sessions, "int8_dot_products", lambda: None)
    name, reason = sessions.matte_model_for("CPUExecutionProvider")
    assert name == "u2netp" and "no fast int8" in reason
    assert ModelBox().matte_model_name == "u2netp"  # the default is "auto"
    assert ModelBox("u2netp-int8").matte_model_name == "u2netp-int8"  # a name given is kept


def test_a_default_run_uses_and_reports_the_model_doctor_names(tmp_path):
    """The record of a default run names the model ``doctor`` says ``auto`` picks here; ``-m`` overrides it,
    and both give the astronaut's subject (IoU of the written mattes at 0.5 >= 0.98)."""
    doctor = json.loads(cli("doctor", "--json").stdout)
    picked = doctor["matte_model_auto"]["name"]
    assert picked == sessions.matte_model_for(doctor["device_auto"])[0]
    rows = [json.loads(line) for line in cli("models", "list", "--json").stdout.splitlines()]
    assert [r["name"] for r in rows if r["default"] and r["task"] == "matte"] == [picked]
    photo = small_copy("astronaut.png", tmp_path / "a.png", (256, 256))
    mattes, models = [], []
    for extra in ([], ["-m", "u2netp"], ["-m", "u2netp-int8"]):
        out = tmp_path / f"m{len(mattes)}.png"
        result = cli("rembg-blur", photo, "--only-mask", "-o", out, "--offline", "--json", *extra)
        models.append(json.loads(result.stdout.strip().splitlines()[-1])["matte_model"])
        with Image.open(out) as im:
            mattes.append(np.asarray(im.convert("L")) >= 128)
    assert models == [picked, "u2netp", "u2netp-int8"]
    inter, union = (mattes[1] & mattes[2]).sum(), (mattes[1] | mattes[2]).sum()
    assert inter / union >= 0.98
