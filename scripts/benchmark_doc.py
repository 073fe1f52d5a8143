"""Copy the reports of real ``netopt-bench`` runs into docs/benchmark/, as the command wrote them:
each output folder's report.md and figures go to ``docs/benchmark/<name>/`` (nothing typed in by hand).

    python scripts/benchmark_doc.py external=outputs/bench/external self=outputs/bench/self
"""

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What a benchmark's folder holds that the page shows.
FILES = ("report.md", "profiles.png", "times.png", "budget.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="NAME=FOLDER: a netopt-bench output folder, shown as NAME")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmark")
    args = parser.parse_args(argv)
    for item in args.runs:
        name, _, folder = item.partition("=")
        if not folder or not (Path(folder) / "report.md").is_file():
            parser.error(f"{item}: give NAME=FOLDER, a folder holding a netopt-bench report.md")
        target = args.out / name
        target.mkdir(parents=True, exist_ok=True)
        for file in FILES:
            shutil.copyfile(Path(folder) / file, target / file)
        print(f"{folder} -> {target}")


if __name__ == "__main__":
    main()
