"""What every experiment does the same way: divergence, trained-only summaries, chunked ensembles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..engine import History, distinct_units

__all__ = ["CHUNK_BYTES", "ROW_BYTES", "Divergence", "chunks", "concat", "distinct", "diverged_sentence",
           "divergence", "mean_sd"]  # fmt: skip

#: Memory one chunk of an ensemble may take; the seeds beyond it train in further chunks.
CHUNK_BYTES = 256 * 2**20
#: About what one row of the tidy table costs in memory (a dict of 8-10 small entries).
ROW_BYTES = 1200


class Divergence:
    """Per model: ``at`` (the first step whose loss was not finite, or -1) and ``last_finite`` (its last finite
    loss: the loss at the end for a model that did not diverge, NaN for one that diverged at step 0)."""

    def __init__(self, at: np.ndarray, last_finite: np.ndarray, grew: np.ndarray | None = None) -> None:
        self.at = np.asarray(at, dtype=int)
        self.last_finite = np.asarray(last_finite, dtype=np.float64)
        #: per model: did not diverge, yet ended with a higher loss than it started with (it did not learn)
        self.grew = np.zeros(self.at.shape, dtype=bool) if grew is None else np.asarray(grew, dtype=bool)

    @property
    def diverged(self) -> np.ndarray:
        return self.at >= 0

    def rows(self, k: int, base: dict[str, Any], step: int) -> list[dict[str, Any]]:
        """The two divergence rows of model ``k``, with the model's descriptive columns ``base``."""
        return [
            {**base, "step": step, "layer": 0, "metric": "diverged_at", "value": float(self.at[k])},
            {**base, "step": step, "layer": 0, "metric": "last_finite_loss", "value": float(self.last_finite[k])},
        ]


def divergence(history: History) -> Divergence:
    """The :class:`Divergence` of a training history, from its ``diverged_at`` and ``last_finite_loss``."""
    loss = history.loss
    with np.errstate(invalid="ignore"):
        grew = ~history.diverged & (loss[-1] > loss[0] + 1e-6 * np.abs(loss[0]))  # beyond rounding
    return Divergence(history.diverged_at, history.last_finite_loss, grew)


def diverged_sentence(divs: Sequence[Divergence]) -> str:
    """The answer's sentence on divergence and on models whose loss grew ('' when every model learned)."""
    at = np.concatenate([d.at for d in divs])
    n_models, n_diverged = at.size, int((at >= 0).sum())
    n_grew = int(sum(int(d.grew.sum()) for d in divs))
    grew = ""
    if n_grew:
        grew = (f" {n_grew} of the {n_models - n_diverged} others ended with a higher loss than they started "
                "with: they did not learn either.")  # fmt: skip
    if n_diverged == 0:
        return grew.replace(" of the ", " of ").replace(" others", " models").replace(" either", "").strip()
    first_step = int(at[at >= 0].min())
    if n_diverged == n_models:
        return (
            f"All {n_models} models diverged (the loss was no longer finite, the first at step {first_step}): "
            "nothing here trained, so no claim can be checked."
        )
    return (
        f"{n_diverged} of {n_models} models diverged (the loss was no longer finite, the first at step "
        f"{first_step}); they are left out of every accuracy and count above.{grew}"
    )


def mean_sd(values: Sequence[float] | np.ndarray, digits: int = 2) -> str:
    """``0.91 ± 0.02`` over the finite values (``n/a`` for none); large numbers in 3 significant digits."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "n/a"
    with np.errstate(over="ignore", invalid="ignore"):
        mean, sd = float(v.mean()), float(v.std())
    if max(abs(mean), sd) >= 1e4:
        return f"{mean:.3g} ± {sd:.3g}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def chunks(n_models: int, per_model_bytes: int, budget: int = CHUNK_BYTES) -> list[slice]:
    """Slices of ``range(n_models)`` so that each chunk's ensemble takes at most ``budget`` bytes (at least one
    model per chunk).  Model k of an ensemble is bit for bit model k alone, so chunks change no number."""
    size = max(1, budget // max(1, per_model_bytes))
    return [slice(i, min(i + size, n_models)) for i in range(0, n_models, size)]


def concat(parts: Sequence[dict[str, Any]], axis: Callable[[str], int | None]) -> dict[str, Any]:
    """Join the per-chunk dicts of arrays along each key's model axis (``axis(key)``; None: take the first)."""
    out: dict[str, Any] = {}
    for key in parts[0]:
        a = axis(key)
        out[key] = parts[0][key] if a is None else np.concatenate([p[key] for p in parts], axis=a)
    return out


def distinct(W: Any, b: Any, A: Any) -> np.ndarray:
    """Distinct units per model, as floats: NaN for a model whose weights or activations are not finite (NaN
    units are not 'distinct', they are not measured)."""
    W, b, A = np.asarray(W), np.asarray(b), np.asarray(A)
    ok = np.isfinite(W).all(axis=(-2, -1)) & np.isfinite(b).all(axis=(-2, -1)) & np.isfinite(A).all(axis=(-2, -1))
    out = np.full(ok.shape, np.nan)
    if ok.any():
        out[ok] = np.asarray(distinct_units(W[ok], b[ok], A[ok]), dtype=np.float64)
    return out
