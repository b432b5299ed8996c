"""Compression of one volume (a CT scan or a pore grid) to a ``.pnc`` file, by the method that suits it.

Methods (:data:`METHOD_CODECS`, one module each):

* ``sz3`` (:mod:`~porelib.compress.sz3`) and ``zfp`` (:mod:`~porelib.compress.zfp`):
  the error-bounded compressors scientists use, to a ratio, an absolute error or a PSNR;
* ``neural`` (:mod:`~porelib.compress.neural`): small coordinate networks fitted to
  the volume, to a ratio; better than SZ3 at high ratios on the benchmark scan, at
  hundreds of times its time;
* ``lzma`` (:mod:`~porelib.compress.lossless`): lossless;
* ``auto`` (:mod:`~porelib.compress.auto`): chooses among them per volume and
  target, within a time limit, and says why.

The ``.pnc`` container (:mod:`~porelib.compress.container`) records the method, so
:func:`decompress` needs no flag; version-1 files (neural only) are still read.
A blockwise DCT (:mod:`~porelib.compress.dct`) is a baseline measured beside them
(:mod:`~porelib.compress.compare`, ``python -m porelib bench compression``).

Every ratio is raw size / file size, raw = 4 bytes per voxel for a scan (float32)
and 1 bit per voxel for a grid (:mod:`~porelib.compress.volume`).

Names are imported from their submodule on first use (PEP 562), so that reading the method list
(:mod:`porelib.compress.names`) does not load torch.
"""

from importlib import import_module

_SUBMODULES = {
    "api": ("compress", "decompress"),
    "auto": ("AutoChoice", "Candidate", "choose"),
    "compare": (
        "ALL_METHODS", "DCT", "FAST_METHODS", "Comparison", "baseline_rows", "best_by_ratio", "compare_methods",
        "compressed_row", "curve_ratios", "lossless_row", "method_row", "pareto_front", "rate_distortion", "simulated_scan",
    ),
    "container": (
        "FORMAT_VERSION", "MAGIC", "SUFFIX", "Compressed", "from_bytes", "highest_ratio", "load_compressed",
        "save_compressed", "save_standard_stream",
    ),
    "errorbounded": ("Target",),
    "lossless": ("lzma_decode", "lzma_encode"),
    "methods": ("METHOD_CODECS", "check_target", "decode_with", "encode_with"),
    "names": ("CHOICES", "DEFAULT_MAX_SECONDS", "METHODS"),
    "neural": (
        "DEFAULT_BATCH_SIZE", "DEFAULT_BITS", "DEFAULT_STEPS", "NeuralCode", "QuantisedTensor",
        "TileGrid", "default_lr", "fit_field", "max_ratio", "plan_network", "quantise", "render_field",
    ),
    "scores": ("psnr", "quality", "ssim"),
    "volume": ("KINDS", "MAX_VOXELS", "check_volume", "raw_nbytes", "read_volume", "volume_kind", "write_volume"),
}
_WHERE = {name: module for module, names in _SUBMODULES.items() for name in names}
__all__ = sorted(_WHERE)  # noqa: PLE0605 - computed from _SUBMODULES


def __getattr__(name: str):
    if name not in _WHERE:
        try:  # a submodule: porelib.compress.neural, ...
            return import_module(f"porelib.compress.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"porelib.compress.{name}":
                raise
            raise AttributeError(f"module 'porelib.compress' has no attribute {name!r}") from None
    value = getattr(import_module(f"porelib.compress.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
