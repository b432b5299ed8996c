"""Shared input checks for every public entry point of :mod:`porelib`.

Each helper names the argument it checks and says what was expected and what
was found, so that the CLI can print the message as one line and the app can
show it with ``st.error``. Only ``ValueError`` and ``TypeError`` are raised.
"""

from __future__ import annotations

import numbers

import numpy as np

#: Largest edge length accepted for a grid; 512³ bool is 128 MiB.
MAX_GRID_SIZE = 512

#: Most voxels accepted in a volume of any box shape (as many as a 512³ grid).
MAX_VOXELS = MAX_GRID_SIZE**3


def describe(array: np.ndarray) -> str:
    """Return ``"shape (30, 30), dtype float64"`` for error messages."""
    return f"shape {tuple(array.shape)}, dtype {array.dtype}"


def check_density(density, arg_name: str = "density") -> float:
    """Return ``density`` as a float in [0, 1].

    Raises
    ------
    TypeError
        If ``density`` is not a real number.
    ValueError
        If it is NaN, infinite or outside [0, 1].
    """
    if isinstance(density, bool) or not isinstance(density, numbers.Real):
        raise TypeError(f"{arg_name} must be a number in [0, 1]; got {type(density).__name__}")
    value = float(density)
    if not np.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{arg_name} must be in [0, 1]; got {density!r}")
    return value


def check_positive_int(value, arg_name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{arg_name} must be an integer; got {type(value).__name__}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ValueError(f"{arg_name} must be at least {minimum}{upper}; got {value}")
    return value


def check_finite(array: np.ndarray, arg_name: str) -> None:
    """Raise ``ValueError`` if a float array holds NaN or inf."""
    if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{arg_name} contains {bad} NaN or infinite value(s); expected finite numbers")


def check_numeric(array: np.ndarray, arg_name: str) -> None:
    """Raise ``TypeError`` unless ``array`` holds bools or real numbers."""
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{arg_name} must hold numbers or booleans; got dtype {array.dtype}"
            + (" (object arrays are refused: they may hide pickled code)" if array.dtype.kind == "O" else "")
        )


def check_binary(array: np.ndarray, arg_name: str) -> np.ndarray:
    """Return ``array`` as bool, accepting only bools or the values 0 and 1."""
    check_numeric(array, arg_name)
    if array.dtype == bool:
        return array
    check_finite(array, arg_name)
    ones = array == 1
    if not np.all(ones | (array == 0)):
        others = np.unique(array[~(ones | (array == 0))])[:5]
        raise ValueError(
            f"{arg_name} must hold only 0/1 (or True/False); found other values such as "
            f"{', '.join(repr(v.item()) for v in others)}. Threshold it first, e.g. grid > 0.5"
        )
    return ones


def check_cubic(shape: tuple[int, ...], arg_name: str) -> int:
    """Return the edge length of a cubic 3-D shape, else raise ``ValueError``."""
    if len(shape) != 3 or len(set(shape)) != 1:
        raise ValueError(f"{arg_name} must be a cubic 3-D grid (S, S, S); got shape {tuple(shape)}")
    size = int(shape[0])
    if size < 2:
        raise ValueError(f"{arg_name} must be at least 2 voxels along each axis; got shape {tuple(shape)}")
    if size > MAX_GRID_SIZE:
        raise ValueError(
            f"{arg_name} is {size}³ voxels; the largest grid accepted is {MAX_GRID_SIZE}³. Crop or downsample it"
        )
    return size


def check_grid(grid, arg_name: str = "grid") -> np.ndarray:
    """Return a cubic 3-D bool grid, ``grid[ix, iy, iz]``, ``True`` = pore.

    Accepts bool arrays and numeric arrays of 0/1.

    Raises
    ------
    TypeError
        If ``grid`` is not array-like of numbers.
    ValueError
        If it is not 3-D and cubic, is too large, or holds values other than 0/1.
    """
    array = np.asarray(grid)
    if array.ndim != 3:
        raise ValueError(f"{arg_name} must be a 3-D grid (S, S, S); got {array.ndim}-D {describe(array)}")
    check_cubic(array.shape, arg_name)
    return check_binary(array, arg_name)


