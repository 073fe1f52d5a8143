"""Every ``netopt-train`` command of the README composes and passes every check (without training)."""

import re
import shlex
from pathlib import Path

import pytest

from netopt.cli.train import print_help
from netopt.components import preflight
from tests.helpers import compose_config

README = Path(__file__).resolve().parents[1] / "README.md"


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
