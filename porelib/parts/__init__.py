"""Part from a picture (seed 004): procedural CAD-like parts, their renders, voxels and meshes."""
