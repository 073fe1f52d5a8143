"""Draw docs/landscape_2d.png: the train loss over a plane of filter-normalized directions around
the final weights of the default run (the digits MLP), as ``netopt-landscape`` draws it.

Trains ``netopt-train`` with the default config (plus overrides) into a temporary folder, runs the
landscape of that folder (:func:`netopt.studies.landscape.landscape`) and copies its
``landscape_2d.png``. ``--small`` makes it a smoke run (one epoch of a few batches, a 5 x 5 grid).

    python scripts/plot_landscape.py                                 # writes docs/landscape_2d.png
    python scripts/plot_landscape.py --out wide.png --span 0.5 optimizer=adam
"""

import argparse
import shutil
import tempfile
from pathlib import Path

from netopt import compose
from netopt.api import fit
from netopt.studies.landscape import landscape


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "docs" / "landscape_2d.png")
    parser.add_argument("--points", type=int, default=21, help="grid points along each direction")
    parser.add_argument("--span", type=float, default=1.0, help="the grid covers [-span, span]^2")
    parser.add_argument("--small", action="store_true", help="a smoke run: debug=fast, 5 x 5 points")
    parser.add_argument("overrides", nargs="*", help="netopt-train overrides")
    args = parser.parse_args(argv)
    overrides = ["trainer.progress=false", *(["debug=fast"] if args.small else []), *args.overrides]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        fit(compose(*overrides), run_dir)
        samples, points = (64, 5) if args.small else (2048, args.points)
        landscape(run_dir, points, args.span, samples, surface=False, seed=0)
        shutil.copyfile(run_dir / "landscape_2d.png", args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
