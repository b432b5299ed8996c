"""The names of the compression methods and ``auto``'s time limit: importable without numpy's heavier users or torch.

The CLI builds its ``--method`` choices from here; :mod:`porelib.compress.methods`
registers one codec per name, in this order, and the ``.pnc`` container stores a
method as its index in :data:`METHODS`.
"""

#: Methods a ``.pnc`` may hold, by their code in the file.
METHODS = ("neural", "sz3", "zfp", "lzma")
#: What ``method=`` accepts.
CHOICES = ("auto", *METHODS)
#: Seconds ``auto`` takes at most unless told otherwise.
DEFAULT_MAX_SECONDS = 60.0
