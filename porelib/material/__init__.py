"""A user's own material: import, hold out, train, generate at any size and porosity, and score.

* :mod:`porelib.material.sample`: import a segmented volume, a 2-D image or 2–3 orthogonal
  sections (normal to x, y, z; rows and columns the other two axes in increasing order), the
  pore phase chosen by value, threshold or as the minority phase, and split off validation
  and held-out slabs (a strip per section).
* :mod:`porelib.material.run`: the run folder of ``python -m porelib train material`` (the
  imported sample kept beside the checkpoint) and the shipped example run.
* :mod:`porelib.material.generate`: volumes of any size at an exact porosity, from the
  trained generator (:mod:`porelib.models.material`) or a classical baseline.
* :mod:`porelib.material.statistics`: per-axis statistics of a volume of any box shape, of a
  2-D image and of the slices of a volume (:func:`~porelib.material.statistics.volume_statistics`,
  :func:`~porelib.material.statistics.image_statistics`,
  :func:`~porelib.material.statistics.slice_statistics`) and the distance between two of them.
* :mod:`porelib.material.reference`: :class:`~porelib.material.reference.HeldOutReference`, the
  held-out part of the sample cut into members of the scored size; each statistic of candidate
  volumes as a ratio to the members' noise floor, with a bootstrap 95 % interval;
  :class:`~porelib.material.reference.SectionReference` for 2-D sections, section by section.
* :mod:`porelib.material.score`: every method against the held-out slab, and the one to use.
* :mod:`porelib.material.baselines`: a level-cut Gaussian random field matched to the sample's
  two-point correlation, overlapping spheres fitted to its pore sizes, copied training patches,
  and the nearest-patch IoU memorisation check.
* :mod:`porelib.material.examples`: materials made by PoreSpy's generators from a seed, for
  tests and benchmarks (PoreSpy is a test dependency, imported only there).

A volume is a numpy bool array ``volume[ix, iy, iz]`` and an image ``image[i, j]``, ``True`` =
pore; lengths are in voxels.
"""
