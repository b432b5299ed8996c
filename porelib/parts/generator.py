"""Procedural CAD-like mechanical parts, built by boolean operations on meshes (manifold3d).

Seed 004 had too few pairs of part pictures and STL models; here they are made on demand.
:func:`make_part` turns a seed into one watertight part of one of :data:`FAMILIES`:

==============  ==========================================================================
family          what it is (every size and feature drawn from the seed)
==============  ==========================================================================
``plate``       a (rounded) rectangular plate with a bolt-hole pattern (corners, grid or
                circle), optional counterbores, a pocket, a slot, a central bore, a chamfer
``flange``      a round or square flange with a bore, a bolt circle, optional hub, raised
                face, counterbores, chamfer
``l_bracket``   an L profile extruded, holes and slots in both legs, optional gusset ribs
``u_bracket``   a U channel, holes in the base and the walls, optional end ribs
``shaft``       a stepped shaft with end chamfers, optional keyway, groove, cross hole, bore,
                or a hexagon head (a bolt blank)
``profile``     an extruded 2-D section: polygon, star, I, T, C, cross, gear, ring or a random
                outline, short (a disc) to long (a bar), optional holes
``block``       a block with pockets, steps, slots, bosses, through and side holes, chamfers
``turned``      a revolved profile: pulleys, bushings, knobs, cups (optional bore, grooves)
``ribbed``      a base plate with bosses joined by ribs, holes through the bosses
``housing``     a hollow box (open or with a cavity), mounting ears with holes
``fitting``     pipe fittings: elbows (any angle and bend radius), tees, crosses, laterals,
                reducers, straight spools; bored or solid rods; plain, flanged or socket ends
``wheel``       handwheels (round rim, slanted spokes, optional crank handle), pulleys with
                1-3 V grooves, spoked wheels, web discs with lightening holes; hub, bore, keyway
``knob``        smooth revolved bodies: lathe-turned handles and bottles, balls on stems,
                cones, domes (solid or hollow caps), mushroom knobs with grip flutes
``fastener``    hexagon / square / octagon nuts (chamfered, flanged, castle), wing nuts,
                bolts with shanks, socket-head screws, eye bolts
``fork``        clevises on round shanks, yokes, clevis brackets on a plate, rod ends (eyes),
                with a pin hole through the tines
``wedge``       hulls of a base and a top rectangle: wedges, ridges, frustums, pyramids,
                tapered blocks, with holes, slots, notches, bores
==============  ==========================================================================

The last six families were added for issue 21 (the first ten taught no thin bent tubes,
smooth revolved bodies, spoked wheels, forks, polygon prisms or sloped hulls).

Sizes are in millimetres. A part's family is ``FAMILIES[seed % len(FAMILIES)]`` (so any run
of consecutive seeds is balanced over the families); everything else comes from
``np.random.default_rng(seed)``. Each part is built in its family's natural pose (plates
flat, z up), then turned by one of the 24 rotations of the cube (:data:`ROTATIONS`):
half of the parts only about z (``yaw``), half by any of the 24 (``any``), so the model
meets parts lying, standing and upside down as CAD files come.

The seed ranges of :data:`SPLITS` never overlap: training, validation (checkpoint choice)
and test (the benchmark only) parts are different parts.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from porelib._validate import check_choice, check_positive_int

#: The part families, in the order ``seed % len(FAMILIES)`` picks them.
FAMILIES = ("plate", "flange", "l_bracket", "u_bracket", "shaft", "profile", "block", "turned", "ribbed", "housing",
            "fitting", "wheel", "knob", "fastener", "fork", "wedge")

#: Seeds of each split (half-open ranges that never overlap).
SPLITS = {
    "train": range(0, 1_000_000),
    "val": range(1_000_000, 1_100_000),
    "test": range(2_000_000, 2_100_000),
}

#: Segments of a full circle (holes, cylinders, revolved parts).
CIRCLE_SEGMENTS = 40
#: Thinnest wall, plate or rib, as a fraction of the part's longest side (1.6 voxels of a 32³ grid).
MIN_WALL = 0.05
#: Largest seed accepted.
MAX_SEED = 2**63 - 1


def _cube_rotations() -> np.ndarray:
    """The 24 proper rotations of the cube as ``(24, 3, 3)`` integer matrices; index 0 is the identity.

    Indices 0–3 are the turns about z by 0°, 90°, 180°, 270°.
    """
    found = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            matrix = np.zeros((3, 3), dtype=np.int64)
            for row, (column, sign) in enumerate(zip(perm, signs)):
                matrix[row, column] = sign
            if round(np.linalg.det(matrix)) == 1:
                found.append(matrix)
    yaw = [np.array([[round(math.cos(a)), -round(math.sin(a)), 0], [round(math.sin(a)), round(math.cos(a)), 0],
                     [0, 0, 1]]) for a in np.radians([0, 90, 180, 270])]  # fmt: skip
    rest = [m for m in found if not any(np.array_equal(m, y) for y in yaw)]
    return np.stack(yaw + rest)


#: The 24 rotations of the cube, ``(24, 3, 3)`` int; 0–3 turn about z only.
ROTATIONS = _cube_rotations()


@dataclass(frozen=True)
class Part:
    """One generated part.

    Attributes
    ----------
    seed : int
        The seed it was made from.
    family : str
        One of :data:`FAMILIES`.
    params : dict
        Its parameters (JSON-ready; lengths in mm), including ``rotation`` (index into
        :data:`ROTATIONS`) and ``pose`` (``"yaw"`` or ``"any"``).
    vertices : np.ndarray
        ``(V, 3)`` float64 positions ``(x, y, z)`` in mm.
    faces : np.ndarray
        ``(F, 3)`` int64 vertex indices of the triangles, counter-clockwise seen from outside.
    """

    seed: int
    family: str
    params: dict = field(repr=False)
    vertices: np.ndarray = field(repr=False)
    faces: np.ndarray = field(repr=False)

    @property
    def extent(self) -> np.ndarray:
        """``(3,)`` size of the bounding box along x, y, z, in mm."""
        return self.vertices.max(axis=0) - self.vertices.min(axis=0)

    @property
    def volume(self) -> float:
        """Enclosed volume in mm³ (divergence theorem over the triangles)."""
        a, b, c = (self.vertices[self.faces[:, k]] for k in range(3))
        return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def part_family(seed: int) -> str:
    """The family of the part of ``seed``: ``FAMILIES[seed % len(FAMILIES)]``."""
    return FAMILIES[_check_seed(seed) % len(FAMILIES)]


def make_part(seed: int, *, family: str | None = None) -> Part:
    """The part of ``seed`` (the same seed always gives the same part).

    Parameters
    ----------
    seed : int
        Non-negative; see :data:`SPLITS` for the ranges of training, validation and test parts.
    family : str, optional
        Force a family of :data:`FAMILIES` (default: ``part_family(seed)``).

    Returns
    -------
    Part

    Raises
    ------
    TypeError
        If ``seed`` is not an integer.
    ValueError
        If ``seed`` is negative or ``family`` is unknown.
    """
    seed = _check_seed(seed)
    family = part_family(seed) if family is None else check_choice(family, FAMILIES, "family")
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    solid, params = _BUILDERS[family](rng)
    pose = "yaw" if rng.random() < 0.5 else "any"
    rotation = int(rng.integers(4 if pose == "yaw" else len(ROTATIONS)))
    mesh = solid.to_mesh()
    vertices = np.asarray(mesh.vert_properties, dtype=np.float64)[:, :3] @ ROTATIONS[rotation].T.astype(np.float64)
    faces = np.asarray(mesh.tri_verts, dtype=np.int64)
    del mesh
    vertices -= (vertices.min(axis=0) + vertices.max(axis=0)) / 2  # bounding box centred at the origin
    params = {key: _plain(value) for key, value in params.items()}
    params.update(pose=pose, rotation=rotation)
    return Part(seed, family, params, vertices, faces)


def save_part(part: Part, path) -> tuple[Path, Path]:
    """Write ``part`` as a binary STL (mm) and its parameters beside it as JSON.

    Parameters
    ----------
    part : Part
    path : str or Path
        The ``.stl`` file; the parameters go to the same name with ``.json``.

    Returns
    -------
    tuple of Path
        The STL and the JSON file.

    Raises
    ------
    ValueError
        If ``path`` does not end in ``.stl``.
    """
    from porelib.io.mesh import write_stl_triangles

    path = Path(path)
    if path.suffix.lower() != ".stl":
        raise ValueError(f"path must end in .stl; got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"porelib part {part.family} seed {part.seed}, units: mm".encode()
    write_stl_triangles(path, part.vertices[part.faces], header=header)
    info = path.with_suffix(".json")
    info.write_text(json.dumps({"seed": part.seed, "family": part.family, "params": part.params,
                                "extent_mm": part.extent.round(4).tolist(), "volume_mm3": round(part.volume, 3)},
                               indent=2) + "\n")
    return path, info


# ----------------------------------------------------------------------------- building blocks


def _check_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be a non-negative integer; got {type(seed).__name__}")
    return check_positive_int(int(seed), "seed", minimum=0, maximum=MAX_SEED)


def _plain(value):
    """JSON-ready ``value``: numpy scalars and arrays to Python numbers and lists, floats rounded to µm."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return round(float(value), 3)
    return value


