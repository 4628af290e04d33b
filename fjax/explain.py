"""Attributions of a score to input columns, summed back to the original attributes.

Against a reference input x_ref (e.g. the mean training applicant):
  linear                 phi_c = w_c (x_c - x_ref_c): exact for a linear logit;
  integrated gradients   phi_c = (x_c - x_ref_c) * mean_{s} df/dx_c(x_ref + a_s (x - x_ref))
                         over `steps` midpoints a_s = (s + 1/2) / steps, so that
                         sum_c phi_c -> f(x) - f(x_ref) (completeness) as steps grow
                         (Sundararajan et al., *Axiomatic Attribution for Deep
                         Networks*, ICML 2017). For a linear f it equals `linear`.
`by_attribute` adds up the columns of each attribute (all one-hot columns, indicator
and embedding coordinates of a column), so the attributions of a categorical attribute
are one number. Reason codes are the attributes that raised the PD the most.
"""

from __future__ import annotations

from typing import Callable, Collection, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def linear_contributions(weights: np.ndarray, x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """f64[n, d] exact contributions of each column to a linear logit."""
    return (np.asarray(x, np.float64) - np.asarray(reference, np.float64)) * np.asarray(
        weights, np.float64)


def integrated_gradients(f: Callable[[jax.Array], jax.Array], x: jax.Array,
                         reference: jax.Array, steps: int = 64) -> jax.Array:
    """f32[n, d] attributions of the scalar function `f: f32[d] -> f32[]` per row of x."""
    alphas = (jnp.arange(steps, dtype=jnp.float32) + 0.5) / steps
    grad = jax.grad(f)

    def one(row):
        delta = row - reference
        grads = jax.vmap(lambda a: grad(reference + a * delta))(alphas)
        return delta * grads.mean(axis=0)

    return jax.jit(jax.vmap(one))(jnp.asarray(x))


def by_attribute(contributions: np.ndarray, attributes: Sequence[str]
                 ) -> tuple[list[str], np.ndarray]:
    """(attribute names in first-seen order, f64[n, A] sums of their columns)."""
    contributions = np.asarray(contributions, np.float64)
    if contributions.shape[-1] != len(attributes):
        raise ValueError(f"{contributions.shape[-1]} contribution columns but "
                         f"{len(attributes)} attribute names")
    names = list(dict.fromkeys(attributes))
    index = np.array([names.index(a) for a in attributes])
    summed = np.zeros((contributions.shape[0], len(names)))
    np.add.at(summed.T, index, contributions.T)
    return names, summed


def top_reasons(logit_contributions: np.ndarray, names: Sequence[str], k: int,
                skip: Collection[str] = ()) -> list[list[tuple[str, float]]]:
    """Per row, up to k (attribute, contribution) that raised the PD most (> 0 only),
    never one of the attributes in `skip`."""
    out = []
    allowed = np.array([name not in skip for name in names])
    ranked = np.where(allowed, np.asarray(logit_contributions, np.float64), -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :k]
    for row, idx in zip(ranked, order):
        out.append([(names[i], float(row[i])) for i in idx if row[i] > 0])
    return out


def importance(contributions: np.ndarray) -> np.ndarray:
    """Global importance: mean absolute contribution per attribute."""
    return np.mean(np.abs(np.asarray(contributions, np.float64)), axis=0)
