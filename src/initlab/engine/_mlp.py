"""The transparent engine: a fully connected network in the course's notation.

Shapes (the course's notation, examples as columns)::

    X        (n_0, m)                  A[0] = X
    W[l]     (n_l, n_{l-1})            b[l]   (n_l, 1)
    Z[l] = W[l] @ A[l-1] + b[l]        (n_l, m)
    A[l] = g_l(Z[l])                   for the hidden layers l < L
    Z[L]                               the logits, handed to the loss

Ensembles: every parameter may carry one leading model axis ``M`` (``W[l]`` is
``(M, n_l, n_{l-1})``), and then so do ``Z``, ``A`` and the gradients; ``X`` stays
``(n_0, m)`` and is shared.  The same lines of code run one model or ``M`` at once
(``@`` broadcasts over the model axis).  On numpy, the two operations whose rounding
could depend on the batch are done per model: each matmul of a stack is one 2-D BLAS
call per model into a preallocated output (:func:`matmul`; the shared ``X`` is the same
2-D operand a single model uses), and each reduction sums one model's C-ordered 2-D
slice (:func:`sum_examples`, :func:`~initlab.engine._losses.sum2`).  Elementwise
operations are computed element by element, the same wherever the element sits, so
model ``k`` of a stack is model ``k`` alone, bit for bit.

Parameters are a dict ``{"W1": ..., "b1": ..., "W2": ...}`` as in the course;
gradients are ``{"dW1": ..., "db1": ...}``.  Every function takes the array namespace
``xp`` (numpy by default, torch's through array-api-compat), see :mod:`initlab.engine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .._validation import InitlabValueError, check_int
from ._activations import Activation, get_activation
from ._losses import Loss, get_loss

__all__ = [
    "MLP",
    "accuracy",
    "accuracy_from_logits",
    "backward",
    "forward",
    "gradient_check",
    "loss_and_grads",
    "predict",
]

Params = dict[str, Any]
Cache = tuple[Any, Any, Any]  # (A[l-1], Z[l], A[l]) of one layer


@dataclass(frozen=True)
class MLP:
    """A fully connected network's architecture: layer sizes, hidden activations, loss.

    ``layer_dims = [n_0, n_1, ..., n_L]``; ``hidden`` holds one activation per hidden
    layer (``L - 1`` of them); the output layer's activation is the loss's own
    (sigmoid for ``bce``, softmax for ``softmax_ce``, identity for ``mse``).
    """

    layer_dims: tuple[int, ...]
    hidden: tuple[Activation, ...]
    loss: Loss

    @classmethod
    def make(
        cls,
        layer_dims: Sequence[int],
        hidden: str | Activation | Sequence[str | Activation] = "relu",
        loss: str | Loss = "bce",
    ) -> MLP:
        """Build from names: ``MLP.make([2, 10, 5, 1], "relu", "bce")``; ``hidden`` may be one per layer."""
        dims = tuple(check_int(d, "layer_dims", "MLP", low=1) for d in layer_dims)
        if len(dims) < 2:
            raise InitlabValueError(
                "The 'layer_dims' argument of MLP must list at least 2 sizes [n_0, ..., n_L]. "
                f"Got {list(layer_dims)!r} instead."
            )
        n_hidden = len(dims) - 2
        if isinstance(hidden, (str, Activation)):
            acts = tuple(get_activation(hidden) for _ in range(n_hidden))
        else:
            acts = tuple(get_activation(h) for h in hidden)
            if len(acts) != n_hidden:
                raise InitlabValueError(
                    f"The 'hidden' argument of MLP must give one activation per hidden layer ({n_hidden} for "
                    f"layer_dims {list(dims)}). Got {len(acts)} instead."
                )
        return cls(dims, acts, get_loss(loss))

    @property
    def n_layers(self) -> int:
        """``L``, the number of weight layers."""
        return len(self.layer_dims) - 1


# --- forward and backward -------------------------------------------------------------------


def forward(net: MLP, params: Params, X: Any, xp: Any = np) -> tuple[Any, list[Cache]]:
    """Run the network: returns the logits ``Z[L]`` and one cache ``(A[l-1], Z[l], A[l])`` per layer.

    ``A[L]`` in the last cache is the logits too; the loss's ``output`` turns them
    into predictions.
    """
    caches: list[Cache] = []
    A = X
    L = net.n_layers
    for l in range(1, L + 1):
        Z = matmul(xp, params[f"W{l}"], A) + params[f"b{l}"]  # (n_l, m), or (M, n_l, m)
        A_next = net.hidden[l - 1].forward(xp, Z) if l < L else Z
        caches.append((A, Z, A_next))
        A = A_next
    return A, caches


def backward(net: MLP, params: Params, caches: list[Cache], dZL: Any, xp: Any = np) -> Params:
    """Backpropagate ``dZ[L] = dLoss/dZ[L]``: returns ``{"dW1", "db1", ...}``.

    For each layer, from the last::

        dZ[l]   = dA[l] * g_l'(Z[l])          (l < L)
        dW[l]   = dZ[l] @ A[l-1]^T            (n_l, n_{l-1})
        db[l]   = sum of dZ[l] over examples  (n_l, 1)
        dA[l-1] = W[l]^T @ dZ[l]              (n_{l-1}, m)

    The per-layer ``dA`` and ``dZ`` it passes through are kept by :func:`_backprop`.
    """
    return _backprop(net, params, caches, dZL, xp).grads


class Backprop(NamedTuple):
    """One backward pass: the gradients and, per layer ``l = 1..L`` (list index ``l - 1``), ``dA[l]`` and ``dZ[l]``.

    ``dZ[l - 1]`` and ``dA[l - 1]`` have ``Z[l]``'s shape ``(n_l, m)`` (``(M, n_l, m)`` for an
    ensemble).  The output layer's "activation" in the caches is the logits ``Z[L]``, so its
    ``dA`` is ``dZ[L]`` itself (the same array).
    """

    grads: Params
    dA: list[Any]
    dZ: list[Any]


def _backprop(net: MLP, params: Params, caches: list[Cache], dZL: Any, xp: Any = np) -> Backprop:
    """:func:`backward`, keeping the ``dA[l]`` and ``dZ[l]`` of every layer it computes anyway."""
    L = net.n_layers
    grads: Params = {}
    dAs: list[Any] = [None] * L
    dZs: list[Any] = [None] * L
    dZ = dAs[L - 1] = dZs[L - 1] = dZL
    for l in range(L, 0, -1):
        A_prev = caches[l - 1][0]
        grads[f"dW{l}"] = matmul(xp, dZ, _T(A_prev))  # (n_l, n_{l-1}), or (M, n_l, n_{l-1})
        grads[f"db{l}"] = sum_examples(xp, dZ)  # (n_l, 1)
        if l > 1:
            dA_prev = matmul(xp, _T(params[f"W{l}"]), dZ)  # (n_{l-1}, m)
            _, Z_prev, _ = caches[l - 2]
            dZ = dA_prev * net.hidden[l - 2].derivative(xp, Z_prev, A_prev)  # dZ[l-1] = dA[l-1] * g'(Z[l-1])
            dAs[l - 2], dZs[l - 2] = dA_prev, dZ
    ordered = {key: grads[key] for l in range(1, L + 1) for key in (f"dW{l}", f"db{l}")}
    return Backprop(ordered, dAs, dZs)


def matmul(xp: Any, a: Any, b: Any) -> Any:
    """``a @ b`` for matrices or stacks of them (either may be a shared 2-D matrix).

    On numpy a stack is multiplied one model at a time, ``np.matmul(a[k], b[k], out=out[k])``
    into a preallocated C-ordered output: the very BLAS call (same shapes, same strides)
    that a single model makes, so the rounding cannot depend on the batch.  Other
    namespaces (torch) multiply the stack at once.
    """
    if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
        return a @ b
    if a.ndim == 2 and b.ndim == 2:
        return np.matmul(a, b)
    n_models = a.shape[0] if a.ndim == 3 else b.shape[0]
    out = np.empty((n_models, a.shape[-2], b.shape[-1]), dtype=np.result_type(a, b))
    for k in range(n_models):
        np.matmul(a[k] if a.ndim == 3 else a, b[k] if b.ndim == 3 else b, out=out[k])
    return out


def sum_examples(xp: Any, a: Any) -> Any:
    """The sum over the examples (last axis), kept as a column: ``(n, m) -> (n, 1)``, per model for a stack.

    On numpy each model's C-ordered 2-D slice is reduced by the call a single model makes.
    """
    if not isinstance(a, np.ndarray):
        return xp.sum(a, axis=-1, keepdims=True)
    a = a if a.flags.c_contiguous else np.ascontiguousarray(a)
    if a.ndim == 2:
        return np.add.reduce(a, axis=-1, keepdims=True)
    out = np.empty((*a.shape[:-1], 1), dtype=a.dtype)
    for k in range(a.shape[0]):
        np.add.reduce(a[k], axis=-1, keepdims=True, out=out[k])
    return out


def _T(a: Any) -> Any:
    """The transpose of the last two axes (a matrix, or a stack of them)."""
    return a.mT


def predict(net: MLP, params: Params, X: Any, xp: Any = np) -> Any:
    """Predicted labels: ``A[L] > 0.5`` for ``bce`` (as floats), the argmax class one-hot for ``softmax_ce``,
    ``A[L]`` itself for ``mse``."""
    ZL, _ = forward(net, params, X, xp)
    return _decide(net, ZL, xp)


def _decide(net: MLP, ZL: Any, xp: Any) -> Any:
    """:func:`predict`'s labels from the logits ``Z[L]``."""
    if net.loss.name == "bce":
        return xp.astype(ZL > 0, ZL.dtype)  # sigmoid(z) > 0.5  <=>  z > 0
    if net.loss.name == "softmax_ce":
        top = xp.max(ZL, axis=-2, keepdims=True)
        return xp.astype(top == ZL, ZL.dtype)
    return ZL