def _m():
    import manifold3d

    return manifold3d


def _box(x: float, y: float, z: float, *, at=(0.0, 0.0, 0.0), center_xy: bool = True):
    """A box of size (x, y, z), centred in x and y at ``at`` (or with its corner there), bottom at ``at[2]``."""
    box = _m().Manifold.cube((x, y, z))
    offset = (-x / 2, -y / 2, 0.0) if center_xy else (0.0, 0.0, 0.0)
    return box.translate((at[0] + offset[0], at[1] + offset[1], at[2]))


def _cylinder(radius: float, z0: float, z1: float, *, x: float = 0.0, y: float = 0.0, top_radius: float | None = None):
    """A vertical cylinder (or cone frustum) from ``z0`` to ``z1`` centred at (x, y)."""
    cylinder = _m().Manifold.cylinder(z1 - z0, radius, -1.0 if top_radius is None else top_radius, CIRCLE_SEGMENTS)
    return cylinder.translate((x, y, z0))


def _along_x(radius: float, x0: float, x1: float, *, y: float = 0.0, z: float = 0.0):
    """A cylinder along x from ``x0`` to ``x1`` through (y, z)."""
    return _m().Manifold.cylinder(x1 - x0, radius, -1.0, CIRCLE_SEGMENTS).rotate((0.0, 90.0, 0.0)).translate((x0, y, z))


def _along_y(radius: float, y0: float, y1: float, *, x: float = 0.0, z: float = 0.0):
    """A cylinder along y from ``y0`` to ``y1`` through (x, z)."""
    return _m().Manifold.cylinder(y1 - y0, radius, -1.0, CIRCLE_SEGMENTS).rotate((90.0, 0.0, 0.0)).translate((x, y1, z))


def _holes(points, radius: float, z0: float, z1: float):
    """Union of vertical cylinders of ``radius`` at ``points`` from ``z0`` to ``z1`` (cut with ``-``)."""
    manifold = _m()
    return manifold.Manifold.batch_boolean([_cylinder(radius, z0, z1, x=x, y=y) for x, y in points],
                                           manifold.OpType.Add)


def _union(solids):
    manifold = _m()
    return manifold.Manifold.batch_boolean(list(solids), manifold.OpType.Add)


def _rounded_rectangle(length: float, width: float, radius: float):
    """A CrossSection rectangle centred at the origin with corners rounded by ``radius`` (0: sharp)."""
    cross = _m().CrossSection
    radius = min(radius, 0.49 * min(length, width))
    if radius <= 1e-6:
        return cross.square((length, width), True)
    inner = cross.square((length - 2 * radius, width - 2 * radius), True)
    return inner.offset(radius, _m().JoinType.Round, 2.0, CIRCLE_SEGMENTS)


def _slab(section, thickness: float, chamfer: float = 0.0):
    """Extrude a CrossSection by ``thickness``; a positive ``chamfer`` bevels the top edges (a hull)."""
    if chamfer <= 0:
        return section.extrude(thickness)
    lower = section.extrude(thickness - chamfer)
    top = section.offset(-chamfer, _m().JoinType.Miter, 2.0, CIRCLE_SEGMENTS).extrude(1e-3).translate(
        (0, 0, thickness - 1e-3))
    return _m().Manifold.batch_hull([lower, top])


def _circle_points(count: int, radius: float, phase: float = 0.0) -> list[tuple[float, float]]:
    angles = phase + 2 * np.pi * np.arange(count) / count
    return [(radius * math.cos(a), radius * math.sin(a)) for a in angles]


def _drill_through(solid, rng, length: float, width: float, height: float):
    """``solid`` with a random pattern (:func:`_hole_pattern`) of vertical through-holes in its ``length × width`` top."""
    hole = min(length, width) * rng.uniform(0.04, 0.1)
    _, points = _hole_pattern(rng, length, width, hole)
    return solid - _holes(points, hole, -1, height + 1) if points else solid


def _hole_pattern(rng, length: float, width: float, hole: float) -> tuple[str, list]:
    """A bolt-hole pattern inside a ``length`` × ``width`` rectangle centred at the origin."""
    kind = str(rng.choice(["corners", "grid", "circle", "edges", "none"], p=[0.35, 0.2, 0.2, 0.15, 0.1]))
    inset = min(max(2.2 * hole, 0.12 * min(length, width)), 0.4 * min(length, width))
    lx, ly = length / 2 - inset, width / 2 - inset
    if kind == "corners":
        return kind, [(sx * lx, sy * ly) for sx in (-1, 1) for sy in (-1, 1)]
    if kind == "grid":
        nx, ny = int(rng.integers(2, 5)), int(rng.integers(1, 4))
        xs = np.linspace(-lx, lx, nx)
        ys = np.linspace(-ly, ly, ny) if ny > 1 else [0.0]
        return kind, [(x, y) for x in xs for y in ys]
    if kind == "circle":
        count = int(rng.integers(3, 9))
        return kind, _circle_points(count, min(lx, ly) * rng.uniform(0.6, 1.0), rng.uniform(0, np.pi))
    if kind == "edges":
        count = int(rng.integers(2, 5))
        xs = np.linspace(-lx, lx, count)
        return kind, [(x, y) for x in xs for y in (-ly, ly)]
    return kind, []


# ----------------------------------------------------------------------------- families


def _plate(rng):
    length = rng.uniform(40, 160)
    width = length * rng.uniform(0.3, 1.0)
    thickness = length * rng.uniform(MIN_WALL, 0.2)
    corner = rng.choice([0.0, rng.uniform(0.03, 0.2) * width])
    chamfer = rng.uniform(0.15, 0.4) * thickness if rng.random() < 0.3 else 0.0
    solid = _slab(_rounded_rectangle(length, width, corner), thickness, chamfer)
    hole = rng.uniform(0.03, 0.08) * width + 1.0
    pattern, points = _hole_pattern(rng, length, width, hole)
    params = dict(length=length, width=width, thickness=thickness, corner_radius=corner, chamfer=chamfer,
                  pattern=pattern, holes=len(points), hole_radius=hole)
    if points:
        solid = solid - _holes(points, hole, -1, thickness + 1)
        if rng.random() < 0.3:
            depth = thickness * rng.uniform(0.25, 0.5)
            solid = solid - _holes(points, hole * rng.uniform(1.5, 1.9), thickness - depth, thickness + 1)
            params["counterbore_depth"] = depth
    feature = str(rng.choice(["none", "pocket", "bore", "slot"], p=[0.3, 0.3, 0.2, 0.2]))
    params["feature"] = feature
    inner_l, inner_w = length * 0.5, width * 0.5
    if feature == "pocket":
        depth = thickness * rng.uniform(0.3, 0.7)
        pocket = _rounded_rectangle(inner_l * rng.uniform(0.5, 1.0), inner_w * rng.uniform(0.5, 1.0),
                                    rng.uniform(0, 0.2) * inner_w)
        solid = solid - pocket.extrude(depth + 1).translate((0, 0, thickness - depth))
        params["pocket_depth"] = depth
    elif feature == "bore":
        solid = solid - _cylinder(min(inner_l, inner_w) * rng.uniform(0.4, 0.9), -1, thickness + 1)
    elif feature == "slot":
        slot_r = rng.uniform(0.05, 0.12) * width
        half = inner_l * rng.uniform(0.4, 0.9)
        slot = _m().Manifold.batch_hull([_cylinder(slot_r, -1, thickness + 1, x=-half),
                                         _cylinder(slot_r, -1, thickness + 1, x=half)])
        solid = solid - slot
    return solid, params


