"""``netopt-trajectories [OVERRIDES]``: every optimizer of ``optimizers`` on each 2-D test function of
``functions`` at each gradient-noise level of ``noise`` and for each of ``seeds``; the options are
those of ``conf/trajectories.yaml``, its presets (``experiment=optimizers_toy``) in
``conf/trajectories/`` (:mod:`netopt.studies.trajectories`). Writes a figure per function,
trajectories.csv, records.jsonl and the report with the ``claims`` judged.
"""

import sys

from netopt.composition import error_line
from netopt.errors import UserError, user_error
from netopt.studies.trajectories import trajectories


def main() -> None:
    """Console entry point of ``netopt-trajectories``."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        out = trajectories(sys.argv[1:])
    except (UserError, HydraException, OmegaConfBaseException) as error:
        cause = user_error(error)
        message = str(cause).strip().splitlines()[0] if cause else error_line(error)
        print(f"netopt-trajectories: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"written: {out}")


if __name__ == "__main__":
    main()
