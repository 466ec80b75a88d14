"""The numba kernel behind :mod:`initlab.engine` (imported only when the numba backend is used).

Kept at module level so that numba caches the compiled kernel on disk.  Shapes are the
course's: ``A[l]`` is ``(n_l, m)``, examples contiguous, so every inner loop runs along
the examples and vectorizes.

No fast-math flags: the arithmetic is IEEE's, in the order written.  With reassociation and
FMA contraction allowed, LLVM's choices depend on what it compiles together, and a kernel
compiled in a process gave other bits than the same kernel loaded from numba's cache by the
next one (a sweep's driver and its workers disagreed).  Exact arithmetic costs about half the
speed on the smallest nets (19 -> 39 us per model-step for a 2 x 8 relu net on 300 examples,
64 models) and little on wider ones, whose time is in BLAS.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange

from ._activations import SATURATION_FRACTION

FAST: set[str] = set()  # no fast-math flags: the same bits however and wherever the kernel was compiled

# Eigen's float32 tanh: odd/even polynomials on |x| <= 7.905, beyond which tanh rounds to +-1.
# float32 constants, so that the loop stays in float32 and vectorizes 8 wide.
F32 = np.float32
A1, A3, A5, A7 = (
    F32(4.89352455891786e-03),
    F32(6.37261928875436e-04),
    F32(1.48572235717979e-05),
    F32(5.12229709037114e-08),
)
A9, A11, A13 = F32(-8.60467152213735e-11), F32(2.00018790482477e-13), F32(-2.76076847742355e-16)
B0, B2, B4, B6 = (
    F32(4.89352518554385e-03),
    F32(2.26843463243900e-03),
    F32(1.18534705686654e-04),
    F32(1.19825839466702e-06),
)
CLAMP = F32(7.90531110763549805)

LINEAR, TANH, RELU, SIGMOID = 0, 1, 2, 3
SAT_TANH = SATURATION_FRACTION * 1.0  # the saturation thresholds SATURATION_FRACTION * g'(0): tanh'(0) = 1
SAT_SIGMOID = SATURATION_FRACTION * 0.25  # sigmoid'(0) = 1/4
BLAS_MIN = 1024  # a layer with n_l * n_{l-1} below this uses the loops below instead of a BLAS call


@njit(inline="always", cache=True, fastmath=FAST, error_model="numpy")
def tanh32(x: Any) -> Any:
    x = CLAMP if x > CLAMP else x
    x = -CLAMP if x < -CLAMP else x
    x2 = x * x
    p = x * (A1 + x2 * (A3 + x2 * (A5 + x2 * (A7 + x2 * (A9 + x2 * (A11 + x2 * A13))))))
    q = B0 + x2 * (B2 + x2 * (B4 + x2 * B6))
    return p / q


@njit(inline="always", cache=True, error_model="numpy")
def sigmoid(z: Any) -> Any:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


@njit(cache=True, fastmath=FAST, error_model="numpy")
def mm(w: Any, a: Any, out: Any) -> None:
    """out = w @ a  (n, p) @ (p, m): rows of ``a`` scaled and added, along the examples."""
    if w.shape[0] * w.shape[1] >= BLAS_MIN:
        np.dot(w, a, out)
        return
    n, p = w.shape
    m = a.shape[1]
    for i in range(n):
        wi = w[i, 0]
        for j in range(m):
            out[i, j] = wi * a[0, j]
        for q in range(1, p):
            wiq = w[i, q]
            for j in range(m):
                out[i, j] += wiq * a[q, j]


@njit(cache=True, fastmath=FAST, error_model="numpy")
def mm_nt(dz: Any, a: Any, out: Any) -> None:
    """out = dz @ a.T  (n, m) @ (m, p): one dot product along the examples per entry."""
    n, p = out.shape
    if n * p >= BLAS_MIN:
        np.dot(dz, a.T, out)
        return
    m = dz.shape[1]
    for i in range(n):
        for q in range(p):
            acc = 0.0
            for j in range(m):
                acc += dz[i, j] * a[q, j]
            out[i, q] = acc


@njit(cache=True, fastmath=FAST, error_model="numpy")
def mm_tn(w: Any, dz: Any, out: Any) -> None:
    """out = w.T @ dz  (p, n) @ (n, m)."""
    n, p = w.shape
    if n * p >= BLAS_MIN:
        np.dot(w.T, dz, out)
        return
    m = dz.shape[1]
    out[:, :] = 0
    for i in range(n):
        for q in range(p):
            wiq = w[i, q]
            for j in range(m):
                out[q, j] += wiq * dz[i, j]


@njit(cache=True, fastmath=FAST, error_model="numpy")
def bias_act(a: Any, b: Any, kind: int, fast: bool) -> None:
    """a = g(a + b) in place, b one bias per row; one loop per activation so each vectorizes."""
    n, m = a.shape
    for i in range(n):
        bi = b[i]
        if kind == TANH and fast:
            for j in range(m):
                a[i, j] = tanh32(a[i, j] + bi)
        elif kind == TANH:
            for j in range(m):
                a[i, j] = math.tanh(a[i, j] + bi)
        elif kind == RELU:
            for j in range(m):
                v = a[i, j] + bi
                a[i, j] = v if v > 0 else 0
        elif kind == SIGMOID:
            for j in range(m):
                a[i, j] = sigmoid(a[i, j] + bi)
        else:
            for j in range(m):
                a[i, j] += bi


@njit(cache=True, fastmath=FAST, error_model="numpy")
def backprop_act(da: Any, a: Any, kind: int, dz: Any, db: Any) -> None:
    """dz = da * g'(z) (from a = g(z)) and db = its row sums, in one pass."""
    n, m = a.shape
    for i in range(n):
        acc = 0.0
        if kind == TANH:
            for j in range(m):
                v = da[i, j] * (1 - a[i, j] * a[i, j])
                dz[i, j] = v
                acc += v
        elif kind == RELU:
            for j in range(m):
                v = da[i, j] if a[i, j] > 0 else 0
                dz[i, j] = v
                acc += v
        elif kind == SIGMOID:
            for j in range(m):
                v = da[i, j] * a[i, j] * (1 - a[i, j])
                dz[i, j] = v
                acc += v
        else:
            for j in range(m):
                v = da[i, j]
                dz[i, j] = v
                acc += v
        db[i] = acc


