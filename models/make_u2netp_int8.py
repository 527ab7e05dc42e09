"""Build ``u2netp_int8.onnx`` from the bundled ``u2netp.onnx``: onnxruntime's static int8 quantisation.

The recipe of ``../shared/models/README.md`` (where a copy made by the same
recipe was first measured): the model converted to opset 17, shape
inference (``quant_pre_process``), then ``quantize_static`` in QDQ format,
per channel, uint8 activations and int8 weights, MinMax calibration, with
seven nodes kept in float: the five at the end of decoder stage 2 and its
residual add (quantised too, they leave holes in the subject: IoU 0.81),
and the input convolution with its ReLU: quantising the normalised photo
and the first 64 feature maps made the network's raw 320 x 320 output differ
from fp32's by a mean |d alpha| of 0.028 on 144 photo variants, where fp32
itself moves by 0.0055 under +-1 level of noise; kept in float, 0.0078 (on
the refined, full-size matte: 0.0243, 0.0029 and 0.0052; a stage-by-stage
sweep with onnxruntime's ``qdq_loss_debug`` found every other stage
harmless; ``benchmarks/bench_int8_matte.py``).

Calibration: the example photos in ``examples/`` (licences in its README),
each also mirrored, preprocessed exactly as depthblur feeds u2netp (a
320 x 320 squash-resize, ImageNet mean and std). Deterministic for a given
onnx / onnxruntime version; the file's SHA-256 goes in ``catalog.json``.

    python models/make_u2netp_int8.py            # writes models/u2netp_int8.onnx, prints its SHA-256
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.calibrate import CalibrationMethod
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
KEPT_IN_FLOAT = ["Conv_0", "Relu_1", "Resize_785", "Concat_786", "Conv_787", "Relu_788", "Add_789"]
MEAN, STD = np.float32([0.485, 0.456, 0.406]), np.float32([0.229, 0.224, 0.225])


def _inputs() -> list[np.ndarray]:
    batches = []
    for path in sorted((ROOT / "examples").glob("*.png")):
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB").resize((320, 320), Image.BILINEAR), np.float32) / 255.0
        for view in (rgb, rgb[:, ::-1]):
            x = ((view - MEAN) / STD).transpose(2, 0, 1)[None]
            batches.append(np.ascontiguousarray(x, np.float32))
    return batches


class _Reader(CalibrationDataReader):
    def __init__(self, name: str) -> None:
        self._items = iter([{name: x} for x in _inputs()])

    def get_next(self):
        return next(self._items, None)


def build(out: Path) -> str:
    """Write the int8 model to ``out``; its SHA-256."""
    with tempfile.TemporaryDirectory() as tmp:
        model = onnx.load(ROOT / "models" / "u2netp.onnx")
        converted = Path(tmp) / "opset17.onnx"
        onnx.save(version_converter.convert_version(model, 17), converted)
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(converted), str(prepared), skip_symbolic_shape=True)
        name = onnx.load(prepared).graph.input[0].name
        quantize_static(
            str(prepared),
            str(out),
            _Reader(name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=KEPT_IN_FLOAT,
        )
    return hashlib.sha256(out.read_bytes()).hexdigest()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models" / "u2netp_int8.onnx"
    print(build(target), target.stat().st_size if target.exists() else 0)
