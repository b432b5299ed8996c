"""A user's own material: import, hold out, train, generate at any size and porosity, and score.

* :mod:`porelib.material.sample`: import a segmented volume or 2-D image (the pore phase
  chosen by value, threshold or as the minority phase) and split off a held-out slab.
"""
