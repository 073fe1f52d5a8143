"""The composed config of a run, from Python as from the command line: :func:`compose`.

``compose("optimizer=adam", "trainer.max_epochs=5")`` gives the same typed config ``netopt-train
optimizer=adam trainer.max_epochs=5`` trains with: every preset merged onto the schema of its
target (:mod:`netopt.config`), unknown keys and values of the wrong type refused. It needs no Hydra
set-up and leaves any Hydra state of the caller (a running app, an ``initialize`` block) as it was.
A mistake becomes a :class:`~netopt.errors.UserError` of one line naming the key
(:func:`error_line`), as the command line prints it.
"""

import sys
from dataclasses import fields, is_dataclass
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from netopt import config
from netopt.errors import UserError

#: Fields of the former single ``regularization`` component, and where each moved.
MOVED_REGULARIZATION = {
    f"regularization.{old}=": f"moved to {new}, with regularization={group} (or [{group},...]){also}"
    for old, group, new, also in (
        ("l1", "l1", "regularization.l1.strength", ""),
        ("l1_proximal", "l1", "regularization.l1.proximal", ""),
        ("l2", "l2", "regularization.l2.strength", ""),
        ("penalize_all", "l2", "regularization.l2.penalize_all", "; L1's is regularization.l1.penalize_all"),
        ("dropout", "dropout", "regularization.dropout.p", "; or the model's own model.dropout"),
        (
            "rnn_dropout",
            "dropout",
            "regularization.dropout.rnn_dropout",
            "; or the model's own model.rnn_dropout",
        ),
        ("dropconnect", "dropconnect", "regularization.dropconnect.p", ""),
        ("label_smoothing", "label_smoothing", "regularization.label_smoothing.eps", ""),
    )
}


_NOISE_MOVED = "gradient noise is a group of its own: grad_noise=gaussian grad_noise."
_COMPILE_MOVED = "compiling the update is a trainer option: trainer.compile_optimizer=true"
#: Old spellings that moved, and where to (the first that matches is named).
MOVED = {
    "regularization=early_stopping": "early stopping is a group of its own: early_stopping=val_loss",
    "trainer.sharpness_every": "moved; use probes=sharpness probes.sharpness.every=N",
    "trainer.layer_sharpness": "moved; use probes=sharpness probes.sharpness.per_layer=true",
    "trainer.diagnostics_every": "moved; use probes=[layer_stats,effective_lr] probes.layer_stats.every=N",
    "trainer.mc_samples": "moved; use probes=mc_dropout probes.mc_dropout.samples=N",
    "optimizer/base": "SAM's base is chosen from the optimizer group: optimizer@optimizer.base=<option>",
    "optimizer.grad_noise_decay": _NOISE_MOVED + "gamma=<gamma>",
    "optimizer.base.grad_noise_decay": _NOISE_MOVED + "gamma=<gamma>",
    "optimizer.grad_noise": _NOISE_MOVED + "eta=<eta>",
    "optimizer.base.grad_noise": _NOISE_MOVED + "eta=<eta>",
    "optimizer.compile": _COMPILE_MOVED,
    "optimizer.base.compile": _COMPILE_MOVED,
    **MOVED_REGULARIZATION,
}


def compose(*overrides: str, hydra: bool = False) -> DictConfig:
    """The ``train`` config composed with ``overrides`` (``GROUP=OPTION``, ``GROUP.FIELD=VALUE``), typed
    and checked for unknown keys; with ``hydra``, Hydra's own node too (``cfg.hydra``)."""
    config.register()
    saved = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    GlobalHydra.instance().clear()
    try:
        with initialize(version_base="1.3", config_path=None):
            cfg = hydra_compose(config.PRIMARY, overrides=list(overrides), return_hydra_config=hydra)
    except (HydraException, OmegaConfBaseException) as error:
        raise UserError(error_line(error, overrides)) from None
    finally:
        GlobalHydra.instance().clear()
        if saved is not None:
            GlobalHydra.instance().initialize(saved)
    if not hydra:
        config.check_keys(cfg)
    return cfg


def error_line(error: Exception, arguments: Any = None) -> str:
    """A configuration error as one line naming the key and what is allowed; ``arguments`` (the
    command line's, by default) tell an old spelling (:data:`MOVED`)."""
    text = str(error)
    arguments = sys.argv[1:] if arguments is None else list(arguments)
    for spelling, pointer in MOVED.items():
        if spelling in text or any(arg.startswith(spelling) for arg in arguments):
            return f"{spelling.rstrip('=')}: {pointer}"
    if isinstance(error, OverrideParseException):
        reason = text.strip().splitlines()[0]
        if reason.startswith("LexerNoViableAltException"):
            reason = "a character the override grammar does not allow"
        grammar = "https://hydra.cc/docs/advanced/override_grammar/basic/"
        return f"{error.override}: cannot be read ({reason}); numbers in digits, text quoted, see {grammar}"
    if isinstance(error, MissingConfigException) and error.options is not None:
        group = (error.missing_cfg_file or "").rsplit("/", 1)[0]
        option = (error.missing_cfg_file or "").rsplit("/", 1)[-1]
        return f"{group}={option}: no such option; choose one of {', '.join(sorted(error.options))}"
    cause = error if isinstance(error, OmegaConfBaseException) else error.__cause__
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        message = str(getattr(cause, "msg", cause)).strip().splitlines()[0]
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
            message = f"unknown key; allowed: {', '.join(sorted(allowed_keys(cause)))}"
        return f"{cause.full_key}: {message}"
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[:3]) or type(error).__name__


def allowed_keys(error: ConfigKeyError | ConfigAttributeError) -> list[str]:
    """The keys of the config node an unknown key was set on (its schema's fields)."""
    if is_dataclass(error.object_type):
        return [f.name for f in fields(error.object_type) if not f.name.startswith("_")]
    node = error.parent_node if error.parent_node is not None else error.child_node
    return [str(key) for key in node] if node is not None else []
