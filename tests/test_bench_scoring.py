"""The benchmark's scores against hand-computed examples (netopt/bench/scoring.py)."""

import math

import numpy as np
import pytest

from netopt.bench import scoring

INF = math.inf


def test_time_to_target_is_the_first_evaluation_at_or_past_it():
    times, acc = [10.0, 20.0, 30.0], [0.5, 0.9, 0.95]
    assert scoring.time_to_target(times, acc, 0.9) == 20.0
    assert scoring.time_to_target(times, acc, 0.96) == INF
    assert scoring.time_to_target(times, [2.0, 1.0, float("nan")], 1.0, maximize=False) == 20.0
    assert scoring.time_to_target([], [], 0.5) == INF


def test_ratios_to_the_best_with_misses_and_an_unreached_workload():
    t = np.array([[10.0, 5.0, INF], [20.0, INF, INF]])
    r = scoring.ratios(t)
    np.testing.assert_array_equal(r, [[1.0, 1.0, INF], [2.0, INF, INF]])


def test_profile_is_the_share_of_workloads_within_tau():
    r = np.array([[1.0, 2.0, INF, 3.5]])
    rho = scoring.profile(r, np.array([1.0, 1.9, 2.0, 3.5, 4.0]))
    np.testing.assert_allclose(rho, [[0.25, 0.25, 0.5, 0.75, 0.75]])


def test_score_is_the_exact_integral_of_the_profile():
    # rho = 1/4 on [1, 2), 2/4 on [2, 3.5), 3/4 on [3.5, 4]: integral 1/4 + 1.5 * 2/4 + 0.5 * 3/4 = 1.375
    r = np.array([[1.0, 2.0, INF, 3.5], [1.0, 1.0, 1.0, 1.0], [5.0, INF, 4.0, 4.5]])
    np.testing.assert_allclose(scoring.score(r), [1.375 / 3, 1.0, 0.0])
    taus = np.linspace(1, 4, 300001)
    riemann = scoring.profile(r, taus)[:, :-1].mean(axis=1)  # left sums of the step function
    np.testing.assert_allclose(scoring.score(r), riemann, atol=1e-4)


def test_median_over_seeds_counts_a_miss_as_infinite():
    per_seed = np.array([[[1.0, 2.0, INF], [1.0, INF, INF]]])
    np.testing.assert_array_equal(scoring.median_times(per_seed), [[2.0, INF]])


def test_scores_with_paired_bootstrap_intervals():
    # a is twice as fast as b on both workloads in every seed: every resample gives ratios 1 and 2
    a = np.array([[1.0, 2.0, 3.0], [10.0, 12.0, 14.0]])
    per_seed = np.stack([a, 2 * a])
    s = scoring.scores(per_seed, ["a", "b"], ["w1", "w2"], resamples=200)
    assert s.times[0][0].value == 2.0 and s.times[1][1].value == 24.0
    assert 1.0 <= s.times[0][0].low <= 2.0 <= s.times[0][0].high <= 3.0
    assert [s.ratios[1][j].value for j in range(2)] == [2.0, 2.0]
    assert (s.ratios[1][0].low, s.ratios[1][0].high) == (2.0, 2.0)  # paired: no spread
    assert [x.value for x in s.scores] == pytest.approx([1.0, 2 / 3])
    assert (s.scores[1].low, s.scores[1].high) == pytest.approx((2 / 3, 2 / 3))
    assert str(s.scores[1]) == "0.667 [0.667, 0.667]"


def test_scores_of_one_seed_have_no_interval():
    s = scoring.scores(np.array([[[3.0]], [[INF]]]), ["a", "b"], ["w"])
    assert s.scores[0].value == 1.0 and math.isnan(s.scores[0].low)
    assert str(s.ratios[1][0]) == "inf" and s.scores[1].value == 0.0


def test_per_seed_array_fills_absent_runs_with_misses():
    arr = scoring.per_seed_array({("a", "w", 0): 1.0}, ["a"], ["w"], [0, 1])
    np.testing.assert_array_equal(arr, [[[1.0, INF]]])


def test_ratios_to_a_given_yardstick():
    r = scoring.ratios(np.array([[4.0, INF], [2.0, 3.0]]), best=np.array([2.0, 1.5]))
    np.testing.assert_array_equal(r, [[2.0, INF], [1.0, 2.0]])
