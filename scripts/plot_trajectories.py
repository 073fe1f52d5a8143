"""Plot the paths of sgd, momentum, adam, rmsprop and adagrad on a 2-D test function.

Each optimizer is netopt's own, with a learning rate chosen per function so that every path is
visible in the window (plain gradient descent needs a small one on Rosenbrock's steep walls). On the
saddle x^2 - y^2 every path starts just off the ridge (y = 0.01): plain gradient descent and momentum
creep towards the saddle point before the y-direction takes over, the adaptive methods rescale the
tiny y-gradient and leave at once.

    python scripts/plot_trajectories.py                              # writes docs/trajectories.png
    python scripts/plot_trajectories.py --function rosenbrock --out rosenbrock.png
"""

import argparse
import functools
from pathlib import Path

from netopt import optim
from netopt.landscape.plot import plot_trajectories
from netopt.landscape.toy import FUNCTIONS, MakeOptimizer, trajectory

#: (sgd, momentum, adam, rmsprop, adagrad) learning rates, and the number of steps, per function.
SETTINGS = {
    "sphere": ((0.1, 0.05, 0.3, 0.1, 1.0), 60),
    "quadratic": ((0.9, 0.1, 0.3, 0.1, 1.5), 100),
    "rosenbrock": ((1e-3, 1e-3, 0.05, 0.01, 0.5), 1000),
    "saddle": ((0.05, 0.02, 0.05, 0.02, 0.3), 150),
    "monkey_saddle": ((0.02, 0.01, 0.05, 0.02, 0.3), 150),
}


def optimizers(rates: tuple[float, ...]) -> dict[str, MakeOptimizer]:
    """The five optimizers' factories, labelled with their learning rates."""
    sgd, momentum, adam, rmsprop, adagrad = rates
    return {
        f"sgd (lr={sgd})": functools.partial(optim.SGD, lr=sgd),
        f"momentum 0.9 (lr={momentum})": functools.partial(optim.SGD, lr=momentum, momentum=0.9),
        f"adam (lr={adam})": functools.partial(optim.Adam, lr=adam),
        f"rmsprop (lr={rmsprop})": functools.partial(optim.RMSprop, lr=rmsprop),
        f"adagrad (lr={adagrad})": functools.partial(optim.Adagrad, lr=adagrad),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", choices=[f.name for f in FUNCTIONS], default="saddle")
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "docs" / "trajectories.png")
    args = parser.parse_args()
    function = next(f for f in FUNCTIONS if f.name == args.function)
    rates, steps = SETTINGS[function.name]
    paths = {name: trajectory(make, function, steps=steps) for name, make in optimizers(rates).items()}
    plot_trajectories(function, paths, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
