"""BOHB and its TPE: proposals on toy objectives, Hyperband's draws until a budget has enough results,
the largest such budget modelled, and BOHB against Hyperband at the same budget on a synthetic
multi-fidelity problem (both run by the simulated pool of tests/test_hpo_asha.py)."""

import math
import statistics
from dataclasses import replace

import torch

from netopt.hpo import BOHB, Choice, Hyperband, Job, Record, SearchSpace, Uniform
from netopt.hpo.tpe import ParzenDensity, propose
from tests.test_hpo_asha import simulate

PLANE = SearchSpace([Uniform("x1", -5.0, 10.0), Uniform("x2", 0.0, 15.0)])


def branin(params: dict) -> float:
    x1, x2 = params["x1"], params["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def test_the_parzen_density_integrates_to_one_and_its_samples_stay_in_the_cube():
    space = SearchSpace([Uniform("x", 0.0, 1.0), Choice("c", ("a", "b", "c"))])
    points = torch.tensor([[0.2, 0.5 / 3], [0.3, 1.5 / 3], [0.9, 1.5 / 3]], dtype=torch.float64)
    density = ParzenDensity.fit(space, points)
    u = torch.linspace(-1, 2, 3001, dtype=torch.float64)
    total = 0.0
    for category in range(3):
        grid = torch.stack([u, torch.full_like(u, (category + 0.5) / 3)], dim=1)
        total += float(torch.trapezoid(density.log_density(grid).exp(), u))
    assert abs(total - 1) < 1e-3
    samples = density.sample(2000, 3.0, torch.Generator().manual_seed(0))
    assert samples.min() >= 0 and samples.max() < 1
    assert {int(c * 3) for c in samples[:, 1].tolist()} == {0, 1, 2}  # the choice's kernel moves


def test_tpe_proposes_near_the_best_observations():
    space = SearchSpace([Uniform("x", 0.0, 1.0)])
    generator = torch.Generator().manual_seed(0)
    points = torch.rand(30, 1, generator=generator, dtype=torch.float64)
    scores = -((points[:, 0] - 0.7) ** 2)
    proposals = [
        float(propose(space, points, scores, torch.Generator().manual_seed(s))[0]) for s in range(20)
    ]
    assert statistics.median(abs(p - 0.7) for p in proposals) < 0.05  # random: 0.2 on median
    failed = scores.clone()
    failed[points[:, 0] > 0.5] = -math.inf  # failures are the worst: the proposals move away
    moved = [float(propose(space, points, failed, torch.Generator().manual_seed(s))[0]) for s in range(20)]
    assert statistics.median(moved) < 0.55


def done(job: Job, value: float) -> Record:
    return replace(Record.pending(job), status="completed", objective=value, epochs=job.budget)


def test_bohb_draws_as_hyperband_until_a_budget_has_enough_results_then_models_the_largest():
    bohb = BOHB(PLANE, max_epochs=9, eta=3, seed=3, random_fraction=0.0)
    hyperband = Hyperband(PLANE, max_epochs=9, eta=3, seed=3)
    assert [bohb.config(t, []) for t in range(17)] == hyperband.configs  # nothing to model yet
    four = [done(Job(t, hyperband.configs[t], 1), -branin(hyperband.configs[t])) for t in range(4)]
    assert bohb.observations(four) is None  # 2 dimensions: a model needs 2 + 1 + 2 results
    five = [*four, done(Job(4, hyperband.configs[4], 1), -branin(hyperband.configs[4]))]
    assert bohb.observations(five)[1] == [r.objective for r in five]
    assert bohb.config(9, five) != hyperband.configs[9] and bohb.config(9, five) == bohb.config(9, list(five))
    long = [done(Job(t, hyperband.configs[t], 3), 100.0 + t) for t in range(5)]
    assert bohb.observations(five + long)[1] == [100.0 + t for t in range(5)]  # 3 epochs > 1 epoch


def test_bohb_is_at_least_as_good_as_hyperband_at_the_same_budget():
    """A noisy bowl in 3 dimensions (the noise of a trial's result shrinking as 1 / epochs): the
    squared distance to the optimum of the configuration each search ranks best at 9 epochs, median
    over 12 seeds, with the same brackets and so the same epochs. (On Branin's three minima the TPE
    helps less: see the closing note of the issue.)"""

    def bowl(params: dict) -> float:
        return sum((params[f"x{i}"] - 0.3) ** 2 for i in range(3))

    def noisy_bowl(job: Job) -> float:
        error = torch.randn((), generator=torch.Generator().manual_seed(job.trial)).item()
        return -bowl(job.params) + 0.1 * error / (job.budget or 1)

    def chosen(search) -> tuple[float, int]:
        _, ended, _ = simulate(search, 2, noisy_bowl, lambda job, epochs: epochs)
        best = max((r for r in ended if r.budget == 9), key=lambda r: r.objective)
        return bowl(best.params), sum(r.budget for r in ended)

    cube = SearchSpace([Uniform(f"x{i}", 0.0, 1.0) for i in range(3)])
    bohb = [chosen(BOHB(cube, max_epochs=9, eta=3, seed=s)) for s in range(12)]
    hyperband = [chosen(Hyperband(cube, max_epochs=9, eta=3, seed=s)) for s in range(12)]
    assert [e for _, e in bohb] == [e for _, e in hyperband]  # the same brackets, the same jobs
    assert statistics.median(d for d, _ in bohb) <= statistics.median(d for d, _ in hyperband)
