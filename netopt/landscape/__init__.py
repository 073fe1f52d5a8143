"""Instruments for the optimization landscape: curvature (Hessian), loss slices, toy trajectories.

- :mod:`netopt.landscape.hessian`: Hessian-vector products, sharpness (top eigenvalue), trace,
  per-layer sharpness;
- :mod:`netopt.landscape.slices`: the loss along the line from initial to final weights and over a
  plane of filter-normalized directions; :mod:`netopt.landscape.run_slices` both of a run folder;
- :mod:`netopt.landscape.toy`: optimizer trajectories on 2-D test functions;
  :mod:`netopt.landscape.trajectories` every optimizer preset on them, with a record per path and
  the report of :mod:`netopt.landscape.report`;
- :mod:`netopt.landscape.plot`: their figures.
"""