def _flange(rng):
    radius = rng.uniform(20, 80)
    thickness = radius * rng.uniform(0.1, 0.3)
    square = rng.random() < 0.25
    bore = radius * rng.uniform(0.15, 0.4)
    chamfer = rng.uniform(0.2, 0.4) * thickness if rng.random() < 0.4 else 0.0
    if square:
        base = _slab(_rounded_rectangle(2 * radius, 2 * radius, rng.uniform(0, 0.3) * radius), thickness, chamfer)
    else:
        base = _slab(_m().CrossSection.circle(radius, CIRCLE_SEGMENTS * 2), thickness, chamfer)
    params = dict(shape="square" if square else "round", radius=radius, thickness=thickness, bore=bore, chamfer=chamfer)
    solid = base
    top = thickness
    if rng.random() < 0.6:
        hub_r = rng.uniform(bore + 0.12 * radius, 0.7 * radius)
        hub_h = thickness * rng.uniform(0.5, 2.5)
        solid = solid + _cylinder(hub_r, thickness - 0.01, thickness + hub_h)
        top = thickness + hub_h
        params.update(hub_radius=hub_r, hub_height=hub_h)
    elif rng.random() < 0.4:
        face_r = rng.uniform(bore + 0.1 * radius, 0.65 * radius)
        face_h = thickness * rng.uniform(0.1, 0.3)
        solid = solid + _cylinder(face_r, thickness - 0.01, thickness + face_h)
        top = thickness + face_h
        params.update(raised_face_radius=face_r)
    solid = solid - _cylinder(bore, -1, top + 1)
    outer = params.get("hub_radius", params.get("raised_face_radius", bore))
    count = int(rng.integers(3, 9))
    hole = min(rng.uniform(0.05, 0.1) * radius, 0.4 * (radius - outer))
    circle = (outer + radius) / 2 if not square else rng.uniform(0.6, 0.75) * radius * math.sqrt(2)
    points = (_circle_points(count, (outer + radius) / 2, rng.uniform(0, np.pi)) if not square
              else [(sx * circle / math.sqrt(2), sy * circle / math.sqrt(2)) for sx in (-1, 1) for sy in (-1, 1)])
    if hole > 0.8:
        solid = solid - _holes(points, hole, -1, thickness + 1)
        if rng.random() < 0.2:
            solid = solid - _holes(points, hole * 1.7, thickness * 0.6, thickness + 1)
            params["counterbores"] = True
    params.update(bolt_holes=len(points) if hole > 0.8 else 0, bolt_hole_radius=hole)
    return solid, params


def _extrude_profile_y(points_xz, width: float):
    """Extrude a polygon given in the (x, z) plane along y, centred in y."""
    section = _m().CrossSection([np.asarray(points_xz, dtype=np.float64)])
    # extrude along +z, then turn +z into +y (rotate -90° about x: (x, y, z) -> (x, z, -y))
    return section.extrude(width).rotate((90.0, 0.0, 0.0)).translate((0, width / 2, 0))


def _l_bracket(rng):
    a = rng.uniform(30, 120)  # horizontal leg along x
    b = a * rng.uniform(0.4, 1.3)  # vertical leg along z
    w = a * rng.uniform(0.3, 1.2)  # width along y
    t = max(MIN_WALL * max(a, b, w), min(a, b) * rng.uniform(0.06, 0.2))
    solid = _extrude_profile_y([(0, 0), (a, 0), (a, t), (t, t), (t, b), (0, b)], w)
    params = dict(leg_x=a, leg_z=b, thickness=t, width=w)
    hole = min(rng.uniform(0.04, 0.1) * min(a, w) + 1.0, 0.3 * (a - t), 0.3 * w)
    n = int(rng.integers(0, 4))
    if n and hole > 0.8:
        xs = np.linspace(t + (a - t) * 0.3, a - (a - t) * 0.25, n) if n > 1 else [t + (a - t) * 0.6]
        ys = [0.0] if rng.random() < 0.5 or w < 6 * hole else [-w / 4, w / 4]
        solid = solid - _holes([(x, y) for x in xs for y in ys], hole, -1, t + 1)
    m = int(rng.integers(0, 3))
    if m and hole > 0.8:
        zs = np.linspace(t + (b - t) * 0.35, b - (b - t) * 0.25, m) if m > 1 else [t + (b - t) * 0.6]
        solid = solid - _union(_along_x(hole, -1, t + 1, z=z) for z in zs)
    params.update(holes_x=n, holes_z=m, hole_radius=hole)
    ribs = int(rng.choice([0, 0, 1, 2]))
    if ribs:
        rib_t = t * rng.uniform(0.6, 1.0)
        size = min(a, b) * rng.uniform(0.4, 0.8)
        ys = [0.0] if ribs == 1 else [-(w / 2 - rib_t / 2), w / 2 - rib_t / 2]
        for y in ys:
            rib = _extrude_profile_y([(t - 0.01, t - 0.01), (t + size, t - 0.01), (t - 0.01, t + size)], rib_t)
            solid = solid + rib.translate((0, y, 0))
    params["ribs"] = ribs
    return solid, params


def _u_bracket(rng):
    base = rng.uniform(30, 120)  # along x
    height = base * rng.uniform(0.3, 1.0)
    length = base * rng.uniform(0.5, 2.0)  # along y
    t = max(MIN_WALL * max(base, height, length), min(base, height) * rng.uniform(0.06, 0.18))
    profile = [(-base / 2, 0), (base / 2, 0), (base / 2, height), (base / 2 - t, height), (base / 2 - t, t),
               (-base / 2 + t, t), (-base / 2 + t, height), (-base / 2, height)]
    solid = _extrude_profile_y(profile, length)
    params = dict(base=base, height=height, thickness=t, length=length)
    hole = min(rng.uniform(0.05, 0.12) * base, 0.3 * (base - 2 * t), 0.2 * length)
    _, points = _hole_pattern(rng, base - 2 * t, length, hole)
    if points and hole > 0.8:
        solid = solid - _holes(points, hole, -1, t + 1)
    params.update(base_holes=len(points) if hole > 0.8 else 0, hole_radius=hole)
    if rng.random() < 0.5 and height > 4 * hole and hole > 0.8:
        solid = solid - _along_x(hole, -base, base, z=(height + t) / 2)
        params["wall_holes"] = True
    if rng.random() < 0.25:
        rib = _box(base - 0.02, t, height * rng.uniform(0.4, 1.0), at=(0, 0, 0))
        solid = solid + rib.translate((0, -length / 2 + t / 2, 0)) + rib.translate((0, length / 2 - t / 2, 0))
        params["end_plates"] = True
    return solid, params


def _shaft(rng):
    steps = int(rng.integers(1, 6))
    radius = rng.uniform(8, 30)
    radii = [radius]
    for _ in range(steps - 1):
        radii.append(max(3.0, radii[-1] * rng.uniform(0.55, 1.3)))
    lengths = [radius * rng.uniform(0.6, 3.0) for _ in range(steps)]
    z = 0.0
    pieces = []
    chamfer = rng.random() < 0.6
    for k, (r, h) in enumerate(zip(radii, lengths)):
        pieces.append(_cylinder(r, z - (0.01 if k else 0), z + h))
        z += h
    solid = _union(pieces)
    total = z
    params = dict(steps=steps, radii=radii, lengths=lengths)
    if chamfer:
        c0, c1 = 0.15 * radii[0], 0.15 * radii[-1]
        ring0 = _cylinder(radii[0] + 1, -1, c0) - _cylinder(radii[0] - c0, -1.01, c0, top_radius=radii[0])
        ring1 = _cylinder(radii[-1] + 1, total - c1, total + 1) - _cylinder(radii[-1], total - c1, total + 1.01,
                                                                            top_radius=radii[-1] - c1 - 1)
        solid = solid - ring0 - ring1
    params["chamfer"] = chamfer
    if rng.random() < 0.25:  # a hexagon head: a bolt blank
        across = 2 * radii[-1] * rng.uniform(1.4, 1.9) / math.sqrt(3)
        head_h = radii[-1] * rng.uniform(0.6, 1.2)
        head = _m().CrossSection.circle(across, 6).extrude(head_h).translate((0, 0, total - 0.01))
        solid = solid + head
        total += head_h
        params["hex_head"] = True
    k = int(rng.integers(steps))
    z0 = sum(lengths[:k])
    if rng.random() < 0.4 and lengths[k] > 3:  # keyway along the step
        depth, width = radii[k] * 0.3, radii[k] * 0.5
        key_l = lengths[k] * rng.uniform(0.4, 0.8)
        key = _box(width, 2 * depth, key_l, at=(0, radii[k], z0 + (lengths[k] - key_l) / 2))
        solid = solid - key
        params["keyway_step"] = k
    if rng.random() < 0.3:  # a ring groove
        j = int(rng.integers(steps))
        zc = sum(lengths[:j]) + lengths[j] * rng.uniform(0.3, 0.7)
        g = rng.uniform(0.5, 2.0)
        solid = solid - (_cylinder(radii[j] + 1, zc - g, zc + g) - _cylinder(radii[j] * 0.85, zc - g - 0.1, zc + g + 0.1))
        params["groove_step"] = j
    if rng.random() < 0.3:  # a cross hole
        j = int(rng.integers(steps))
        zc = sum(lengths[:j]) + lengths[j] / 2
        r = radii[j] * rng.uniform(0.15, 0.35)
        solid = solid - _along_y(r, -3 * radius, 3 * radius, z=zc)
        params["cross_hole_step"] = j
    if rng.random() < 0.3:
        bore = min(radii) * rng.uniform(0.3, 0.6)
        solid = solid - _cylinder(bore, -1, total + 1)
        params["bore"] = bore
    if rng.random() < 0.5:
        solid = _lie_down(solid, params)  # lying along x
    return solid, params


