"""Off-screen rendering: VTK renders through EGL where there is no X display (servers, CI)."""

from __future__ import annotations

import os


def use_offscreen_rendering() -> None:
    """Make VTK render through EGL when no ``DISPLAY`` is set; call before the first render window."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
