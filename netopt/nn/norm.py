"""Where a model puts its normalization: the three places the chapter names.

A model calls these hooks while it is built; each option of the ``norm`` config group is a
subclass that overrides the hooks it needs. The base class is ``norm=none``: every hook is the
identity.
"""

from torch import nn


class Normalization:
    """No normalization (``norm=none``); the base of every normalization choice."""

    def wrap(self, layer: nn.Module) -> nn.Module:
        """Reparametrize an affine layer's weight (weight norm); the identity here."""
        return layer

    def after_affine(self, num_features: int, spatial: bool) -> nn.Module:
        """The layer between the affine map and the activation (batch, layer, group norm)."""
        return nn.Identity()

    def after_activation(self, num_features: int, spatial: bool) -> nn.Module:
        """The layer after the activation (local response norm)."""
        return nn.Identity()