def _profile_section(rng, size: float):
    """A 2-D section about ``size`` mm across, and its kind."""
    cross = _m().CrossSection
    kind = str(rng.choice(["polygon", "star", "i_beam", "t_beam", "channel", "cross", "gear", "ring", "random",
                           "rounded"]))
    r = size / 2
    if kind == "polygon":
        return kind, cross.circle(r, int(rng.integers(3, 9)))
    if kind == "star":
        n = int(rng.integers(4, 9))
        inner = rng.uniform(0.4, 0.75)
        angles = np.pi * np.arange(2 * n) / n
        radii = np.where(np.arange(2 * n) % 2 == 0, r, r * inner)
        return kind, cross([np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])])
    if kind in ("i_beam", "t_beam", "channel"):
        w, h = size * rng.uniform(0.5, 1.0), size
        tf, tw = h * rng.uniform(0.08, 0.2), w * rng.uniform(0.1, 0.3)
        if kind == "i_beam":
            pts = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, -h / 2 + tf), (tw / 2, -h / 2 + tf), (tw / 2, h / 2 - tf),
                   (w / 2, h / 2 - tf), (w / 2, h / 2), (-w / 2, h / 2), (-w / 2, h / 2 - tf), (-tw / 2, h / 2 - tf),
                   (-tw / 2, -h / 2 + tf), (-w / 2, -h / 2 + tf)]
        elif kind == "t_beam":
            pts = [(-tw / 2, -h / 2), (tw / 2, -h / 2), (tw / 2, h / 2 - tf), (w / 2, h / 2 - tf), (w / 2, h / 2),
                   (-w / 2, h / 2), (-w / 2, h / 2 - tf), (-tw / 2, h / 2 - tf)]
        else:
            pts = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, -h / 2 + tf), (-w / 2 + tw, -h / 2 + tf),
                   (-w / 2 + tw, h / 2 - tf), (w / 2, h / 2 - tf), (w / 2, h / 2), (-w / 2, h / 2)]
        return kind, cross([np.asarray(pts)])
    if kind == "cross":
        arm = size * rng.uniform(0.2, 0.45)
        return kind, cross.square((size, arm), True) + cross.square((arm, size), True)
    if kind == "gear":
        teeth = int(rng.integers(8, 25))
        depth = rng.uniform(0.08, 0.15)
        angles = np.linspace(0, 2 * np.pi, teeth * 4, endpoint=False)
        radii = np.where((np.arange(teeth * 4) // 2) % 2 == 0, r, r * (1 - depth))
        return kind, cross([np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])])
    if kind == "ring":
        return kind, cross.circle(r, CIRCLE_SEGMENTS * 2) - cross.circle(r * rng.uniform(0.4, 0.8), CIRCLE_SEGMENTS * 2)
    if kind == "rounded":
        return kind, _rounded_rectangle(size, size * rng.uniform(0.3, 1.0), rng.uniform(0.1, 0.5) * size)
    n = int(rng.integers(5, 11))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.45, 1.0, n)
    return kind, cross([np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])])


def _profile(rng):
    size = rng.uniform(20, 100)
    kind, section = _profile_section(rng, size)
    length = size * float(np.exp(rng.uniform(np.log(0.12), np.log(3.0))))
    params = dict(section=kind, size=size, length=length)
    if kind in ("polygon", "star", "gear", "rounded", "random") and rng.random() < 0.6:
        bore = size * rng.uniform(0.08, 0.25)
        section = section - _m().CrossSection.circle(bore, CIRCLE_SEGMENTS)
        params["bore"] = bore
    solid = section.extrude(length)
    if rng.random() < 0.2 and length > size * 0.6:
        hole = size * rng.uniform(0.05, 0.12)
        solid = solid - _along_y(hole, -size, size, z=length / 2)
        params["cross_hole"] = hole
    if length > size and rng.random() < 0.6:
        solid = _lie_down(solid, params)  # a bar lying along x
    return solid, params


def _block(rng):
    length = rng.uniform(30, 120)
    width = length * rng.uniform(0.4, 1.0)
    height = length * rng.uniform(0.2, 0.9)
    chamfer = rng.uniform(0.05, 0.15) * min(width, height) if rng.random() < 0.3 else 0.0
    solid = _slab(_rounded_rectangle(length, width, 0.0), height, chamfer)
    features = [str(f) for f in rng.choice(["pocket", "step", "slot", "boss", "holes", "side_hole", "counterbore"],
                                           size=int(rng.integers(1, 4)), replace=False)]
    params = dict(length=length, width=width, height=height, chamfer=chamfer, features=features)
    for feature in features:
        if feature == "pocket":
            depth = height * rng.uniform(0.3, 0.8)
            pocket = _rounded_rectangle(length * rng.uniform(0.3, 0.7), width * rng.uniform(0.3, 0.7),
                                        rng.uniform(0, 0.15) * width)
            solid = solid - pocket.extrude(depth + 1).translate((rng.uniform(-0.1, 0.1) * length, 0, height - depth))
        elif feature == "step":
            sx, sz = length * rng.uniform(0.2, 0.5), height * rng.uniform(0.3, 0.7)
            solid = solid - _box(sx + 1, width + 2, sz + 1, at=(length / 2 - sx / 2 + 0.5, 0, height - sz))
        elif feature == "slot":
            sw, sd = width * rng.uniform(0.15, 0.4), height * rng.uniform(0.3, 0.6)
            solid = solid - _box(length + 2, sw, sd + 1, at=(0, 0, height - sd))
        elif feature == "boss":
            br = min(length, width) * rng.uniform(0.1, 0.3)
            bh = height * rng.uniform(0.2, 0.8)
            solid = solid + _cylinder(br, height - 0.01, height + bh)
            if rng.random() < 0.6:
                solid = solid - _cylinder(br * 0.5, height * 0.3, height + bh + 1)
        elif feature == "holes":
            solid = _drill_through(solid, rng, length, width, height)
        elif feature == "side_hole":
            r = min(width, height) * rng.uniform(0.1, 0.25)
            solid = solid - _along_x(r, -length, length, z=height / 2)
        elif feature == "counterbore":
            r = min(length, width) * rng.uniform(0.08, 0.2)
            solid = solid - _cylinder(r, -1, height + 1) - _cylinder(r * 1.7, height * rng.uniform(0.5, 0.8), height + 1)
    return solid, params


def _turned(rng):
    radius = rng.uniform(10, 50)
    knots = int(rng.integers(3, 7))
    heights = np.cumsum(rng.uniform(0.15, 0.8, knots) * radius)
    radii = radius * rng.uniform(0.35, 1.0, knots)
    radii[int(rng.integers(knots))] = radius
    # the outline (r, z): steps or tapers between knots
    outline = [(0.0, 0.0)]
    z = 0.0
    for h, r in zip(heights, radii):
        outline.append((r, z))
        if rng.random() < 0.6:
            outline.append((r, h))  # a cylindrical step
        z = h
    outline.append((radii[-1], heights[-1]))
    outline.append((0.0, heights[-1]))
    params = dict(radius=radius, knots=knots, heights=heights, radii=radii)
    if rng.random() < 0.4:  # a V groove: a pulley
        zc = heights[-1] * rng.uniform(0.3, 0.7)
        g = radius * rng.uniform(0.1, 0.25)
        outline = [(r - g * max(0.0, 1 - abs(z - zc) / g) if r > 0 else r, z) for r, z in outline]
        params["groove"] = True
    section = _m().CrossSection([np.asarray(outline, dtype=np.float64)])
    solid = section.revolve(CIRCLE_SEGMENTS * 2)
    top = float(heights[-1])
    if rng.random() < 0.5:
        bore = min(radii) * rng.uniform(0.2, 0.6)
        solid = solid - _cylinder(bore, -1, top + 1)
        params["bore"] = bore
    elif rng.random() < 0.4:  # a cup
        cavity = min(radii[-1], radius) * rng.uniform(0.5, 0.85)
        depth = top * rng.uniform(0.3, 0.8)
        solid = solid - _cylinder(cavity, top - depth, top + 1)
        params["cup_depth"] = depth
    if rng.random() < 0.3:
        holes = _circle_points(int(rng.integers(3, 7)), radius * 0.7, 0.0)
        solid = solid - _holes(holes, radius * 0.08, -1, top + 1)
        params["axial_holes"] = True
    if rng.random() < 0.4:
        solid = _lie_down(solid, params)
    return solid, params


