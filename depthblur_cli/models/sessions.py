"""onnxruntime sessions, one per model file per process, and their tensor signatures.

Input / output names and shapes are read from the session, never assumed
(the matte and depth adapters call ``session.get_inputs()``): user models and
different exports of the same network name their tensors differently and may
have static or dynamic spatial dimensions. :func:`input_info` and
:func:`output_info` describe a model's signature as plain records.

Errors raise :class:`~depthblur_cli.errors.ModelError`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import onnxruntime

from depthblur_cli.errors import ModelError

onnxruntime.set_default_logger_severity(3)  # errors only: no telemetry or provider chatter on stderr

_SESSIONS: dict[tuple[Path, tuple[str, ...], int | None], onnxruntime.InferenceSession] = {}
_LOCK = threading.Lock()

#: onnxruntime element type -> numpy dtype name.
_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(bfloat16)": "bfloat16",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(uint16)": "uint16",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


@dataclass(frozen=True)
class TensorInfo:
    """Signature of one model input or output.

    Attributes:
        name: tensor name as the graph declares it (e.g. ``"input.1"``).
        shape: dimensions; ``None`` for a dynamic or symbolic dimension
            (e.g. ``(1, 3, None, None)``).
        dtype: numpy dtype name (``"float32"``, ``"int64"``, ...); for types
            without a numpy equivalent, onnxruntime's name without ``tensor()``.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: Environment variable choosing the device when ``--device`` is not given.
DEVICE_ENV = "DEPTHBLUR_DEVICE"
#: ``--device`` names -> onnxruntime execution providers, best first (the CPU always last).
DEVICES = {
    "cpu": ("CPUExecutionProvider",),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "rocm": ("ROCMExecutionProvider", "CPUExecutionProvider"),
    "coreml": ("CoreMLExecutionProvider", "CPUExecutionProvider"),
    "directml": ("DmlExecutionProvider", "CPUExecutionProvider"),
    "openvino": ("OpenVINOExecutionProvider", "CPUExecutionProvider"),
}
#: What ``auto`` tries, in order, before the CPU.
AUTO_ORDER = ("cuda", "rocm", "coreml", "directml")


def available_providers() -> list[str]:
    """onnxruntime's execution providers in this installation."""
    return list(onnxruntime.get_available_providers())


def providers_for(device: str) -> tuple[tuple[str, ...], str | None]:
    """The execution providers for a ``--device`` value, and a warning when it fell back to the CPU.

    Args:
        device: ``auto`` (the first of :data:`AUTO_ORDER` this installation
            has, else the CPU), or a name of :data:`DEVICES`.

    Returns:
        (providers, warning or None).

    Raises:
        ModelError: an unknown device name.
    """
    available = available_providers()
    if device == "auto":
        for name in AUTO_ORDER:
            if DEVICES[name][0] in available:
                return DEVICES[name], None
        return DEVICES["cpu"], None
    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}; use auto or one of: {', '.join(DEVICES)}")
    wanted = DEVICES[device]
    if wanted[0] in available:
        return wanted, None
    return DEVICES["cpu"], (
        f"device {device} is not available (onnxruntime has {', '.join(available)}): using the CPU; "
        "for a GPU install depthblur[gpu] (onnxruntime-gpu) with its CUDA libraries"
    )


