"""The optimizer benchmark: workloads, submissions, time to target and scores (``netopt-bench``)."""
