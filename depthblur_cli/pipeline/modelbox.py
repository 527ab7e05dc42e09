"""The models a batch needs, resolved lazily, loaded once per process, on the chosen device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from depthblur_cli.errors import ModelError
from depthblur_cli.estimation.matte import estimate_matte
from depthblur_cli.models import catalog, sessions, store
from depthblur_cli.options import defaults


class ModelBox:
    """The models a batch needs, resolved lazily and loaded once.

    Args:
        matte_model: catalog name or ``.onnx`` path of the matting model, or
            ``"auto"`` (the default): the one
            :func:`~depthblur_cli.models.sessions.matte_model_for` picks for
            this machine and device (``u2netp-int8`` on a CPU with fast int8
            instructions, else ``u2netp``).
        depth_model: catalog name or path of the depth model, or None for
            "the catalog default if it is already cached, else none".
        allow_download: fetch missing catalog models (False = offline).
        progress: show download progress bars.
        device: ``--device`` (``auto``, ``cpu``, ``cuda``, ...; see
            :func:`~depthblur_cli.models.sessions.providers_for`).
        threads: onnxruntime intra-op threads per session (None: every core).

    Raises (constructor):
        ModelError: an unknown device name.
    """

    def __init__(
        self,
        matte_model: str = defaults.MATTE_MODEL,
        depth_model: str | None = None,
        *,
        allow_download: bool = True,
        progress: bool = True,
        device: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.matte_model = matte_model
        self.depth_model = depth_model
        self.allow_download = allow_download
        self.progress = progress
        self.providers, self.device_warning = sessions.providers_for(device)
        self.threads = threads
        self._matte: tuple[Any, Any] | None = None
        self._depth: tuple[Any, Any] | None = None
        self._depth_resolved = False
        self._offline_depth: tuple[Any, Any] | None = None

    def _session(self, path: Path) -> Any:
        return sessions.get_session(path, providers=self.providers, threads=self.threads)

    @property
    def provider(self) -> str:
        """The execution provider the sessions run on (``CPUExecutionProvider``, ``CUDAExecutionProvider``...)."""
        return self.providers[0]

    @property
    def matte_model_name(self) -> str:
        """The matting model's catalog name or path, ``"auto"`` resolved for this machine and device."""
        if self.matte_model == sessions.AUTO_MATTE:
            return sessions.matte_model_for(self.provider)[0]
        return self.matte_model

    def matte_session(self) -> tuple[Any, Any]:
        """(spec, session) of the matting model. Raises ModelError."""
        if self._matte is None:
            spec, path = store.resolve_model(
                self.matte_model_name, "matte", allow_download=self.allow_download, progress=self.progress
            )
            self._matte = (spec, self._session(path))
        return self._matte

    def depth_session(self) -> tuple[Any, Any] | None:
        """(spec, session) of the depth model, or None if none is available offline.

        Raises:
            ModelError: an explicitly requested model cannot be had.
        """
        if not self._depth_resolved:
            path: Path | None
            if self.depth_model is not None:
                spec, path = store.resolve_model(
                    self.depth_model, "depth", allow_download=self.allow_download, progress=self.progress
                )
            else:
                spec = catalog.get_spec(catalog.DEFAULT_DEPTH_MODEL)
                path = store.find_model(spec)
                if path is not None and not spec.bundled and not store.verify_cached(spec, path):
                    raise ModelError(store.corrupt_message(spec, path))  # names the fix, not onnxruntime's words
            self._depth = None if path is None else (spec, self._session(path))
            self._depth_resolved = True
        return self._depth

    def offline_depth_session(self) -> tuple[Any, Any]:
        """(spec, session) of the bundled offline depth network (FastDepth). Raises ModelError."""
        if self._offline_depth is None:
            spec, path = store.resolve_model(catalog.OFFLINE_DEPTH_MODEL, "depth", allow_download=False)
            self._offline_depth = (spec, self._session(path))
        return self._offline_depth

    @property
    def loaded_matte_model(self) -> str | None:
        """Name of the matting model if it has been loaded, else None."""
        return None if self._matte is None else self._matte[0].name

    def matte(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) float32 subject alpha 0..1 for an (H, W, 3) sRGB photo (float32 0..1 or uint8)."""
        spec, session = self.matte_session()
        return estimate_matte(rgb, session, spec)