@njit(cache=True, fastmath=FAST, error_model="numpy")
def layer_stats(a: Any, kind: int, output: bool, cols: Any, row: Any) -> None:
    """act_mean, act_std, saturated, dead, dgz_mean of one layer into row[cols[0:5]] (see _fused.KERNEL_METRICS)."""
    n, m = a.shape
    s1 = 0.0
    s2 = 0.0
    sat = 0.0
    dgz = 0.0
    dead = 0
    zero = a[0, 0] * 0  # row sums in the array's dtype (full-width vectors), totals in float64
    for i in range(n):
        r1 = zero
        r2 = zero
        rd = zero
        rs = zero
        on = zero
        if output:  # the output's activation is the loss's sigmoid
            for j in range(m):
                v = sigmoid(a[i, j])
                r1 += v
                r2 += v * v
        elif kind == TANH:
            for j in range(m):
                v = a[i, j]
                d = 1 - v * v
                r1 += v
                r2 += v * v
                rd += d
                rs += 1 if d < SAT_TANH else 0
        elif kind == SIGMOID:
            for j in range(m):
                v = a[i, j]
                d = v * (1 - v)
                r1 += v
                r2 += v * v
                rd += d
                rs += 1 if d < SAT_SIGMOID else 0
        else:
            for j in range(m):
                v = a[i, j]
                r1 += v
                r2 += v * v
                on += 1 if v != 0 else 0
            rd = on if kind == RELU else zero + m  # g' is 1 exactly where a relu unit is on
        s1 += r1
        s2 += r2
        dgz += rd
        sat += rs
        if kind == RELU and on == 0:
            dead += 1
    count = n * m
    mean = s1 / count
    row[cols[0]] = mean
    row[cols[1]] = math.sqrt(max(s2 / count - mean * mean, 0.0))
    row[cols[2]] = sat / count if (kind == TANH or kind == SIGMOID) and not output else math.nan  # noqa: SIM109
    row[cols[3]] = dead / n if kind == RELU and not output else math.nan
    row[cols[4]] = math.nan if output else dgz / count