def _lie_down(solid, params: dict):
    """``solid`` turned 90° about y (its z axis along x), recorded in ``params["lying"]``."""
    params["lying"] = True
    return solid.rotate((0, 90, 0))


def _ribbed(rng):
    length = rng.uniform(50, 160)
    width = length * rng.uniform(0.3, 0.9)
    t = length * rng.uniform(MIN_WALL, 0.08)
    solid = _slab(_rounded_rectangle(length, width, rng.uniform(0, 0.15) * width), t)
    count = int(rng.integers(1, 5))
    boss_r = min(length, width) * rng.uniform(0.08, 0.18)
    boss_h = t + width * rng.uniform(0.15, 0.6)
    xs = np.linspace(-length / 2 + 1.5 * boss_r, length / 2 - 1.5 * boss_r, count) if count > 1 else [0.0]
    ys = np.zeros(count) if rng.random() < 0.5 else rng.uniform(-0.25, 0.25, count) * width
    centres = list(zip(xs, ys))
    bosses = [_cylinder(boss_r, t - 0.01, boss_h, x=x, y=y) for x, y in centres]
    rib_t = max(MIN_WALL * length, t * rng.uniform(0.5, 1.0))
    rib_h = (boss_h - t) * rng.uniform(0.4, 1.0)
    ribs = []
    for (x0, y0), (x1, y1) in zip(centres[:-1], centres[1:]):
        span = math.hypot(x1 - x0, y1 - y0)
        rib = _box(span, rib_t, rib_h, at=(0, 0, t - 0.01)).rotate((0, 0, math.degrees(math.atan2(y1 - y0, x1 - x0))))
        ribs.append(rib.translate(((x0 + x1) / 2, (y0 + y1) / 2, 0)))
    if rng.random() < 0.5:  # ribs across the plate from the bosses
        for x, y in centres:
            ribs.append(_box(rib_t, width - 0.02, rib_h * 0.7, at=(x, 0, t - 0.01)))
    solid = _union([solid, *bosses, *ribs])
    bore = boss_r * rng.uniform(0.3, 0.6)
    solid = solid - _holes(centres, bore, -1, boss_h + 1)
    hole = min(length, width) * 0.04 + 1
    solid = solid - _holes([(sx * (length / 2 - 3 * hole), sy * (width / 2 - 3 * hole)) for sx in (-1, 1)
                            for sy in (-1, 1)], hole, -1, t + 1)
    params = dict(length=length, width=width, thickness=t, bosses=count, boss_radius=boss_r, boss_height=boss_h,
                  rib_thickness=rib_t, rib_height=rib_h, ribs=len(ribs), bore=bore)
    return solid, params


def _housing(rng):
    length = rng.uniform(40, 140)
    width = length * rng.uniform(0.4, 1.0)
    height = length * rng.uniform(0.25, 0.8)
    wall = max(MIN_WALL * length, min(length, width, height) * rng.uniform(0.06, 0.15))
    corner = rng.uniform(0, 0.2) * width
    outer = _rounded_rectangle(length, width, corner)
    solid = outer.extrude(height)
    inner = _rounded_rectangle(length - 2 * wall, width - 2 * wall, max(0.0, corner - wall))
    open_top = rng.random() < 0.7
    cavity = inner.extrude(height + 1 if open_top else height - 2 * wall).translate((0, 0, wall))
    solid = solid - cavity
    params = dict(length=length, width=width, height=height, wall=wall, corner_radius=corner, open_top=open_top)
    if rng.random() < 0.6:  # mounting ears on two sides
        ear = width * rng.uniform(0.2, 0.4)
        ear_t = wall * rng.uniform(1.0, 1.8)
        hole = ear * 0.25
        for sx in (-1, 1):
            tab = _box(ear, ear * 1.4, ear_t, at=(sx * (length / 2 + ear / 2 - 0.01), 0, 0))
            solid = solid + tab - _cylinder(hole, -1, ear_t + 1, x=sx * (length / 2 + ear / 2), y=0)
        params.update(ears=True, ear=ear)
    if rng.random() < 0.4:
        r = min(width, height) * rng.uniform(0.1, 0.25)
        solid = solid - _along_x(r, -length, length, z=height * 0.55)
        params["side_hole"] = r
    if not open_top and rng.random() < 0.5:
        solid = solid - _cylinder(min(length, width) * 0.2, height - wall - 1, height + 1)
        params["top_hole"] = True
    return solid, params


# ----------------------------------------------------------------------------- families added for issue 21


def _pointing(solid, start=(0.0, 0.0, 0.0), azimuth: float = 0.0, elevation: float = 0.0):
    """``solid`` built along +z from the origin, turned so +z points at ``azimuth``/``elevation`` (degrees), moved to ``start``."""
    return solid.rotate((0.0, 90.0 - elevation, 0.0)).rotate((0.0, 0.0, azimuth)).translate(tuple(start))


def _rod(radius: float, length: float, *, start=(0.0, 0.0, 0.0), azimuth: float = 0.0, elevation: float = 0.0):
    """A cylinder of ``radius`` and ``length`` from ``start`` along ``azimuth``/``elevation`` (degrees)."""
    return _pointing(_cylinder(radius, 0.0, length), start, azimuth, elevation)


def _revolved(outline) -> object:
    """Revolve a closed ``(r, z)`` outline (r ≥ 0, counter-clockwise) about z."""
    return _m().CrossSection([np.asarray(outline, dtype=np.float64)]).revolve(CIRCLE_SEGMENTS * 2)


def _pipe_end(rng, radius: float, bore: float, length: float, end: str):
    """A pipe leg along +z from 0 to ``length`` with an ``end`` (``plain``, ``flange``, ``socket``) at its top.

    Returns the solid and the bore to cut (a little longer than the leg at the open end).
    """
    body = _cylinder(radius, -0.01, length)
    info = {}
    if end == "flange":
        rf = radius * rng.uniform(1.4, 2.2)
        tf = min(length * 0.6, radius * rng.uniform(0.25, 0.6))
        flange = _cylinder(rf, length - tf, length)
        holes = int(rng.integers(0, 9))
        if holes >= 3:
            hr = min(0.3 * (rf - radius), 0.12 * rf)
            flange = flange - _holes(_circle_points(holes, (rf + radius) / 2, rng.uniform(0, np.pi)), hr,
                                     length - tf - 1, length + 1)
        body = body + flange
        info = dict(flange_radius=rf, flange_thickness=tf, flange_holes=holes if holes >= 3 else 0)
    elif end == "socket":
        rs = radius + (radius - bore if bore > 0 else 0.3 * radius) * rng.uniform(0.6, 1.2)
        ls = min(length, radius * rng.uniform(0.6, 1.5))
        body = body + _cylinder(rs, length - ls, length)
        info = dict(socket_radius=rs, socket_length=ls)
    cut = _cylinder(bore, -0.01, length + 1) if bore > 0 else None
    return body, cut, info


