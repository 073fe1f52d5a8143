"""Configs derived from signatures: each option is declared once, as a parameter of its component.

A preset ``conf/<group>/<name>.yaml`` names a component by ``_target_`` and sets only the values that
differ from the component's defaults. :func:`register` stores every file of the config tree in
Hydra's ConfigStore, each preset merged onto the schema of its target (:func:`netopt.schemas.schema`): a
dataclass with one field per parameter, typed from its annotation and defaulting to its default, read
from the generated cache ``netopt/schemas.json`` so that composing imports no component (nor torch);
:func:`targets` lists what the cache covers. Hydra then composes typed
configs, which refuse an unknown key or a value of the wrong type while composing, and
``netopt-train --help`` shows every field with its default.

Positional parameters without a default are what the runner supplies when it builds the component
(an optimizer's ``params``, a model's ``in_shape``): they get no field, and a target that has them is
built as a partial (``_partial_: true``). A keyword-only parameter without a default is a required
field (``???``). Values are range-checked by the components themselves when they are built.
"""

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, cast

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from omegaconf._utils import get_yaml_loader
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from netopt.errors import UserError
from netopt.schemas import schema

CONF_PACKAGE = "netopt.conf"
PRIMARY = "train"
_PACKAGE_HEADER = re.compile(r"^#\s*@package\s+(\S+)", re.MULTILINE)
#: Options of each group, as :func:`register` stored them (``{"optimizer": ["adam", ...]}``).
OPTIONS: dict[str, list[str]] = {}
#: Folders of the config tree that hold another command's config group: ``conf/trajectories/`` holds
#: the presets of netopt-trajectories' ``experiment`` group, which netopt-train neither lists nor composes;
#: ``conf/bench/`` netopt-bench's groups (``size``, ``workload``, ``space``).
COMMAND_GROUPS = {"trajectories": "experiment", "bench": ""}
_REGISTERED: set[str] = set()


def _loader() -> Any:
    """OmegaConf's YAML loader (its float and duplicate-key rules), on libyaml's parser when PyYAML
    has it: the same values as ``OmegaConf.create(text)``, read many times faster."""
    omegaconf_loader = get_yaml_loader()
    if not yaml.__with_libyaml__:
        return omegaconf_loader
    from yaml.cyaml import CParser

    class Loader(CParser, omegaconf_loader):  # type: ignore[misc, valid-type]  # made at run time
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    return Loader


_LOADER = _loader()


def read_yaml(text: str) -> dict[str, Any]:
    """A YAML file of the config tree as plain dicts and lists, as OmegaConf reads it."""
    return yaml.load(text, Loader=_LOADER) or {}  # noqa: S506 (a safe loader)


def container(cfg: DictConfig | ListConfig, resolve: bool = True) -> dict[str, Any]:
    """``cfg`` as plain nested dicts and lists (``OmegaConf.to_container`` of a mapping)."""
    plain = OmegaConf.to_container(cfg, resolve=resolve)
    assert isinstance(plain, dict)
    return cast(dict[str, Any], plain)


def typed(node: Mapping[str, Any], source: str = "") -> DictConfig:
    """``node`` merged onto the schema of its ``_target_``, nested targets too (a defaults list kept)."""
    values = dict(node)
    defaults = values.pop("defaults", None)
    for key, value in values.items():
        if isinstance(value, Mapping) and "_target_" in value:
            values[key] = typed(value, source)
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(schema(values["_target_"])), values)
    except Exception as error:  # a preset that does not fit its target is a bug in the config tree
        raise ValueError(f"{source}: {error}") from error
    if defaults is not None:
        with open_dict(cfg):
            cfg.defaults = defaults
    assert isinstance(cfg, DictConfig)
    return cfg


def typed_targets(node: Mapping[str, Any], source: str = "") -> Any:
    """``node`` with every mapping in it that has a ``_target_`` typed by :func:`typed`, at any depth:
    a preset, or a group's dict of components (``regularization: {l2: {_target_: ...}}``)."""
    if "_target_" in node:
        return typed(node, source)
    return {k: typed_targets(v, source) if isinstance(v, Mapping) else v for k, v in node.items()}


def _yaml_files(folder: Traversable, group: str = "") -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _yaml_files(entry, f"{group}/{entry.name}".lstrip("/"))
        elif entry.name.endswith(".yaml"):
            yield group, entry


def _presets() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """Every file of the config tree: its folder (``optimizer``, ``""`` for the top), name, text and
    content (unresolved)."""
    for group, file in _yaml_files(resources.files(CONF_PACKAGE)):
        text = file.read_text(encoding="utf-8")
        yield group, file.name.removesuffix(".yaml"), text, read_yaml(text)


def targets() -> set[str]:
    """Every ``_target_`` of the config tree, nested ones too (the keys of ``netopt/schemas.json``)."""

    def found(node: Any) -> Iterator[str]:
        if isinstance(node, Mapping):
            if isinstance(node.get("_target_"), str):
                yield node["_target_"]
            for value in node.values():
                yield from found(value)
        elif isinstance(node, list):
            for value in node:
                yield from found(value)

    return {target for *_, loaded in _presets() for target in found(loaded)}


