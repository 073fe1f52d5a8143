"""Probes: the instruments that observe a run, behind one protocol (:mod:`netopt.probes.base`), one
module each, chosen with the ``probes`` config group (``probes=[sharpness,layer_stats]``)."""

from netopt.probes.base import Direction, Probe, ProbeContext

__all__ = ["Direction", "Probe", "ProbeContext"]
