"""Parts built by hand for ``bench parts``: two out-of-family checks.

Each is a watertight manifold3d solid in millimetres, in the pose a designer would draw it
(z up). They stand in for "real CAD parts no one here made", which this machine cannot
download: a rough check of how the model does away from its training distribution.

:data:`UNSEEN` (the first set, 8 parts): when it was made, none of its shapes was a family
of :mod:`porelib.parts.generator` (tori, spheres, wedges, forks, tees, wheels with spokes).
Its weak parts then guided the six families added for issue 21 (``fitting``, ``wheel``,
``knob``, ``fastener``, ``fork``, ``wedge``), which make the same *kinds* of part (not
these parts), so it is no longer a clean out-of-family check.

:data:`UNSEEN_2` (the second set, 10 parts): drawn after those families were written and
before any model was scored on it, none of it used to choose families, settings or
checkpoints. Its parts are still not families of the generator, though some share
features with them (the ``profile`` family extrudes gear outlines; ``fastener`` makes
bolts, without threads; ``fitting`` makes flanged pipe ends).
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


def spur_gear():
    """A spur gear: 18 trapezoid teeth, a hub on one side, a bore with a keyway."""
    cross = _m().CrossSection
    teeth, root, tip = 18, 26.0, 31.0
    points = []
    for k in range(teeth):
        a = 2 * np.pi * k / teeth
        pitch = 2 * np.pi / teeth
        for da, r in ((-0.3, root), (-0.17, tip), (0.17, tip), (0.3, root)):
            points.append((r * np.cos(a + da * pitch), r * np.sin(a + da * pitch)))
    gear = cross([np.asarray(points)]).extrude(10.0)
    hub = _cyl(10.0, 12.0, z=9.99)
    return gear + hub - _cyl(24.0, 6.0, z=-2) - _box(3.0, 4.0, 24.0, y=6.5, z=10)


def hinge_leaf():
    """A butt-hinge leaf: a thin plate, three knuckles along one edge with a pin hole, countersunk holes."""
    plate = _box(50.0, 30.0, 3.0, y=-15.0 + 4.0, z=1.5)
    knuckles = [_cyl(10.0, 4.5).rotate((0, 90, 0)).translate((x, 4.0, 4.5)) for x in (-25.0, -5.0, 15.0)]
    leaf = _m().Manifold.batch_boolean([plate, *knuckles], _m().OpType.Add)
    pin = _cyl(54.0, 2.0).rotate((0, 90, 0)).translate((-27.0, 4.0, 4.5))
    holes = [_cyl(5.0, 2.2, x=x, y=-16.0, z=-1) + _cyl(2.01, 2.2, top=4.0, x=x, y=-16.0, z=1.0) for x in (-15.0, 15.0)]
    return leaf - pin - _m().Manifold.batch_boolean(holes, _m().OpType.Add)


def threaded_bolt():
    """A hexagon bolt whose shank carries 12 ring grooves (a thread drawn as grooves)."""
    cross = _m().CrossSection
    head = cross.circle(13.0, 6).extrude(8.0).translate((0, 0, 50.0))
    shank = _cyl(50.01, 8.0)
    grooves = [_cyl(1.2, 9.0, z=3.0 + 2.6 * k) - _cyl(1.4, 6.6, z=2.9 + 2.6 * k) for k in range(12)]
    return head + shank - _m().Manifold.batch_boolean(grooves, _m().OpType.Add)


def bearing_housing():
    """A two-bolt flanged bearing unit: a lozenge flange, a round boss, a bore, two bolt holes."""
    flange = _m().Manifold.batch_hull([_cyl(8.0, 22.0), _cyl(8.0, 9.0, x=-40.0), _cyl(8.0, 9.0, x=40.0)])
    boss = _cyl(20.0, 18.0, z=7.99)
    bore = _cyl(40.0, 12.0, z=-2)
    holes = _cyl(12.0, 4.5, x=-40.0, z=-2) + _cyl(12.0, 4.5, x=40.0, z=-2)
    return flange + boss - bore - holes


def crank_arm():
    """A crank arm: a big and a small boss joined by a tapered web, both bored."""
    big, small = _cyl(16.0, 16.0), _cyl(12.0, 9.0, x=70.0, z=2.0)
    web = _m().Manifold.batch_hull([_cyl(8.0, 11.0, z=4.0), _cyl(8.0, 6.0, x=70.0, z=4.0)])
    return big + small + web - _cyl(20.0, 8.0, z=-2) - _cyl(20.0, 4.0, x=70.0, z=-2)


def circlip():
    """An external retaining ring (circlip): an open ring with two lugs and their holes, 2 mm thick."""
    cross = _m().CrossSection
    ring = cross.circle(30.0, SEGMENTS * 2) - cross.circle(24.0, SEGMENTS * 2)
    gap = cross.square((16.0, 40.0), True).translate((0.0, 25.0))
    lugs = cross.circle(6.0, SEGMENTS).translate((-12.0, 25.0)) + cross.circle(6.0, SEGMENTS).translate((12.0, 25.0))
    holes = cross.circle(2.0, SEGMENTS).translate((-12.0, 25.0)) + cross.circle(2.0, SEGMENTS).translate((12.0, 25.0))
    return ((ring - gap) + lugs - holes).extrude(3.0)


def jaw_coupling():
    """A jaw-coupling half: a hub with three jaws on top, a bore and a radial set-screw hole."""
    hub = _cyl(20.0, 20.0)
    jaws = [(_cyl(12.0, 20.0, z=19.99) - _cyl(14.0, 9.0, z=19)) ^ _box(40.0, 14.0, 12.0, x=20.0, z=26.0).rotate((0, 0, a))
            for a in (0, 120, 240)]
    body = _m().Manifold.batch_boolean([hub, *jaws], _m().OpType.Add)
    set_screw = _cyl(12.0, 2.5).rotate((0, 90, 0)).translate((12.0, 0.0, 10.0))
    return body - _cyl(40.0, 7.0, z=-2) - set_screw


def valve_body():
    """A flanged globe-valve body: a ball-shaped middle, two flanged pipe ends, a bonnet boss on top, bores."""
    ball = _m().Manifold.sphere(22.0, SEGMENTS * 2)
    run = _cyl(90.0, 12.0).rotate((0, 90, 0)).translate((-45.0, 0, 0))
    flanges = [_cyl(6.0, 22.0).rotate((0, 90, 0)).translate((x, 0, 0)) for x in (-45.0, 39.0)]
    bonnet = _cyl(30.0, 14.0, z=0.0) + _cyl(6.0, 20.0, z=24.0)
    body = _m().Manifold.batch_boolean([ball, run, *flanges, bonnet], _m().OpType.Add)
    bore = _cyl(94.0, 8.0).rotate((0, 90, 0)).translate((-47.0, 0, 0))
    stem = _cyl(40.0, 6.0, z=-5.0)
    bolts = [_cyl(8.0, 3.0, x=0, y=0, z=0).rotate((0, 90, 0)).translate((-47.0 if s < 0 else 37.0, 16.0 * c, 16.0 * d))
             for s in (-1, 1) for c, d in ((1, 0), (-1, 0), (0, 1), (0, -1))]
    return body - bore - stem - _m().Manifold.batch_boolean(bolts, _m().OpType.Add)


def split_collar():
    """A split shaft collar: a thick ring cut through on one side, with a clamp screw across the cut."""
    ring = _cyl(14.0, 20.0) - _cyl(16.0, 10.0, z=-1)
    slit = _box(14.0, 2.0, 16.0, x=16.0, z=7.0)
    screw = _cyl(30.0, 2.2).rotate((90, 0, 0)).translate((15.0, 15.0, 7.0))
    return ring - slit - screw


def cam():
    """A plate cam: an egg-shaped lobe (hull of two circles) on a hub, a bore with a keyway."""
    lobe = _m().Manifold.batch_hull([_cyl(10.0, 25.0), _cyl(10.0, 12.0, x=22.0)])
    hub = _cyl(10.0, 13.0, z=9.99)
    return lobe + hub - _cyl(24.0, 7.0, z=-2) - _box(3.0, 4.0, 24.0, y=7.5, z=10)


#: The first set of hand-made parts, by name (see the module notes: it guided the families of issue 21).
UNSEEN = {
    "hex nut": hex_nut, "pipe elbow": pipe_elbow, "handwheel": handwheel, "tee pipe": tee_pipe,
    "wedge block": wedge_block, "clevis": clevis, "pillow block": pillow_block, "knob": knob,
}  # fmt: skip


#: The second set, made after the families of issue 21 and before any model was scored on it.
UNSEEN_2 = {
    "spur gear": spur_gear, "hinge leaf": hinge_leaf, "threaded bolt": threaded_bolt,
    "bearing housing": bearing_housing, "crank arm": crank_arm, "circlip": circlip, "jaw coupling": jaw_coupling,
    "valve body": valve_body, "split collar": split_collar, "cam": cam,
}  # fmt: skip

#: The sets by name, as ``bench parts`` reports them.
UNSEEN_SETS = {"first set (guided the new families)": UNSEEN, "second set (made after them)": UNSEEN_2}


def unseen_meshes(parts: dict | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (vertices (V, 3) float64 mm, faces (F, 3) int64)}`` of ``parts`` (default :data:`UNSEEN`)."""
    meshes = {}
    for name, build in (UNSEEN if parts is None else parts).items():
        mesh = build().to_mesh()
        meshes[name] = (np.asarray(mesh.vert_properties, dtype=np.float64)[:, :3],
                        np.asarray(mesh.tri_verts, dtype=np.int64))
        del mesh
    return meshes


__all__ = ["UNSEEN", "UNSEEN_2", "UNSEEN_SETS", "unseen_meshes"]