def accuracy(net: MLP, params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
    """Share of examples classified right (one number per model): all outputs must match."""
    ZL, _ = forward(net, params, X, xp)
    return _share_right(net, ZL, Y, X.dtype if hasattr(X, "dtype") else float, xp)


def accuracy_from_logits(net: MLP, ZL: Any, Y: Any, xp: Any = np) -> Any:
    """:func:`accuracy` from logits ``Z[L]`` already computed (``forward``'s first result), without a second pass.

    >>> net = MLP.make([1, 1], "linear")
    >>> accuracy_from_logits(net, np.array([[2.0, -1.0, 3.0]]), np.array([[1.0, 1.0, 1.0]])).round(3).item()
    0.667
    """
    return _share_right(net, ZL, Y, ZL.dtype if hasattr(ZL, "dtype") else float, xp)


def _share_right(net: MLP, ZL: Any, Y: Any, dtype: Any, xp: Any) -> Any:
    """The share of examples whose every output :func:`predict` gets right, in ``dtype``, per model."""
    right = xp.all(_decide(net, ZL, xp) == Y, axis=-2)
    return xp.mean(xp.astype(right, dtype), axis=-1)


def loss_and_grads(net: MLP, params: Params, X: Any, Y: Any, xp: Any = np) -> tuple[Any, Params]:
    """The loss (one per model) and the gradients of one full-batch step."""
    ZL, caches = forward(net, params, X, xp)
    return net.loss.value(xp, ZL, Y), backward(net, params, caches, net.loss.grad(xp, ZL, Y), xp)


# --- gradient check ---------------------------------------------------------------------------


def gradient_check(net: MLP, params: Params, X: Any, Y: Any, *, eps: float = 1e-6) -> float:
    """Relative error between backprop's gradient and central differences, in float64.

    ``||g - g_num|| / (||g|| + ||g_num||)`` over all parameters (the course's
    formula), with ``g_num = (J(theta + eps) - J(theta - eps)) / (2 eps)`` one
    parameter at a time.  Below 1e-7 means backprop is right.  Single model only;
    cost is two forward passes per parameter, so keep the net small.

    >>> from initlab.engine import init_params
    >>> net = MLP.make([3, 4, 1], "tanh")
    >>> p = init_params(net.layer_dims, weights="xavier_normal", biases="normal(std=0.1)", rng=0)
    >>> rng = np.random.default_rng(1)
    >>> X, Y = rng.standard_normal((3, 5)), (rng.random((1, 5)) > 0.5).astype(float)
    >>> gradient_check(net, p, X, Y) < 1e-7
    True
    """
    p64 = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    X64, Y64 = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    _, grads = loss_and_grads(net, p64, X64, Y64)

    def cost() -> float:
        return float(net.loss.value(np, forward(net, p64, X64)[0], Y64))

    analytic, numeric = [], []
    for key, value in p64.items():
        flat = value.reshape(-1)  # a view: editing it edits the parameter
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            plus = cost()
            flat[i] = old - eps
            minus = cost()
            flat[i] = old
            numeric.append((plus - minus) / (2 * eps))
        analytic.append(grads["d" + key].reshape(-1))
    g, g_num = np.concatenate(analytic), np.array(numeric)
    denom = np.linalg.norm(g) + np.linalg.norm(g_num)
    return 0.0 if denom == 0 else float(np.linalg.norm(g - g_num) / denom)
