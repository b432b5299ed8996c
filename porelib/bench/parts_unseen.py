"""Parts no family of the generator makes, built by hand for ``bench parts`` (an out-of-family check).

Each is a watertight manifold3d solid in millimetres, in the pose a designer would draw it
(z up). None of their shapes is a family of :mod:`porelib.parts.generator` (tori, spheres,
wedges, forks, tees, wheels with spokes), though they share its features (bores, holes,
chamfers). They stand in for "real CAD parts no one here made", which this machine cannot
download: a rough check of how the model does away from its training distribution.
"""

from __future__ import annotations

import numpy as np

SEGMENTS = 48


def _m():
    import manifold3d

    return manifold3d


def _cyl(h, r, *, x=0.0, y=0.0, z=0.0, top=None):
    return _m().Manifold.cylinder(h, r, -1.0 if top is None else top, SEGMENTS).translate((x, y, z))


def _box(sx, sy, sz, *, x=0.0, y=0.0, z=0.0):
    return _m().Manifold.cube((sx, sy, sz), True).translate((x, y, z))


def hex_nut():
    cross = _m().CrossSection
    body = cross.circle(20.0, 6).extrude(16.0)
    cone = _cyl(8.0, 23.0, top=15.0).translate((0, 0, 8.0)) + _cyl(8.0, 15.0, top=23.0)
    return (body ^ cone) - _cyl(20, 9.0, z=-2)


def pipe_elbow():
    cross = _m().CrossSection
    ring = cross.circle(10.0, SEGMENTS).translate((30.0, 0.0)) - cross.circle(7.0, SEGMENTS).translate((30.0, 0.0))
    bend = ring.revolve(SEGMENTS * 2, 90.0)
    flange = (_cyl(4, 16.0, x=30.0) - _cyl(6, 7.0, x=30.0, z=-1)).translate((0, 0, -4))
    return bend + flange


def handwheel():
    cross = _m().CrossSection
    rim = cross.circle(5.0, SEGMENTS).translate((45.0, 0.0)).revolve(SEGMENTS * 2)
    hub = _cyl(14, 10.0, z=-7) - _cyl(16, 5.0, z=-8)
    spokes = [_box(40.0, 5.0, 5.0, x=25.0).rotate((0, 0, angle)) for angle in (0, 90, 180, 270)]
    return _m().Manifold.batch_boolean([rim, hub, *spokes], _m().OpType.Add) - _cyl(16, 5.0, z=-8)


def tee_pipe():
    along_x = _cyl(80, 12.0).rotate((0, 90, 0)).translate((-40, 0, 0))
    up = _cyl(40, 12.0)
    bore_x = _cyl(82, 8.0).rotate((0, 90, 0)).translate((-41, 0, 0))
    bore_up = _cyl(42, 8.0)
    return along_x + up - bore_x - bore_up


def wedge_block():
    base = _box(60, 40, 10, z=5)
    top = _box(2, 40, 1, x=-29, z=34.5)
    wedge = _m().Manifold.batch_hull([base, top])
    return wedge - _cyl(40, 6.0, x=10, z=-1) - _box(20, 12, 50, x=-20, z=20)


def clevis():
    fork = _box(40, 30, 40, z=20) - _box(42, 14, 30, z=30)
    pin = _cyl(50, 5.0).rotate((90, 0, 0)).translate((0, 25, 28))
    shank = _cyl(30, 8.0, z=-30)
    return fork + shank - pin - _cyl(20, 4.0, z=-32)


def pillow_block():
    base = _box(90, 30, 12, z=6)
    boss = _cyl(30, 20.0).rotate((90, 0, 0)).translate((0, 15, 30))
    web = _box(40, 30, 20, z=20)
    bore = _cyl(40, 12.0).rotate((90, 0, 0)).translate((0, 20, 30))
    holes = _cyl(20, 4.0, x=-35, z=-1) + _cyl(20, 4.0, x=35, z=-1)
    return base + boss + web - bore - holes


def knob():
    sphere = _m().Manifold.sphere(18.0, SEGMENTS).translate((0, 0, 40))
    stem = _cyl(30, 7.0, z=10)
    collar = _cyl(10, 14.0, top=9.0)
    return sphere + stem + collar - _cyl(20, 3.0, z=-1)


#: The hand-made parts, by name.
UNSEEN = {
    "hex nut": hex_nut, "pipe elbow": pipe_elbow, "handwheel": handwheel, "tee pipe": tee_pipe,
    "wedge block": wedge_block, "clevis": clevis, "pillow block": pillow_block, "knob": knob,
}  # fmt: skip


def unseen_meshes() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (vertices (V, 3) float64 mm, faces (F, 3) int64)}`` of :data:`UNSEEN`."""
    meshes = {}
    for name, build in UNSEEN.items():
        mesh = build().to_mesh()
        meshes[name] = (np.asarray(mesh.vert_properties, dtype=np.float64)[:, :3],
                        np.asarray(mesh.tri_verts, dtype=np.int64))
        del mesh
    return meshes


__all__ = ["UNSEEN", "unseen_meshes"]
