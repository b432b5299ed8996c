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
==============  ==========================================================================

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
FAMILIES = ("plate", "flange", "l_bracket", "u_bracket", "shaft", "profile", "block", "turned", "ribbed", "housing")

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
        solid = solid.rotate((0, 90, 0))  # lying along x
        params["lying"] = True
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
        solid = solid.rotate((0, 90, 0))  # a bar lying along x
        params["lying"] = True
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
            hole = min(length, width) * rng.uniform(0.04, 0.1)
            _, points = _hole_pattern(rng, length, width, hole)
            if points:
                solid = solid - _holes(points, hole, -1, height + 1)
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
        solid = solid.rotate((0, 90, 0))
        params["lying"] = True
    return solid, params


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


_BUILDERS = {
    "plate": _plate, "flange": _flange, "l_bracket": _l_bracket, "u_bracket": _u_bracket, "shaft": _shaft,
    "profile": _profile, "block": _block, "turned": _turned, "ribbed": _ribbed, "housing": _housing,
}  # fmt: skip


__all__ = ["FAMILIES", "MAX_SEED", "Part", "ROTATIONS", "SPLITS", "make_part", "part_family", "save_part"]