def _fitting(rng):
    kind = str(rng.choice(["elbow", "tee", "cross", "lateral", "reducer", "straight"],
                          p=[0.32, 0.18, 0.1, 0.1, 0.15, 0.15]))
    radius = rng.uniform(6, 25)
    solid_rod = rng.random() < 0.15  # a bent or branched rod, no bore
    wall = radius * rng.uniform(0.15, 0.4)
    bore = 0.0 if solid_rod else radius - wall
    end = str(rng.choice(["plain", "flange", "socket"], p=[0.45, 0.35, 0.2]))
    params = dict(kind=kind, radius=radius, bore=bore, end=end)
    legs = []  # (radius, bore, length, start, azimuth)
    bodies, cuts = [], []
    if kind == "elbow":
        bend = radius * rng.uniform(1.1, 4.0)
        angle = 90.0 if rng.random() < 0.4 else rng.uniform(30, 180)
        ring = _m().CrossSection.circle(radius, CIRCLE_SEGMENTS).translate((bend, 0.0))
        bodies.append(ring.revolve(CIRCLE_SEGMENTS * 2, angle))
        if bore > 0:
            cuts.append(_m().CrossSection.circle(bore, CIRCLE_SEGMENTS).translate((bend, 0.0)).revolve(
                CIRCLE_SEGMENTS * 2, angle))
        a = math.radians(angle)
        legs.append((radius, bore, radius * rng.uniform(0.3, 3.0), (bend, 0.0, 0.0), -90.0))
        legs.append((radius, bore, radius * rng.uniform(0.3, 3.0), (bend * math.cos(a), bend * math.sin(a), 0.0),
                     angle + 90.0))
        params.update(bend_radius=bend, angle=angle)
    elif kind in ("tee", "cross", "lateral"):
        branch = radius * rng.uniform(0.55, 1.0)
        branch_bore = 0.0 if solid_rod else max(branch * 0.3, branch - wall)
        azimuth = 90.0 if kind != "lateral" else rng.uniform(30, 75)
        reach = branch / math.sin(math.radians(azimuth)) + radius * 0.2
        legs.append((radius, bore, reach + radius * rng.uniform(0.3, 2.5), (0.0, 0.0, 0.0), 0.0))
        legs.append((radius, bore, reach + radius * rng.uniform(0.3, 2.5), (0.0, 0.0, 0.0), 180.0))
        legs.append((branch, branch_bore, radius * rng.uniform(1.3, 3.5), (0.0, 0.0, 0.0), azimuth))
        if kind == "cross":
            legs.append((branch, branch_bore, radius * rng.uniform(1.3, 3.5), (0.0, 0.0, 0.0), -90.0))
        params.update(branch_radius=branch, branch_angle=azimuth)
    else:  # a reducer (a cone between two pipes) or a straight spool
        other = radius * (rng.uniform(0.45, 0.85) if kind == "reducer" else 1.0)
        other_bore = 0.0 if solid_rod else max(other * 0.3, other - wall)
        taper = radius * rng.uniform(0.5, 2.0) if kind == "reducer" else 0.0
        if taper:
            bodies.append(_cylinder(radius, 0.0, taper, top_radius=other))
            if bore > 0:
                cuts.append(_cylinder(bore, -0.01, taper + 0.01, top_radius=other_bore))
        legs.append((radius, bore, radius * rng.uniform(0.5, 2.5), (0.0, 0.0, 0.0), None))
        legs.append((other, other_bore, radius * rng.uniform(0.5, 2.5 if taper else 4.0), (0.0, 0.0, taper), "up"))
        params.update(other_radius=other, taper_length=taper)
    ends = []
    for k, (r, b, length, start, azimuth) in enumerate(legs):
        leg_end = end if rng.random() < 0.85 else "plain"
        body, cut, info = _pipe_end(rng, r, b, length, leg_end)
        if azimuth is None:  # downwards from the start
            body, cut = (s.mirror((0.0, 0.0, 1.0)) if s is not None else None for s in (body, cut))
            body, cut = (s.translate(start) if s is not None else None for s in (body, cut))
        elif azimuth == "up":
            body, cut = (s.translate(start) if s is not None else None for s in (body, cut))
        else:
            body, cut = (_pointing(s, start, azimuth) if s is not None else None for s in (body, cut))
        bodies.append(body)
        if cut is not None:
            cuts.append(cut)
        ends.append(dict(radius=r, length=length, end=leg_end, **info))
    solid = _union(bodies)
    if cuts:
        solid = solid - _union(cuts)
    params["legs"] = [{key: _plain(value) for key, value in leg.items()} for leg in ends]
    if kind in ("reducer", "straight") and rng.random() < 0.6:
        solid = _lie_down(solid, params)
    return solid, params


def _wheel(rng):
    outer = rng.uniform(30, 80)
    kind = str(rng.choice(["handwheel", "pulley", "spoked", "web"], p=[0.3, 0.3, 0.2, 0.2]))
    hub_r = outer * rng.uniform(0.12, 0.28)
    hub_h = outer * rng.uniform(0.15, 0.5)
    bore = hub_r * rng.uniform(0.3, 0.65)
    params = dict(kind=kind, radius=outer, hub_radius=hub_r, hub_height=hub_h, bore=bore)
    pieces = []
    if kind == "handwheel":
        tube = outer * rng.uniform(0.05, 0.12)
        rim_z = hub_h * rng.uniform(-0.3, 0.9)
        ring = _m().CrossSection.circle(tube, CIRCLE_SEGMENTS).translate((outer - tube, rim_z))
        pieces.append(ring.revolve(CIRCLE_SEGMENTS * 2))
        pieces.append(_cylinder(hub_r, 0.0, hub_h))
        count = int(rng.integers(3, 7))
        spoke = max(MIN_WALL * outer, tube * rng.uniform(0.5, 1.0))
        hub_z = hub_h * rng.uniform(0.3, 0.7)
        reach = outer - tube
        phase = rng.uniform(0, 360)
        for k in range(count):
            angle = phase + 360.0 * k / count
            elevation = math.degrees(math.atan2(rim_z - hub_z, reach))
            pieces.append(_rod(spoke, math.hypot(reach, rim_z - hub_z), start=(0.0, 0.0, hub_z), azimuth=angle,
                               elevation=elevation))
        if rng.random() < 0.4:  # a crank handle on the rim
            a = math.radians(phase + 180.0 / count)
            pieces.append(_cylinder(tube * 1.1, rim_z, rim_z + outer * rng.uniform(0.3, 0.6),
                                    x=(outer - tube) * math.cos(a), y=(outer - tube) * math.sin(a)))
            params["handle"] = True
        params.update(rim_tube=tube, rim_z=rim_z, spokes=count, spoke_radius=spoke)
        top = max(hub_h, rim_z + tube)
        bottom = min(0.0, rim_z - tube)
    else:
        rim_t = outer * rng.uniform(0.08, 0.2)
        width = outer * rng.uniform(0.15, 0.5)
        inner = outer - rim_t
        outline = [(inner, 0.0), (outer, 0.0)]
        if kind == "pulley":
            grooves = int(rng.integers(1, 4))
            depth = min(0.7 * rim_t, outer * rng.uniform(0.05, 0.12))
            pitch = width / grooves
            margin = pitch * rng.uniform(0.1, 0.25)
            for g in range(grooves):
                z0, z1 = g * pitch, (g + 1) * pitch
                outline += [(outer, z0 + margin), (outer - depth, (z0 + z1) / 2), (outer, z1 - margin)]
            params.update(grooves=grooves, groove_depth=depth)
        outline += [(outer, width), (inner, width)]
        pieces.append(_revolved(outline))
        hub_z0 = width / 2 - hub_h / 2 + rng.uniform(-0.3, 0.3) * hub_h
        pieces.append(_cylinder(hub_r, hub_z0, hub_z0 + hub_h))
        mid = width / 2
        if kind == "spoked":
            count = int(rng.integers(3, 9))
            spoke_w = max(MIN_WALL * 2 * outer, outer * rng.uniform(0.06, 0.14))
            spoke_t = min(width, max(MIN_WALL * 2 * outer, width * rng.uniform(0.4, 1.0)))
            length = inner - hub_r * 0.5 + rim_t * 0.5
            phase = rng.uniform(0, 360)
            for k in range(count):
                arm = _box(length, spoke_w, spoke_t, at=(hub_r * 0.5 + length / 2, 0.0, mid - spoke_t / 2))
                pieces.append(arm.rotate((0, 0, phase + 360.0 * k / count)))
            params.update(spokes=count, spoke_width=spoke_w, spoke_thickness=spoke_t)
        else:  # a web disc, maybe with lightening holes
            web_t = min(width, max(MIN_WALL * 2 * outer, width * rng.uniform(0.25, 1.0)))
            web = _cylinder(inner + 0.01, mid - web_t / 2, mid + web_t / 2)
            holes = int(rng.integers(0, 9)) if kind == "web" else 0
            if holes >= 3 and inner - hub_r > 0.2 * outer:
                hr = min(0.4 * (inner - hub_r), 0.9 * math.pi * (inner + hub_r) / 2 / holes) / 2
                web = web - _holes(_circle_points(holes, (inner + hub_r) / 2, rng.uniform(0, np.pi)), hr, -1e3, 1e3)
                params["web_holes"] = holes
            pieces.append(web)
            params["web_thickness"] = web_t
        params.update(rim_thickness=rim_t, rim_width=width)
        top, bottom = max(width, hub_z0 + hub_h), min(0.0, hub_z0)
    solid = _union(pieces) - _cylinder(bore, bottom - 1, top + 1)
    if rng.random() < 0.4:  # a keyway in the bore
        key = bore * rng.uniform(0.3, 0.5)
        solid = solid - _box(key, bore * 1.4, top - bottom + 2, at=(0.0, bore * 0.5, bottom - 1))
        params["keyway"] = key
    return solid, params


