"""Datasets: the course's exactly, the others shaped and seeded as documented."""

from __future__ import annotations

import numpy as np
import pytest

from initlab import InitlabValueError, data


def test_flower_is_the_course_planar_dataset() -> None:
    d = data.flower()
    assert d.X_train.shape == (2, 400) and d.Y_train.shape == (1, 400) and d.X_test is None
    rng = np.random.RandomState(1)  # the course's generator, rebuilt here independently
    for j in range(2):
        t = np.linspace(j * 3.12, (j + 1) * 3.12, 200) + rng.randn(200) * 0.2
        r = 4 * np.sin(4 * t) + rng.randn(200) * 0.2
        cols = slice(200 * j, 200 * (j + 1))
        assert np.array_equal(d.X_train[0, cols], r * np.sin(t))
        assert np.array_equal(d.X_train[1, cols], r * np.cos(t))
        assert (d.Y_train[0, cols] == j).all()
    np.testing.assert_allclose(d.X_train[:, 0], [1.20444229, 3.57611415], rtol=1e-8)


def test_circles_is_the_course_c2w1_data() -> None:
    from sklearn.datasets import make_circles

    d = data.circles()
    state = np.random.get_state()  # seed the global generator exactly as the notebook does, then restore it
    try:
        np.random.seed(1)
        tx, ty = make_circles(n_samples=300, noise=0.05)
        np.random.seed(2)
        vx, vy = make_circles(n_samples=100, noise=0.05)
    finally:
        np.random.set_state(state)
    assert np.array_equal(d.X_train, tx.T) and np.array_equal(d.Y_train, ty.reshape(1, -1))
    assert np.array_equal(d.X_test, vx.T) and np.array_equal(d.Y_test, vy.reshape(1, -1))


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_every_dataset_is_columns_and_deterministic(name: str) -> None:
    a, b = data.load(name), data.load(name)
    assert a.X_train.shape[1] == a.Y_train.shape[1] and a.X_train.ndim == 2 and a.Y_train.ndim == 2
    assert np.array_equal(a.X_train, b.X_train) and np.isfinite(a.X_train).all()
    if a.X_test is not None:
        assert a.X_test.shape[0] == a.n_x and a.Y_test.shape[0] == a.n_y
    labels = np.unique(a.Y_train)
    assert set(labels.tolist()) <= {0.0, 1.0}


def test_real_datasets_are_standardized_on_train() -> None:
    d = data.breast_cancer()
    assert d.X_train.shape == (30, 427) and d.X_test.shape == (30, 142)
    np.testing.assert_allclose(d.X_train.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(d.X_train.std(axis=1), 1, rtol=1e-12)
    g = data.digits()
    assert g.n_y == 10 and (g.Y_train.sum(axis=0) == 1).all()


def test_xor_four_points_and_errors() -> None:
    d = data.xor(n_per_corner=1, noise=0, test_fraction=0)
    assert sorted(map(tuple, d.X_train.T.tolist())) == [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    for x, y in zip(d.X_train.T, d.Y_train[0], strict=True):
        assert y == float((x[0] > 0) != (x[1] > 0))
    with pytest.raises(InitlabValueError, match="'name' argument of load must be one of .* Did you mean 'moons'"):
        data.load("moon")
    with pytest.raises(InitlabValueError, match="'noise' argument of circles must be a finite float >= 0. Got -1"):
        data.circles(noise=-1)
    with pytest.raises(InitlabValueError, match="'test_fraction' argument of spirals must be a finite float >= 0"):
        data.spirals(test_fraction=1.0)
