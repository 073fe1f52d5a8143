"""Commands answer at once: ``--help`` and a config mistake import no torch (nor any component), the
presets are typed from the generated schema cache, and a run says where it goes before it imports them.

Each command runs in a fresh interpreter, as a new user starts it, and reports whether torch was
imported by the time it ended (no timing is asserted: the machine may be busy)."""

import dataclasses
import os
import subprocess
import sys

import pytest

from netopt import config, schemas

PROBE = """
import sys
from {module} import main
sys.argv = {argv!r}
try:
    main()
except SystemExit:
    pass
print("torch imported" if "torch" in sys.modules else "no torch", file=sys.stderr)
"""


def started(module: str, *args: str) -> subprocess.CompletedProcess:
    code = PROBE.format(module=module, argv=[module, *args])
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}  # Hydra's traceback switch
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("netopt.cli.train", ["--help"]),
        ("netopt.cli.train", ["optimizer=adamm"]),
        ("netopt.cli.train", ["optimizer.lrr=0.1"]),
        ("netopt.cli.train", ["trainer.max_epochs=abc"]),
        ("netopt.cli.trajectories", ["--help"]),
        ("netopt.cli.trajectories", ["optimizer=adamm"]),
        ("netopt.cli.landscape", ["--help"]),
        ("netopt.cli.landscape", ["RUN", "--points", "x"]),
        ("netopt.cli.report", ["--help"]),
        ("netopt.cli.hpo_budget", ["--help"]),
        ("netopt.cli.nas", ["--help"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v.rsplit(".", 1)[-1],
)
def test_help_and_a_mistake_import_no_torch(module, args):
    done = started(module, *args)
    assert done.stderr.strip().splitlines()[-1] == "no torch", done.stderr
    assert "Traceback" not in done.stderr


def test_a_run_names_its_folder_and_options_before_importing_torch(tmp_path):
    """The first lines: the folder, the option of every group, the overrides; then torch."""
    code = (
        "import sys, netopt.cli.train as t\n"
        "def stop(*a, **k):\n"
        "    print('torch imported' if 'torch' in sys.modules else 'no torch', flush=True)\n"
        "    raise SystemExit(0)\n"
        "t.announce, announce = (lambda *a: (announce(*a), stop())), t.announce\n"
        f"sys.argv = ['netopt-train', 'optimizer=adam', 'hydra.run.dir={tmp_path / 'run'}']\n"
        "t.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert lines[0] == f"run folder: {tmp_path / 'run'}", done.stdout + done.stderr
    assert lines[1].startswith("  options: dataset=digits model=mlp optimizer=adam scheduler=constant")
    assert lines[2] == "  set: optimizer=adam" and lines[3] == "no torch"


def test_the_schema_cache_matches_the_signatures():
    live = schemas.live_schemas(config.targets())
    assert live == schemas.cached(), f"netopt/schemas.json is out of date; run {schemas.REGENERATE}"


def test_a_target_missing_from_the_cache_is_read_from_its_signature(monkeypatch):
    def fields(path: str) -> dict:
        return {f.name: (f.type, f.default) for f in dataclasses.fields(schemas.schema.__wrapped__(path))}

    cached = fields("netopt.optim.SGD")
    monkeypatch.setattr(schemas, "cached", dict)  # no cache: the signature is read
    assert fields("netopt.optim.SGD") == cached
    assert cached["_partial_"] == (bool, True) and cached["lr"] == (float, 1e-3)


def test_the_yaml_of_the_config_tree_reads_as_omegaconf_reads_it():
    from omegaconf import OmegaConf

    for *_, text, loaded in config._presets():
        assert loaded == config.container(OmegaConf.create(text), resolve=False)
