"""Every ``netopt-train`` command of the README composes and passes every check (without training)."""

import difflib
import re
import shlex
from pathlib import Path

import pytest
import yaml

from netopt import docs
from netopt.cli.train import print_help
from netopt.components import preflight
from tests.helpers import compose_config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def commands() -> list[str]:
    """The README's ``netopt-train`` command lines (continuations joined; ``torchrun ... -m
    netopt.cli.train`` as ``netopt-train``), without placeholders."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    lines = [re.sub(r"^torchrun .*?-m netopt\.cli\.train", "netopt-train", line.strip()) for line in lines]
    return [
        line.split("  #")[0].split(" # ")[0].strip()
        for line in lines
        if line.startswith("netopt-train") and "<" not in line
    ]


def one_job(arguments: list[str]) -> list[str]:
    """The overrides of one job of a sweep: the first value of each comma-separated list; search
    dimensions (``choice``, ``interval``, ...) are left to the sweeper."""
    job = []
    for argument in arguments:
        key, _, value = argument.partition("=")
        if re.search(r"\b(interval|choice|range|tag)\(", value):
            continue
        if "," in value and not value.startswith("["):
            value = value.split(",")[0]
        job.append(f"{key}={value}")
    return job


@pytest.mark.parametrize("command", commands())
def test_readme_command_composes_and_checks(command: str, capsys) -> None:
    arguments = [a for a in shlex.split(command)[1:] if a != "-m"]
    if "--help" in arguments:
        print_help(arguments)
        assert "Config groups" in capsys.readouterr().out
        return
    preflight(compose_config(*one_job(arguments)))


def test_the_readme_has_commands() -> None:
    assert len(commands()) > 20


def test_the_readme_option_table_matches_the_registry() -> None:
    text = README.read_text(encoding="utf-8")
    generated = docs.with_tables(text)
    if text != generated:
        diff = difflib.unified_diff(
            text.splitlines(), generated.splitlines(), "README.md", "generated", n=0, lineterm=""
        )
        shown = "\n".join(list(diff)[:12])
        pytest.fail(
            f"README.md's option table differs from the config registry; run {docs.REGENERATE}\n{shown}"
        )


def test_the_readme_says_what_make_lint_runs() -> None:
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), flags=re.M)
    assert recipe, "Makefile: no lint target"
    commands = [line.strip().removeprefix("$(BIN)/") for line in recipe[1].splitlines()]
    missing = [c for c in commands if f"`{c}`" not in README.read_text(encoding="utf-8")]
    assert not missing, f"README.md does not say that make lint runs {missing}"


def test_the_python_example_runs(tmp_path, monkeypatch):
    """The README's Python block, as written (one epoch instead of three), from a folder of its own."""
    (block,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(block.replace("trainer.max_epochs=3", "trainer.max_epochs=1"), namespace)
    assert namespace["metrics"]["status"] == "completed"
    assert (tmp_path / "outputs/runs/adam_sgdr/metrics.json").exists()
    assert type(namespace["parts"].optimizer).__name__ == "Adam"


def test_the_readme_names_run_folders_as_netopt_does(tmp_path) -> None:
    """The examples of "What a run leaves" are the names the resolvers of hydra.run.dir and
    hydra.sweep.subdir give."""
    from netopt.config import folder_suffix, job_folder

    text = " ".join(README.read_text(encoding="utf-8").split())
    run = folder_suffix(["optimizer=adam", "optimizer.lr=0.01"], None)
    assert (
        f"`outputs/runs/2026-12-07_17-11-19_001940{run}/` for `netopt-train optimizer=adam optimizer.lr=0.01`"
        in text
    )
    assert folder_suffix(["optimizer=adam"], "x") == "_x" and folder_suffix([], None) == ""
    sweep = {"hydra": {"sweeper": {}, "overrides": {"task": ["optimizer=sgd,momentum", "trainer.seed=0,1"]}}}
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump(sweep))
    job = job_folder(3, ["optimizer=momentum", "trainer.seed=1"], str(tmp_path))
    assert f"`{job}`" in text


def test_the_readme_single_node_torchrun_recipes_bind_the_store_to_localhost() -> None:
    """torch's rendezvous store trusts whoever connects: one machine means localhost."""
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S))
    lines = [line for line in blocks.replace("\\\n", " ").splitlines() if line.startswith("torchrun")]
    assert lines
    for line in lines:
        words = shlex.split(line.split("  #")[0])
        single = not any(w.startswith("--nnodes") and not w.endswith("=1") for w in words)
        local = (
            "--standalone" in words
            or "--master-addr=127.0.0.1" in words
            or "--master_addr=127.0.0.1" in words
        )
        assert local or not single, f"README: {line}: add --standalone (binds the store to localhost)"