def folder_suffix(overrides: Sequence[str], name: str | None) -> str:
    """``_<name>`` for a run folder: ``name`` when given, else the overrides shortened (``""`` when
    there are none); the resolver ``netopt.folder`` of ``hydra.run.dir``."""
    from netopt.labels import folder_name, run_name

    text = (
        run_name(str(name))
        if name not in (None, "")
        else folder_name(dict(o.split("=", 1) for o in overrides if "=" in o))
    )
    return f"_{text}" if text else ""


def job_folder(number: int, overrides: Sequence[str], sweep_dir: str) -> str:
    """``NNN_<the overrides this sweep varies>`` for job ``number`` of a grid sweep (the resolver
    ``netopt.job`` of ``hydra.sweep.subdir``). The swept keys are read from the sweep's
    ``multirun.yaml``: those of ``hydra.sweeper.params`` and the command line's sweeps (``a,b``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from netopt.labels import folder_name

    master = Path(sweep_dir) / "multirun.yaml"
    swept: set[str] = set()
    if master.exists():
        hydra = OmegaConf.load(master).hydra
        parser = OverridesParser.create()
        swept = set(hydra.sweeper.get("params") or {}) | {
            o.get_key_element()
            for o in parser.parse_overrides(list(hydra.overrides.task))
            if o.is_sweep_override()
        }
    params = dict(o.split("=", 1) for o in overrides if "=" in o and o.split("=", 1)[0] in swept)
    return "_".join(filter(None, [f"{number:03d}", folder_name(params)]))


def register(command: str = PRIMARY) -> None:
    """Store every YAML file of the config tree in Hydra's ConfigStore, presets typed by their target,
    and register the resolver that names run folders. A folder of :data:`COMMAND_GROUPS` is stored,
    as its group, only for its own ``command`` (``trajectories``), and never listed in :data:`OPTIONS`.
    Once per command and process: a second call finds it stored."""
    if command in _REGISTERED:
        return
    _REGISTERED.add(command)
    for name, resolver in (("netopt.folder", folder_suffix), ("netopt.job", job_folder)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
    store = ConfigStore.instance()
    for group, name, text, loaded in _presets():
        folder, _, rest = group.partition("/")
        if folder in COMMAND_GROUPS and folder != command:
            continue
        node = typed_targets(loaded, f"conf/{group}/{name}.yaml")
        package = _PACKAGE_HEADER.search(text)
        if folder in COMMAND_GROUPS:
            group = "/".join(filter(None, (COMMAND_GROUPS[folder], rest)))
        store.store(
            name=name, node=node, group=group or None, package=package and package[1], provider="netopt"
        )
        if group and not group.startswith("hydra") and folder not in COMMAND_GROUPS:
            OPTIONS.setdefault(group, [])
            if name not in OPTIONS[group]:
                OPTIONS[group].append(name)


def _primary() -> dict[str, Any]:
    return read_yaml(resources.files(CONF_PACKAGE).joinpath(f"{PRIMARY}.yaml").read_text(encoding="utf-8"))


def primary_groups() -> list[str]:
    """The config groups the primary config composes, in the order of its defaults list."""
    entries = _primary().get("defaults", [])
    keys = (next(iter(entry)) for entry in entries if isinstance(entry, Mapping))
    return [key for key in keys if not key.startswith("override ")]


def root_keys() -> set[str]:
    """The keys the primary config may hold: its own and one per config group it composes."""
    return {key for key in _primary() if key not in ("defaults", "hydra")} | set(primary_groups())


def check_keys(cfg: DictConfig, prefix: str = "") -> None:
    """Refuse keys no schema declares (added with ``+``), naming the key and the allowed ones."""
    declared = OmegaConf.get_type(cfg)
    allowed = {f.name for f in dataclasses.fields(declared)} if dataclasses.is_dataclass(declared) else None
    if not prefix:
        allowed = root_keys()
    for key in map(str, cfg):
        if allowed is not None and key not in allowed:
            shown = ", ".join(sorted(k for k in allowed if not k.startswith("_")))
            raise UserError(f"{prefix}{key}: unknown key; allowed: {shown}")
        child = cfg._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            check_keys(child, f"{prefix}{key}.")


def help_text(cfg: DictConfig, choices: Mapping[str, Any]) -> str:
    """``--help``: every config group with its options (the chosen one starred), then the fields of the
    chosen options with their current values (``GROUP.FIELD=VALUE`` sets one)."""
    lines = ["Config groups (GROUP=OPTION; * chosen):"]
    width = max(map(len, OPTIONS))
    for group in sorted(OPTIONS):
        chosen = choices.get(group)
        options = [f"*{o}" if o == chosen else o for o in sorted(OPTIONS[group])]
        lines.append(f"  {group:<{width}}  {' '.join(options)}")
    lines += ["", "Fields of the chosen options (GROUP.FIELD=VALUE):"]
    for group in map(str, cfg):
        node = cfg._get_node(group)
        if isinstance(node, DictConfig):
            fields = _fields(node, "    ") or ["    (no fields)"]
            lines += [f"  {group} ({choices.get(group, '-')}):", *fields]
    return "\n".join(lines)


def _fields(node: DictConfig, indent: str) -> list[str]:
    from netopt.hpo.summary import format_value

    lines = []
    for key, value in container(node, resolve=False).items():
        if key.startswith("_"):
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig) and isinstance(value, dict):
            lines += [f"{indent}{key}:", *_fields(child, indent + "  ")]
        else:
            lines.append(f"{indent}{key}={format_value(value)}")
    return lines
