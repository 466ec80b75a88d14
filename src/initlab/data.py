"""Datasets, examples as columns: ``X`` is ``(n_x, m)``, ``Y`` is ``(1, m)`` (binary) or ``(K, m)`` one-hot.

Everything is generated or ships inside scikit-learn; nothing is downloaded.
scikit-learn is imported only by the functions that need it.

The course's data are reproduced exactly: :func:`flower` is C1W3's
``load_planar_dataset`` and :func:`circles` is C2W1's ``load_dataset`` (both drew
from numpy's global generator; here the same streams come from a ``RandomState``
of the same seed, and the global generator is left alone).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import InitlabValueError, check_choice, check_float, check_int, check_memory, closest, shown

__all__ = ["DATASETS", "Dataset", "blobs", "breast_cancer", "circles", "digits", "flower", "load", "moons", "spirals",
           "xor"]  # fmt: skip


@dataclass(frozen=True)
class Dataset:
    """A train split and an optional test split, examples as columns."""

    name: str
    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray | None = None
    Y_test: np.ndarray | None = None

    @property
    def n_x(self) -> int:
        """Number of input features."""
        return int(self.X_train.shape[0])

    @property
    def n_y(self) -> int:
        """Number of outputs: 1 for binary labels, K for K one-hot classes."""
        return int(self.Y_train.shape[0])


def _labels(y: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype=np.float64).reshape(1, -1)


_TEMPORARIES = 4  # a generator holds about this many arrays the size of X at once


def _check_fits(points: int, features: int, where: str) -> None:
    """Refuse, before drawing, a dataset whose arrays would not fit in the memory available now."""
    check_memory(points * features * 8 * _TEMPORARIES, f"the {where} dataset of {shown(points)} points")


def flower(seed: int = 1) -> Dataset:
    """C1W3's planar "flower": 400 points, 2 classes of 200, petals of radius ``a = 4``.

    For class ``j``: ``t = linspace(3.12 j, 3.12 (j + 1), 200) + randn(200) * 0.2``,
    ``r = 4 sin(4 t) + randn(200) * 0.2``, points ``(r sin t, r cos t)``.  With
    ``seed=1`` it is the course's data bit for bit.  Train split only, as in the course.

    >>> d = flower()
    >>> d.X_train.shape, d.Y_train.shape, float(d.Y_train.mean())
    ((2, 400), (1, 400), 0.5)
    """
    rng = np.random.RandomState(check_int(seed, "seed", "flower", low=0))
    m, n, a = 400, 200, 4
    X = np.zeros((m, 2))
    Y = np.zeros((m, 1))
    for j in range(2):
        ix = slice(n * j, n * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, n) + rng.randn(n) * 0.2  # angle
        r = a * np.sin(4 * t) + rng.randn(n) * 0.2  # radius
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return Dataset("flower", X.T, Y.T)


def _sklearn_pair(maker: str, n_train: int, n_test: int, noise: float, seed: int) -> tuple[np.ndarray, ...]:
    from sklearn import datasets

    make = getattr(datasets, maker)
    tx, ty = make(n_samples=n_train, noise=noise, random_state=np.random.RandomState(seed))
    vx, vy = make(n_samples=n_test, noise=noise, random_state=np.random.RandomState(seed + 1))
    return tx.T, _labels(ty), vx.T, _labels(vy)


def circles(n_train: int = 300, n_test: int = 100, noise: float = 0.05, seed: int = 1) -> Dataset:
    """C2W1's two circles: ``make_circles(n_samples=300, noise=.05)`` after ``np.random.seed(1)`` for train,
    100 samples after ``np.random.seed(2)`` for test (seed and seed + 1).

    >>> d = circles()
    >>> d.X_train.shape, d.X_test.shape
    ((2, 300), (2, 100))
    """
    n_train = check_int(n_train, "n_train", "circles", low=2)
    n_test = check_int(n_test, "n_test", "circles", low=2)
    noise = check_float(noise, "noise", "circles", low=0.0)
    seed = check_int(seed, "seed", "circles", low=0)
    _check_fits(n_train + n_test, 2, "circles")
    return Dataset("circles", *_sklearn_pair("make_circles", n_train, n_test, noise, seed))


def moons(n_train: int = 300, n_test: int = 100, noise: float = 0.2, seed: int = 3) -> Dataset:
    """Two interleaved half-moons (C2W2's ``np.random.seed(3); make_moons(n_samples=300, noise=.2)``)."""
    n_train = check_int(n_train, "n_train", "moons", low=2)
    n_test = check_int(n_test, "n_test", "moons", low=2)
    noise = check_float(noise, "noise", "moons", low=0.0)
    seed = check_int(seed, "seed", "moons", low=0)
    _check_fits(n_train + n_test, 2, "moons")
    return Dataset("moons", *_sklearn_pair("make_moons", n_train, n_test, noise, seed))


def _split(name: str, X: np.ndarray, Y: np.ndarray, test_fraction: float, seed: int) -> Dataset:
    """Shuffle the columns with ``default_rng(seed)`` and keep ``test_fraction`` of them for test."""
    m = X.shape[1]
    order = np.random.default_rng(seed).permutation(m)
    n_test = round(m * test_fraction)
    test, train = order[:n_test], order[n_test:]
    if n_test == 0:
        return Dataset(name, X[:, train], Y[:, train])
    return Dataset(name, X[:, train], Y[:, train], X[:, test], Y[:, test])


def _fraction(value: Any, where: str) -> float:
    return check_float(value, "test_fraction", where, low=0.0, high=1.0, high_open=True)


def xor(n_per_corner: int = 50, noise: float = 0.15, seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """Points around the corners of the unit square, label ``x1 XOR x2``; centred at 0 (corners at +-1).

    ``n_per_corner=1, noise=0, test_fraction=0`` gives the four classic points.
    """
    n = check_int(n_per_corner, "n_per_corner", "xor", low=1)
    noise = check_float(noise, "noise", "xor", low=0.0)
    _check_fits(4 * n, 2, "xor")
    rng = np.random.default_rng(check_int(seed, "seed", "xor", low=0))
    corners = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    X = np.repeat(corners, n, axis=0) + rng.standard_normal((4 * n, 2)) * noise
    Y = np.repeat([0.0, 1.0, 1.0, 0.0], n)
    return _split("xor", X.T, _labels(Y), _fraction(test_fraction, "xor"), seed)


def spirals(n_per_class: int = 200, noise: float = 0.2, turns: float = 1.5, seed: int = 0,
            test_fraction: float = 0.25) -> Dataset:  # fmt: skip
    """Two interleaved spirals (Lang & Witbrock 1988): ``r = t``, angle ``t`` and ``t + pi``, plus noise."""
    n = check_int(n_per_class, "n_per_class", "spirals", low=1)
    noise = check_float(noise, "noise", "spirals", low=0.0)
    turns = check_float(turns, "turns", "spirals", low=0.0, low_open=True)
    _check_fits(2 * n, 2, "spirals")
    rng = np.random.default_rng(check_int(seed, "seed", "spirals", low=0))
    t = np.sqrt(rng.random(n)) * turns * 2 * np.pi  # denser near the centre, like the classic set
    arms = [np.c_[t * np.cos(t + k * np.pi), t * np.sin(t + k * np.pi)] for k in (0, 1)]
    X = np.concatenate(arms) / (turns * 2 * np.pi) * 4 + rng.standard_normal((2 * n, 2)) * noise
    Y = np.repeat([0.0, 1.0], n)
    return _split("spirals", X.T, _labels(Y), _fraction(test_fraction, "spirals"), seed)


def blobs(n_per_class: int = 200, distance: float = 3.0, std: float = 1.0, n_features: int = 2, seed: int = 0,
          test_fraction: float = 0.25) -> Dataset:  # fmt: skip
    """Two Gaussian blobs ``N(+-distance/2 e_1, std^2 I)``: a linearly separable baseline."""
    n = check_int(n_per_class, "n_per_class", "blobs", low=1)
    distance = check_float(distance, "distance", "blobs", low=0.0)
    std = check_float(std, "std", "blobs", low=0.0)
    d = check_int(n_features, "n_features", "blobs", low=1)
    _check_fits(2 * n, d, "blobs")
    rng = np.random.default_rng(check_int(seed, "seed", "blobs", low=0))
    centre = np.zeros(d)
    centre[0] = distance / 2
    X = np.concatenate([rng.standard_normal((n, d)) * std - centre, rng.standard_normal((n, d)) * std + centre])
    Y = np.repeat([0.0, 1.0], n)
    return _split("blobs", X.T, _labels(Y), _fraction(test_fraction, "blobs"), seed)


def _standardized(name: str, X: np.ndarray, Y: np.ndarray, test_fraction: float, seed: int) -> Dataset:
    d = _split(name, X, Y, test_fraction, seed)
    mean = d.X_train.mean(axis=1, keepdims=True)
    std = d.X_train.std(axis=1, keepdims=True)
    std[std == 0] = 1.0  # constant features (digits' border pixels) stay 0
    X_test = None if d.X_test is None else (d.X_test - mean) / std
    return Dataset(name, (d.X_train - mean) / std, d.Y_train, X_test, d.Y_test)


def digits(seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 64 pixels, 10 classes one-hot), standardized
    with the train split's mean and std."""
    from sklearn.datasets import load_digits

    data = load_digits()
    Y = np.eye(10)[data.target].T  # (10, m) one-hot
    seed = check_int(seed, "seed", "digits", low=0)
    return _standardized("digits", data.data.T.astype(np.float64), Y, _fraction(test_fraction, "digits"), seed)


def breast_cancer(seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's Wisconsin breast cancer data (569 tumours, 30 features, malignant = 0 / benign = 1),
    standardized with the train split's mean and std."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    seed = check_int(seed, "seed", "breast_cancer", low=0)
    return _standardized("breast_cancer", data.data.T.astype(np.float64), _labels(data.target),
                         _fraction(test_fraction, "breast_cancer"), seed)  # fmt: skip


DATASETS = {f.__name__: f for f in (flower, circles, moons, xor, spirals, blobs, digits, breast_cancer)}


def load(name: str, **kwargs: Any) -> Dataset:
    """A dataset by name, e.g. ``load("circles")`` or ``load("xor", noise=0.1)``.

    >>> load("xor", noise_level=0.1)
    Traceback (most recent call last):
    ...
    initlab._validation.InitlabValueError: The arguments of load('xor') must be among: n_per_corner, noise, seed, \
test_fraction. Got 'noise_level' instead. Did you mean 'noise'?
    """
    maker = DATASETS[check_choice(name, "name", list(DATASETS), "load")]
    valid = list(inspect.signature(maker).parameters)
    for key in kwargs:
        if key not in valid:
            near = closest(key, valid)
            hint = f" Did you mean {near!r}?" if near else ""
            raise InitlabValueError(
                f"The arguments of load({name!r}) must be among: {', '.join(valid) or 'none'}. "
                f"Got {key!r} instead.{hint}"
            )
    return maker(**kwargs)
