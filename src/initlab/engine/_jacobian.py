"""Jacobians of a network at one input: per layer, and of the whole hidden stack.

For one input column ``x = A[0]`` (shape ``(n_0,)`` or ``(n_0, 1)``), hidden layer ``l``
maps ``A[l-1]`` to ``A[l] = g_l(W[l] A[l-1] + b[l])``; its Jacobian is::

    J_l = dA[l] / dA[l-1] = diag(g_l'(Z[l])) W[l]          (n_l, n_{l-1})

and the input-output Jacobian of the hidden stack (layers ``1..L-1``) is the product
``J = J_{L-1} ... J_2 J_1``, shape ``(n_{L-1}, n_0)``.  The output layer ``L`` is linear
(its logits ``Z[L] = W[L] A[L-1] + b[L]`` go to the loss), so it adds ``J_L = W[L]`` only
when asked (``include_output=True``; then ``J`` is ``(n_L, n_0)``).  The papers on
dynamical isometry (Saxe et al. 2014; Pennington, Schoenholz & Ganguli 2017) study the
spectrum of the hidden stack of equal widths, the default here.

Ensembles: with a leading model axis on the parameters every Jacobian has it too
(``(M, n_l, n_{l-1})``); the input is shared.  Products are taken one model at a time
(the engine's :func:`~initlab.engine._mlp.matmul`), so model ``k`` of an ensemble is model
``k`` alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .._validation import InitlabValueError, check_int
from ._mlp import MLP, Params, forward, matmul

__all__ = ["input_output_jacobian", "jacobian_by_depth", "layer_jacobians"]


def _column(net: MLP, x: Any, xp: Any, where: str) -> Any:
    """``x`` as the one-column input ``(n_0, 1)``; an InitlabValueError naming 'x' for any other shape."""
    n0 = net.layer_dims[0]
    if xp is np:
        x = np.asarray(x)
        if x.dtype == object or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise InitlabValueError(f"The 'x' argument of {where} must be an array of floats. Got dtype {x.dtype}.")
    shape = tuple(getattr(x, "shape", ()))
    if shape not in ((n0,), (n0, 1)):
        raise InitlabValueError(
            f"The 'x' argument of {where} must be one input of shape ({n0},) or ({n0}, 1) (n_0 = {n0}). "
            f"Got shape {shape} instead."
        )
    return xp.reshape(x, (n0, 1))


def _layer_jacobians(net: MLP, params: Params, x: Any, xp: Any, include_output: bool, where: str) -> Iterator[Any]:
    """Yield ``J_1, J_2, ...`` one at a time after one forward pass (the memory of one layer at a time)."""
    X = _column(net, x, xp, where)
    W1 = params["W1"]
    if xp is np and np.issubdtype(np.asarray(W1).dtype, np.floating):
        X = X.astype(np.asarray(W1).dtype, copy=False)  # the parameters' precision, as forward would round to
    _, caches = forward(net, params, X, xp)
    L = net.n_layers
    for l in range(1, L):
        _, Z, A = caches[l - 1]
        slope = net.hidden[l - 1].derivative(xp, Z, A)  # (n_l, 1) or (M, n_l, 1): g'(Z[l]) as a column
        yield slope * params[f"W{l}"]  # diag(g'(Z[l])) W[l]: row i of W[l] times g'(Z[l]_i)
    if include_output:
        yield params[f"W{L}"]


def layer_jacobians(net: MLP, params: Params, x: Any, *, include_output: bool = False, xp: Any = np) -> list[Any]:
    """The Jacobians ``J_l = dA[l] / dA[l-1] = diag(g_l'(Z[l])) W[l]`` of the hidden layers at input ``x``.

    ``x`` is one input, ``(n_0,)`` or ``(n_0, 1)``; entry ``l - 1`` of the list is ``J_l``,
    ``(n_l, n_{l-1})``, or ``(M, n_l, n_{l-1})`` for an ensemble.  With ``include_output``
    the linear output layer's ``J_L = W[L]`` is appended.  Keeps every layer's matrix:
    for deep wide stacks use :func:`input_output_jacobian` or :func:`jacobian_by_depth`.

    >>> from initlab.engine import init_params
    >>> net = MLP.make([2, 3, 1], "relu")
    >>> p = init_params(net.layer_dims, weights="he_normal", rng=0)
    >>> [J.shape for J in layer_jacobians(net, p, np.ones(2), include_output=True)]
    [(3, 2), (1, 3)]
    """
    return list(_layer_jacobians(net, params, x, xp, include_output, "layer_jacobians"))


def input_output_jacobian(net: MLP, params: Params, x: Any, *, include_output: bool = False, xp: Any = np) -> Any:
    """``J = J_{L-1} ... J_1 = dA[L-1] / dx``: the input-output Jacobian of the hidden stack at input ``x``.

    ``(n_{L-1}, n_0)`` (``(M, n_{L-1}, n_0)`` for an ensemble); with ``include_output`` the
    output layer is included, ``J = W[L] J_{L-1} ... J_1 = dZ[L] / dx``, ``(n_L, n_0)``.  A
    network without hidden layers has no hidden stack: asking for it is an error.  Its
    squared singular values are the eigenvalues of ``J J^T`` whose spread dynamical isometry
    keeps small (Pennington, Schoenholz & Ganguli 2017).

    For a linear network, ``J`` is the product of the weights:

    >>> from initlab.engine import init_params
    >>> net = MLP.make([2, 3, 3, 1], "linear")
    >>> p = init_params(net.layer_dims, weights="orthogonal", rng=0)
    >>> bool(np.allclose(input_output_jacobian(net, p, np.zeros(2)), p["W2"] @ p["W1"]))
    True
    """
    where = "input_output_jacobian"
    if net.n_layers < 2 and not include_output:
        raise InitlabValueError(
            f"The 'net' argument of {where} must have at least one hidden layer (layer_dims of 3 sizes or more) "
            f"unless include_output=True. Got layer_dims {list(net.layer_dims)}."
        )
    J: Any = None
    for J_l in _layer_jacobians(net, params, x, xp, include_output, where):
        J = J_l if J is None else matmul(xp, J_l, J)
    return J


def jacobian_by_depth(net: MLP, params: Params, x: Any, depths: Sequence[int], *, xp: Any = np) -> dict[int, Any]:
    """The Jacobians ``J_d ... J_1 = dA[d] / dx`` of the first ``d`` hidden layers, for each ``d`` in ``depths``.

    One pass through the stack: the product grows layer by layer and is kept at each
    requested depth (``1 <= d <= L - 1``), so the spectra of a net's shallower prefixes
    come at the cost of the deepest one.  ``{d: (n_d, n_0)}``, ``(M, n_d, n_0)`` for an ensemble.

    >>> from initlab.engine import init_params
    >>> net = MLP.make([4, 4, 4, 4, 1], "tanh")
    >>> p = init_params(net.layer_dims, weights="orthogonal", rng=0)
    >>> by = jacobian_by_depth(net, p, np.zeros(4), [1, 3])
    >>> bool(np.allclose(by[3], input_output_jacobian(net, p, np.zeros(4))))
    True
    """
    where = "jacobian_by_depth"
    hidden = net.n_layers - 1
    if isinstance(depths, (str, bytes)) or not isinstance(depths, Sequence) or not depths:
        raise InitlabValueError(
            f"The 'depths' argument of {where} must be a non-empty list of ints in [1, {hidden}]. Got {depths!r}."
        )
    wanted = {check_int(d, "depths", where, low=1, high=max(hidden, 1)) for d in depths}
    if hidden < 1:
        raise InitlabValueError(
            f"The 'net' argument of {where} must have at least one hidden layer. Got layer_dims {list(net.layer_dims)}."
        )
    out: dict[int, Any] = {}
    J: Any = None
    for d, J_l in enumerate(_layer_jacobians(net, params, x, xp, False, where), start=1):
        J = J_l if J is None else matmul(xp, J_l, J)
        if d in wanted:
            out[d] = J
        if d >= max(wanted):
            break
    return {d: out[d] for d in sorted(out)}