@njit(cache=True, fastmath=FAST, error_model="numpy")
def bce_grad(z: Any, y: Any, dz: Any) -> Any:
    """dz = (sigmoid(z) - y) / m; returns the mean binary cross-entropy from the logits."""
    n, m = z.shape
    total = 0.0
    for i in range(n):
        for j in range(m):
            v = z[i, j]
            e = math.exp(-abs(v))
            total += (v if v > 0 else 0.0) - v * y[i, j] + math.log1p(e)
            s = 1 / (1 + e) if v >= 0 else e / (1 + e)
            dz[i, j] = (s - y[i, j]) / m
    return total / m


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def train_kernel(W, B, X, Y, dims, kinds, lr, steps, every, fast, cols, losses, stats):  # type: ignore[no-untyped-def]
    """W (M, P), B (M, Q): each model's weights and biases, flat; updated in place.

    losses (M, steps); stats (M, R, L, n_metrics) at steps 0, every, 2 every, ..., steps - 1 (model first,
    so each thread writes its own contiguous block); cols[i] is the column of the i-th statistic of
    _fused.KERNEL_METRICS.
    """
    n_models = W.shape[0]
    L = dims.shape[0] - 1
    m = X.shape[1]
    dt = X.dtype
    offw = np.zeros(L + 1, np.int64)
    offb = np.zeros(L + 1, np.int64)
    offa = np.zeros(L + 1, np.int64)
    widest = 0
    for l in range(1, L + 1):
        offw[l] = offw[l - 1] + dims[l] * dims[l - 1]
        offb[l] = offb[l - 1] + dims[l]
        offa[l] = offa[l - 1] + dims[l] * m
        widest = max(widest, dims[l])
    for k in prange(n_models):
        acts = np.empty(offa[L], dt)  # A[1..L] of this model, (n_l, m) each; A[L] holds the logits
        dz = np.empty(widest * m, dt)
        da = np.empty(widest * m, dt)
        gw = np.empty(offw[L], dt)
        gb = np.empty(offb[L], dt)
        rate = lr[k]
        r = 0
        for t in range(steps):
            record = every > 0 and (t % every == 0 or t == steps - 1)
            # forward: Z[l] = W[l] @ A[l-1] + b[l];  A[l] = g(Z[l])
            for l in range(1, L + 1):
                n, n_prev = dims[l], dims[l - 1]
                w = W[k, offw[l - 1] : offw[l]].reshape((n, n_prev))
                a = acts[offa[l - 1] : offa[l]].reshape((n, m))
                a_prev = X if l == 1 else acts[offa[l - 2] : offa[l - 1]].reshape((n_prev, m))
                mm(w, a_prev, a)
                bias_act(a, B[k, offb[l - 1] : offb[l]], kinds[l - 1] if l < L else LINEAR, fast)
                if record:
                    layer_stats(a, kinds[l - 1] if l < L else LINEAR, l == L, cols, stats[k, r, l - 1])
            # loss, and dZ[L] = (sigmoid(Z[L]) - Y) / m
            nL = dims[L]
            zl = acts[offa[L - 1] : offa[L]].reshape((nL, m))
            losses[k, t] = bce_grad(zl, Y, dz[: nL * m].reshape((nL, m)))
            # backward, from the last layer
            for l in range(L, 0, -1):
                n, n_prev = dims[l], dims[l - 1]
                w = W[k, offw[l - 1] : offw[l]].reshape((n, n_prev))
                g = gw[offw[l - 1] : offw[l]].reshape((n, n_prev))
                d_l = dz[: n * m].reshape((n, m))
                a_prev = X if l == 1 else acts[offa[l - 2] : offa[l - 1]].reshape((n_prev, m))
                mm_nt(d_l, a_prev, g)  # dW[l] = dZ[l] @ A[l-1]^T
                if l == L:  # the other layers' bias gradients come with their dZ
                    for i in range(n):
                        acc = 0.0
                        for j in range(m):
                            acc += d_l[i, j]
                        gb[offb[l - 1] + i] = acc
                if record:
                    gn = 0.0
                    wn = 0.0
                    for i in range(n):
                        for q in range(n_prev):
                            gn += g[i, q] * g[i, q]
                            wn += w[i, q] * w[i, q]
                    stats[k, r, l - 1, cols[5]] = math.sqrt(gn)
                    stats[k, r, l - 1, cols[6]] = math.sqrt(gn) / math.sqrt(wn)
                if l > 1:
                    dap = da[: n_prev * m].reshape((n_prev, m))
                    mm_tn(w, d_l, dap)  # dA[l-1] = W[l]^T @ dZ[l]
                    # dZ[l-1] = dA[l-1] * g'(Z[l-1]), with db[l-1]
                    backprop_act(dap, a_prev, kinds[l - 2], dz[: n_prev * m].reshape((n_prev, m)),
                                 gb[offb[l - 2] : offb[l - 1]])  # fmt: skip
                for i in range(n):  # update after W[l] was used for dA[l-1]
                    B[k, offb[l - 1] + i] -= rate * gb[offb[l - 1] + i]
                    for q in range(n_prev):
                        w[i, q] -= rate * g[i, q]
            if record:
                r += 1