def check_box(array, arg_name: str = "volume", *, ndim: int = 3) -> np.ndarray:
    """Return a bool volume of any box shape (``ndim`` axes), accepting 0/1 numbers.

    A 3-D volume is ``volume[ix, iy, iz]`` and a 2-D image ``image[i, j]``, ``True`` = pore.

    Raises
    ------
    TypeError
        If ``array`` is not array-like of numbers.
    ValueError
        If it does not have ``ndim`` axes, is shorter than 2 voxels along one, has more
        than :data:`MAX_VOXELS` voxels, or holds values other than 0/1.
    """
    array = np.asarray(array)
    layout = "(X, Y, Z)" if ndim == 3 else "(rows, columns)" if ndim == 2 else f"with {ndim} axes"
    kind = "volume" if ndim == 3 else "image" if ndim == 2 else "array"
    if array.ndim != ndim:
        raise ValueError(f"{arg_name} must be a {ndim}-D {kind} {layout}; got {array.ndim}-D {describe(array)}")
    if min(array.shape) < 2:
        raise ValueError(f"{arg_name} must be at least 2 voxels along each axis; got shape {tuple(array.shape)}")
    if array.size > MAX_VOXELS:
        raise ValueError(
            f"{arg_name} has {array.size} voxels {tuple(array.shape)}; the most accepted is {MAX_VOXELS} "
            f"(a {MAX_GRID_SIZE}³ grid). Crop or downsample it"
        )
    return check_binary(array, arg_name)


def check_grids(grids, arg_name: str = "grids") -> np.ndarray:
    """Return a bool batch ``(N, S, S, S)``; a single ``(S, S, S)`` grid becomes ``N = 1``."""
    array = np.asarray(grids)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(
            f"{arg_name} must be a grid (S, S, S) or a batch (N, S, S, S); got {array.ndim}-D {describe(array)}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{arg_name} is an empty batch; expected at least one grid")
    check_cubic(array.shape[1:], arg_name)
    return check_binary(array, arg_name)


def check_same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("a", "b")) -> None:
    """Raise ``ValueError`` if two arrays differ in shape."""
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape; got {a.shape} and {b.shape}")


def check_volume(volume, arg_name: str = "volume", *, min_size: int = 4) -> np.ndarray:
    """Return a finite float32 3-D intensity volume ``(X, Y, Z)``.

    Raises
    ------
    ValueError
        If it is not 3-D, too small, holds NaN/inf, or is constant.
    """
    array = np.asarray(volume)
    check_numeric(array, arg_name)
    if array.ndim != 3:
        raise ValueError(f"{arg_name} must be a 3-D volume (X, Y, Z); got {array.ndim}-D {describe(array)}")
    if min(array.shape) < min_size:
        raise ValueError(f"{arg_name} must be at least {min_size} voxels along each axis; got shape {array.shape}")
    check_finite(array, arg_name)
    array = array.astype(np.float32, copy=False)
    if float(array.max()) == float(array.min()):
        raise ValueError(f"{arg_name} is constant ({float(array.min())!r}); there is nothing to segment")
    return array


def check_choice(value, choices, arg_name: str):
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{arg_name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def check_number(value, arg_name: str, *, minimum: float = -np.inf, maximum: float = np.inf) -> float:
    """Return ``value`` as a finite float in [minimum, maximum].

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If it is NaN, infinite or outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{arg_name} must be a number; got {type(value).__name__}")
    number = float(value)
    if not np.isfinite(number) or not minimum <= number <= maximum:
        bounds = [f"{sign} {bound:g}" for sign, bound in ((">=", minimum), ("<=", maximum)) if np.isfinite(bound)]
        expected = " ".join(["a finite number", " and ".join(bounds)]).strip()
        raise ValueError(f"{arg_name} must be {expected}; got {value!r}")
    return number


def check_progress(progress) -> None:
    """Raise ``TypeError`` unless ``progress`` is ``None`` or a callable ``progress(done, total)``."""
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(done, total) or None; got {type(progress).__name__}")