def _smooth_outline(rng, size: float) -> tuple[list, float]:
    """A revolved body's ``(r, z)`` outline: knots joined by smooth (cosine) steps, a rounded top; and its height."""
    knots = int(rng.integers(3, 7))
    heights = np.concatenate([[0.0], np.cumsum(rng.uniform(0.2, 0.9, knots - 1) * size)])
    radii = size * rng.uniform(0.25, 1.0, knots)
    radii[int(rng.integers(knots))] = size
    outline = [(0.0, 0.0)]
    for k in range(knots - 1):
        for t in np.linspace(0, 1, 9)[:-1]:
            s = (1 - math.cos(math.pi * t)) / 2
            outline.append((radii[k] + (radii[k + 1] - radii[k]) * s, heights[k] + (heights[k + 1] - heights[k]) * t))
    cap = radii[-1] * rng.uniform(0.0, 1.0)
    top = heights[-1]
    for t in np.linspace(0, math.pi / 2, 10):
        outline.append((radii[-1] * math.cos(t), top + cap * math.sin(t)))
    outline[-1] = (0.0, top + cap)
    return outline, top + cap


def _knob(rng):
    kind = str(rng.choice(["smooth", "ball", "cone", "dome", "mushroom"], p=[0.35, 0.2, 0.15, 0.15, 0.15]))
    size = rng.uniform(10, 40)
    params = dict(kind=kind, size=size)
    if kind == "smooth":  # handles, bottles, vases, lathe-turned bodies
        outline, height = _smooth_outline(rng, size)
        solid = _revolved(outline)
    elif kind == "ball":  # a ball on a stem (ball knob, ball joint, lever end)
        stem_r = size * rng.uniform(0.25, 0.55)
        stem_h = size * rng.uniform(0.3, 2.0)
        solid = _cylinder(stem_r, 0.0, stem_h + size * 0.5)
        solid = solid + _m().Manifold.sphere(size, CIRCLE_SEGMENTS * 2).translate((0, 0, stem_h + size * 0.8))
        height = stem_h + 1.8 * size
        if rng.random() < 0.5:
            collar_r = stem_r * rng.uniform(1.3, 2.2)
            solid = solid + _cylinder(collar_r, 0.0, size * rng.uniform(0.15, 0.4), top_radius=collar_r * rng.uniform(0.6, 1.0))
            params["collar"] = collar_r
        params.update(stem_radius=stem_r, stem_height=stem_h)
    elif kind == "cone":
        height = size * rng.uniform(0.8, 3.5)
        tip = size * rng.uniform(0.0, 0.35)
        base_h = height * rng.uniform(0.0, 0.4)
        outline = [(0.0, 0.0), (size, 0.0), (size, base_h), (max(tip, 1e-3), height), (0.0, height)]
        solid = _revolved(outline)
        params.update(height=height, tip_radius=tip, base_height=base_h)
    elif kind == "dome":
        squash = rng.uniform(0.4, 1.2)
        skirt = size * rng.uniform(0.0, 0.8)
        solid = _m().Manifold.sphere(size, CIRCLE_SEGMENTS * 2).scale((1.0, 1.0, squash))
        solid = (solid ^ _cylinder(size * 1.1, 0.0, size * squash + 1)).translate((0, 0, skirt))
        if skirt > 0:
            solid = solid + _cylinder(size, 0.0, skirt + 0.01)
        height = skirt + size * squash
        if rng.random() < 0.4:  # a hollow cap
            wall = max(MIN_WALL * 2 * size, size * rng.uniform(0.1, 0.25))
            inner = _m().Manifold.sphere(size - wall, CIRCLE_SEGMENTS * 2).scale((1.0, 1.0, (size * squash - wall) / (size - wall)))
            solid = solid - (inner.translate((0, 0, skirt)) + _cylinder(size - wall, -1, skirt + 0.01))
            params["wall"] = wall
        params.update(squash=squash, skirt=skirt)
    else:  # a mushroom knob: a stem under a wide, rounded cap
        stem_r = size * rng.uniform(0.2, 0.5)
        stem_h = size * rng.uniform(0.3, 1.5)
        cap_h = size * rng.uniform(0.3, 0.8)
        cap = _m().Manifold.sphere(size, CIRCLE_SEGMENTS * 2).scale((1.0, 1.0, cap_h / size))
        cap = cap ^ _cylinder(size * 1.1, 0.0, cap_h + 1)
        solid = _cylinder(stem_r, 0.0, stem_h + 0.01) + _cylinder(size, stem_h, stem_h + cap_h * 0.3) + \
            cap.translate((0, 0, stem_h + cap_h * 0.3 - 0.01))
        height = stem_h + cap_h * 1.3
        if rng.random() < 0.4:  # grip flutes around the cap
            flutes = int(rng.integers(6, 16))
            solid = solid - _holes(_circle_points(flutes, size * 1.05, 0.0), size * rng.uniform(0.08, 0.15),
                                   stem_h - 1, height + 1)
            params["flutes"] = flutes
        params.update(stem_radius=stem_r, stem_height=stem_h, cap_height=cap_h)
    params["height"] = height
    if rng.random() < 0.5:  # a blind or through bore from below
        bore = size * rng.uniform(0.08, 0.25)
        depth = height * (rng.uniform(0.2, 0.6) if rng.random() < 0.6 else 1.2)
        solid = solid - _cylinder(bore, -1, depth)
        params.update(bore=bore, bore_depth=min(depth, height))
    if rng.random() < 0.2:  # a cross hole
        r = size * rng.uniform(0.08, 0.2)
        solid = solid - _along_x(r, -2 * size, 2 * size, z=height * rng.uniform(0.2, 0.6))
        params["cross_hole"] = r
    if rng.random() < 0.35:
        solid = _lie_down(solid, params)
    return solid, params


def _polygon_prism(sides: int, across_flats: float, height: float, *, chamfer: bool):
    """A regular prism of ``sides`` from z 0 to ``height``; ``chamfer`` cuts its corners with a double cone (like a nut)."""
    circum = across_flats / 2 / math.cos(math.pi / sides)
    prism = _m().CrossSection.circle(circum, sides).extrude(height)
    if not chamfer:
        return prism
    r0, rise = 0.95 * across_flats / 2, 1.7 * height / 2  # the cone's radius at a face, its widening to mid-height
    lower = _cylinder(r0, 0.0, height / 2 + 0.01, top_radius=r0 + rise)
    return prism ^ (lower + lower.mirror((0.0, 0.0, 1.0)).translate((0.0, 0.0, height)))


def _fastener(rng):
    kind = str(rng.choice(["nut", "bolt", "socket_screw", "eye_bolt", "wing_nut"], p=[0.3, 0.3, 0.15, 0.1, 0.15]))
    d = rng.uniform(6, 30)  # nominal thread diameter
    params = dict(kind=kind, diameter=d)
    if kind in ("nut", "wing_nut"):
        sides = int(rng.choice([6, 6, 6, 4, 8]))
        across = d * rng.uniform(1.5, 2.0)
        height = d * rng.uniform(0.5, 1.0)
        solid = _polygon_prism(sides, across, height, chamfer=rng.random() < 0.6)
        if rng.random() < 0.3:  # a washer face / flange
            flange = across * rng.uniform(0.6, 0.75)
            solid = solid + _cylinder(flange, 0.0, height * rng.uniform(0.15, 0.3))
            params["flange_radius"] = flange
        if kind == "wing_nut":
            span = across * rng.uniform(1.2, 2.0)
            wing_t = max(MIN_WALL * 2 * span, d * rng.uniform(0.2, 0.4))
            wing_h = height * rng.uniform(1.2, 2.5)
            wing = _m().Manifold.batch_hull([_box(across * 0.5, wing_t, height * 0.5, at=(0, 0, 0)),
                                             _along_y(wing_h * 0.3, -wing_t / 2, wing_t / 2, x=span * 0.7, z=wing_h * 0.7)])
            solid = solid + wing + wing.mirror((1.0, 0.0, 0.0))
            params.update(wing_span=span, wing_height=wing_h)
        if rng.random() < 0.2 and kind == "nut":  # a castle nut's slots
            slots = _union([_box(across * 2, d * 0.25, height * 0.5, at=(0, 0, height * 0.6)).rotate((0, 0, a))
                            for a in (0, 60, 120)])
            solid = solid - slots
            params["castle"] = True
        solid = solid - _cylinder(d / 2, -1, height * 3)
        params.update(sides=sides, across_flats=across, height=height)
    elif kind in ("bolt", "socket_screw"):
        length = d * rng.uniform(1.2, 6.0)
        if kind == "bolt":
            sides = int(rng.choice([6, 6, 4, 0]))
            across = d * rng.uniform(1.4, 1.9)
            head_h = d * rng.uniform(0.5, 0.8)
            head = _polygon_prism(sides, across, head_h, chamfer=rng.random() < 0.5) if sides else \
                _cylinder(across / 2, 0.0, head_h, top_radius=across / 2 * rng.uniform(0.6, 1.0))
            if rng.random() < 0.3:
                head = head + _cylinder(across * 0.6, 0.0, head_h * 0.2)
                params["flange"] = True
            params.update(head_sides=sides, across_flats=across)
        else:
            across = d * rng.uniform(1.4, 1.7)
            head_h = d * rng.uniform(0.8, 1.0)
            head = _cylinder(across / 2, 0.0, head_h) - _m().CrossSection.circle(d * 0.45, 6).extrude(head_h * 0.6).translate(
                (0, 0, head_h * 0.45))
        tip = d * 0.12 if rng.random() < 0.6 else 0.0  # a chamfered tip
        shank = _revolved([(0.0, -length), (d / 2 - tip, -length), (d / 2, -length + tip), (d / 2, 0.01), (0.0, 0.01)])
        params["tip_chamfer"] = tip
        if rng.random() < 0.3:  # a cross hole for a split pin
            shank = shank - _along_y(d * 0.15, -d, d, z=-length + d * 0.6)
            params["cross_hole"] = True
        solid = head + shank
        params.update(length=length, head_height=head_h)
    else:  # an eye bolt: a ring on a shank
        ring_r = d * rng.uniform(1.0, 2.0)
        ring_t = max(d * 0.35, ring_r * rng.uniform(0.25, 0.45))
        length = d * rng.uniform(1.5, 5.0)
        ring = _m().CrossSection.circle(ring_t, CIRCLE_SEGMENTS).translate((ring_r, 0.0)).revolve(CIRCLE_SEGMENTS * 2)
        ring = ring.rotate((90, 0, 0)).translate((0, 0, ring_r + ring_t * 0.5))
        collar = _cylinder(d * rng.uniform(0.8, 1.1), 0.0, ring_t)
        solid = ring + collar + _cylinder(d / 2, -length, 0.01)
        params.update(ring_radius=ring_r, ring_thickness=ring_t, length=length)
    if rng.random() < 0.5:
        solid = _lie_down(solid, params)
    return solid, params