def get_session(
    path: str | Path, *, providers: tuple[str, ...] = DEVICES["cpu"], threads: int | None = None
) -> onnxruntime.InferenceSession:
    """Return the onnxruntime session for the model at ``path``.

    One session is created per resolved path, providers and thread count
    per process and reused (it is thread-safe for ``run``). Graph
    optimisation level ALL, log severity 3 (errors only). onnxruntime's own
    CPU memory arena and memory-pattern planning are off: with them u2netp
    (320x320) held 465 MB after one run, without them it peaks at 365 MB,
    just as fast (0.115 s), and what it frees goes back to the process heap
    for the image arrays (see :mod:`depthblur_cli.memory`).

    Args:
        path: the ``.onnx`` file.
        providers: onnxruntime execution providers, best first
            (:func:`providers_for`).
        threads: intra-op threads (None: onnxruntime's default, every core).

    Raises:
        ModelError: the file does not exist ("model file not found") or
            onnxruntime cannot load it ("<path>: not a valid ONNX model (...)").
    """
    resolved = Path(path).expanduser().resolve()
    key = (resolved, tuple(providers), threads)
    with _LOCK:
        session = _SESSIONS.get(key)
        if session is not None:
            return session
        if not resolved.is_file():
            raise ModelError("model file not found", path=path)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(str(resolved), sess_options=options, providers=list(providers))
        except Exception as exc:  # onnxruntime raises several unrelated types
            raise ModelError(f"not a valid ONNX model ({_one_line(exc)})", path=path) from None
        _SESSIONS[key] = session
        return session


def clear_sessions() -> None:
    """Forget every cached session (tests; freeing memory)."""
    with _LOCK:
        _SESSIONS.clear()


def _info(args) -> list[TensorInfo]:
    infos = []
    for arg in args:
        shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or ()))
        kind = str(arg.type)
        dtype = _DTYPES.get(kind, kind.removeprefix("tensor(").removesuffix(")"))
        infos.append(TensorInfo(name=arg.name, shape=shape, dtype=dtype))
    return infos


def input_info(session: onnxruntime.InferenceSession) -> list[TensorInfo]:
    """Return the session's inputs in graph order (see :class:`TensorInfo`)."""
    return _info(session.get_inputs())


def output_info(session: onnxruntime.InferenceSession) -> list[TensorInfo]:
    """Return the session's outputs in graph order (see :class:`TensorInfo`)."""
    return _info(session.get_outputs())


#: CPU features (``/proc/cpuinfo`` flags) with which int8 inference is faster than float32, best
#: first: AMX and VNNI (x86) and the ARM dot product sum int8 products in 32 bits in one
#: instruction; AVX2's ``VPMADDUBSW`` multiplies and adds byte pairs (onnxruntime's u8s8 kernels).
INT8_FEATURES = ("amx_int8", "avx512_vnni", "avx_vnni", "asimddp", "avx2")
#: The ``--model`` value that picks the matting model per machine (:func:`matte_model_for`).
AUTO_MATTE = "auto"


def int8_dot_products(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """The CPU feature that makes int8 inference fast here, if it has one: the first of
    :data:`INT8_FEATURES` in ``cpuinfo``'s ``flags`` (x86) or ``Features`` (ARM) lines (Linux's
    ``/proc/cpuinfo``); None otherwise or where it cannot be read.
    Measured (``benchmarks/bench_int8_matte.py``, onnxruntime 1.32, one thread): u2netp-int8 takes
    2.45x less CPU than u2netp with AVX512-VNNI, 1.5-1.6x with AVX2 alone (an AMD EPYC)."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as fh:
            text = fh.read(1 << 20)
    except OSError:
        return None
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[-1].split())
    return next((f for f in INT8_FEATURES if f in flags), None)


def matte_model_for(provider: str) -> tuple[str, str]:
    """The matting model ``--model auto`` (the default) runs on this machine, and why.

    ``u2netp-int8`` where the sessions run on the CPU and it has one of
    :data:`INT8_FEATURES`; float32 ``u2netp`` on a GPU or any other execution
    provider (which run float32 natively) and on a CPU without them.

    Args:
        provider: the execution provider the sessions run on
            (``"CPUExecutionProvider"``, ``"CUDAExecutionProvider"``...).

    Returns:
        (catalog name, a one-line reason).
    """
    if provider != "CPUExecutionProvider":
        return "u2netp", f"u2netp (float32): the models run on {provider.removesuffix('ExecutionProvider')}"
    feature = int8_dot_products()
    if feature is None:
        return "u2netp", "u2netp (float32): this CPU has no fast int8 instructions (AMX, VNNI, AVX2, ARM dot product)"
    return "u2netp-int8", f"u2netp-int8: this CPU has {feature}, with which the int8 matte takes 1.5-2.5x less CPU"
