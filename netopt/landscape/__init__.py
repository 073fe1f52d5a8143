"""Instruments for the optimization landscape: curvature (Hessian), loss slices, toy trajectories.

- :mod:`netopt.landscape.hessian`: Hessian-vector products, sharpness (top eigenvalue), trace,
  per-layer sharpness;
- :mod:`netopt.landscape.slices`: the loss along the line from initial to final weights and over a
  plane of filter-normalized directions;
- :mod:`netopt.landscape.toy`: optimizer trajectories on 2-D test functions;
- :mod:`netopt.landscape.plot`: their figures.

The studies that apply them to a run folder or to every optimizer preset are in :mod:`netopt.studies`.
"""