def _fork(rng):
    kind = str(rng.choice(["clevis", "yoke", "bracket", "rod_end"], p=[0.3, 0.25, 0.25, 0.2]))
    width = rng.uniform(12, 50)  # prong width along x
    prong = width * rng.uniform(0.3, 0.8)  # prong thickness along y
    gap = width * rng.uniform(0.3, 1.2)
    height = width * rng.uniform(0.8, 2.5)  # prong length
    base = width * rng.uniform(0.3, 1.0)
    pin = width * rng.uniform(0.15, 0.33)
    params = dict(kind=kind, width=width, prong_thickness=prong, gap=gap, prong_length=height, base=base, pin=pin)
    tines = [0.0] if kind == "rod_end" else [-(gap + prong) / 2, (gap + prong) / 2]
    across = prong if kind == "rod_end" else 2 * prong + gap
    rounded = kind == "rod_end" or rng.random() < 0.65
    eye_z = base + height - width / 2
    pieces = []
    for y in tines:
        if rounded:
            eye = _along_y(width / 2, y - prong / 2, y + prong / 2, z=eye_z)
            pieces.append(_m().Manifold.batch_hull([eye, _box(width, prong, 0.01, at=(0, y, base - 0.01))])
                          if kind == "rod_end" else eye + _box(width, prong, eye_z - base + 0.01, at=(0, y, base - 0.01)))
        else:
            pieces.append(_box(width, prong, height + 0.01, at=(0, y, base - 0.01)))
    pieces.append(_box(width, across, base))
    params["rounded"] = rounded
    bottom = 0.0
    if kind in ("clevis", "rod_end"):  # a round shank below
        shank_r = max(0.2 * width, min(width, across) / 2 * rng.uniform(0.5, 1.0))
        shank_l = width * rng.uniform(0.5, 2.5)
        pieces.append(_cylinder(shank_r, -shank_l, 0.01))
        bottom = -shank_l
        params.update(shank_radius=shank_r, shank_length=shank_l)
    elif kind == "bracket":  # a base plate with holes
        plate_l = max(width, across) * rng.uniform(1.5, 3.0)
        plate_w = across * rng.uniform(1.0, 1.6)
        plate_t = max(MIN_WALL * plate_l, base * rng.uniform(0.4, 1.0))
        pieces.append(_box(plate_l, plate_w, plate_t, at=(0, 0, -plate_t + 0.01)))
        bottom = -plate_t
        hole = min(plate_l * 0.06, (plate_l - width) / 8) + 0.5
        params.update(plate_length=plate_l, plate_width=plate_w, plate_thickness=plate_t, plate_hole=hole)
    solid = _union(pieces)
    solid = solid - _along_y(pin, -across, across, z=eye_z)
    if kind == "bracket":
        offset = (width + params["plate_length"]) / 4
        solid = solid - _holes([(-offset, 0.0), (offset, 0.0)], params["plate_hole"], bottom - 1, 0.02)
    elif kind == "yoke" and rng.random() < 0.7:  # a bore up the base
        bore = min(width, across) * rng.uniform(0.15, 0.35)
        solid = solid - _cylinder(bore, -1, base * rng.uniform(0.5, 1.0))
        params["bore"] = bore
    elif kind == "clevis" and rng.random() < 0.5:  # a tapped hole in the shank
        solid = solid - _cylinder(params["shank_radius"] * 0.5, bottom - 1, bottom + params["shank_length"] * 0.6)
        params["shank_bore"] = True
    if rng.random() < 0.5:
        solid = _lie_down(solid, params)
    return solid, params


def _wedge(rng):
    kind = str(rng.choice(["wedge", "ridge", "frustum", "pyramid", "tapered"], p=[0.3, 0.15, 0.25, 0.1, 0.2]))
    length = rng.uniform(30, 120)
    width = length * rng.uniform(0.25, 1.0)
    height = length * rng.uniform(0.2, 0.8)
    foot = height * rng.uniform(0.0, 0.35)  # a vertical part at the bottom
    top_l, top_w, dx, dy = {
        "wedge": (0.01, width, -length / 2 + 0.005, 0.0),
        "ridge": (0.01, width, rng.uniform(-0.3, 0.3) * length, 0.0),
        "frustum": (length * rng.uniform(0.3, 0.8), width * rng.uniform(0.3, 0.8), 0.0, 0.0),
        "pyramid": (0.01, 0.01, rng.uniform(-0.2, 0.2) * length, rng.uniform(-0.2, 0.2) * width),
        "tapered": (length * rng.uniform(0.2, 0.7), width * rng.uniform(0.6, 1.0), 0.0, 0.0),
    }[kind]
    if kind == "tapered":
        dx = (length - top_l) / 2 * rng.uniform(-1, 1)
    if kind == "wedge" and rng.random() < 0.5:
        top_l = length * rng.uniform(0.05, 0.4)  # a flat on top
        dx = -length / 2 + top_l / 2
    bottom = _box(length, width, max(foot, 0.01))
    top = _box(top_l, top_w, 0.01, at=(dx, dy, height - 0.01))
    solid = _m().Manifold.batch_hull([bottom, top])
    params = dict(kind=kind, length=length, width=width, height=height, foot=foot, top_length=top_l, top_width=top_w,
                  top_offset=[dx, dy])
    features = [str(f) for f in rng.choice(["holes", "slot", "notch", "bore", "none"], size=int(rng.integers(1, 3)),
                                           replace=False)]
    params["features"] = features
    for feature in features:
        if feature == "holes":
            solid = _drill_through(solid, rng, length, width, height)
        elif feature == "slot":
            sw = width * rng.uniform(0.15, 0.4)
            solid = solid - _box(length * rng.uniform(0.3, 0.7), sw, height + 2, at=(rng.uniform(-0.2, 0.2) * length, 0, -1))
        elif feature == "notch":  # a rectangular cut under the slope, or a step
            nx, nz = length * rng.uniform(0.15, 0.4), height * rng.uniform(0.2, 0.5)
            z0 = height - nz if rng.random() < 0.5 else -1.0  # from the top, or from below
            solid = solid - _box(nx + 1, width + 2, nz + 1, at=(length / 2 - nx / 2 + 0.5, 0, z0))
        elif feature == "bore":
            r = min(width, height) * rng.uniform(0.1, 0.25)
            z = foot / 2 if foot > 2.5 * r else height * 0.3
            solid = solid - _along_y(r, -width, width, x=rng.uniform(-0.2, 0.2) * length, z=z)
    return solid, params


_BUILDERS = {
    "plate": _plate, "flange": _flange, "l_bracket": _l_bracket, "u_bracket": _u_bracket, "shaft": _shaft,
    "profile": _profile, "block": _block, "turned": _turned, "ribbed": _ribbed, "housing": _housing,
    "fitting": _fitting, "wheel": _wheel, "knob": _knob, "fastener": _fastener, "fork": _fork, "wedge": _wedge,
}  # fmt: skip


__all__ = ["FAMILIES", "MAX_SEED", "Part", "ROTATIONS", "SPLITS", "make_part", "part_family", "save_part"]
