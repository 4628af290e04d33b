"""The optimum of the objective a logistic regression's optimizer descends, in float64.

A logistic model trained for a fixed number of minibatch epochs stops where its budget
and learning rate leave it, not at the optimum; its figures are then of that training,
not of logistic regression. `bce_optimum` (L-BFGS) and `bce_newton_optimum` (Newton)
solve the same objective in float64, so a task can report how far its fit stopped
(credit: the largest logit gap; fraud: the training loss and test average precision
beside the optimum's).

Both solve on one BLAS thread: their products have a few dozen columns, too few to pay
for OpenBLAS's threads, whose spin-waits on a busy machine made a fraud run's four Newton
solves take 8.4 s instead of 1.1 s and credit's L-BFGS 1.3 s instead of 0.07 s (same bits).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from threadpoolctl import threadpool_limits


def descended_objective(kind: str, loss: str, pos_weight: float, optim: str,
                        weight_decay: float) -> tuple[float, float] | None:
    """(pos_weight, weight_decay) of the objective `bce_optimum` solves: weighted mean bce
    (pos_weight on the positives) + weight_decay/2 |kernel|^2, which `fjax.optim` descends
    (it adds the decay to the gradient, the bias not decayed). None for another model or
    loss, and for adamw, whose decoupled decay descends no such objective."""
    if kind != "logistic" or loss != "bce" or optim == "adamw":
        return None
    return float(pos_weight), float(weight_decay)


def bce_loss(theta: np.ndarray, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None,
             pos_weight: float = 1.0, weight_decay: float = 0.0) -> tuple[float, np.ndarray]:
    """The objective and its gradient at `theta` = (kernel..., bias), in float64: the
    `weight`-weighted mean (plain mean without) of pos_weight y softplus(-z) +
    (1 - y) softplus(z), z = x kernel + bias, plus weight_decay/2 |kernel|^2. The plain
    mean's arithmetic is credit's before it moved here, so credit's optimum keeps its bits."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    z = x @ theta[:-1] + theta[-1]
    terms = pos_weight * y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)
    dz = -pos_weight * y * expit(-z) + (1 - y) * expit(z)
    if weight is None:
        loss, g = np.mean(terms), dz / len(y)
    else:
        w = np.asarray(weight, np.float64) / np.sum(weight, dtype=np.float64)
        loss, g = w @ terms, w * dz
    kernel = theta[:-1]
    return (float(loss + weight_decay / 2 * kernel @ kernel),
            np.r_[x.T @ g + weight_decay * kernel, g.sum()])


@threadpool_limits.wrap(limits=1, user_api="blas")
def bce_optimum(x: np.ndarray, y: np.ndarray, start: np.ndarray,
                weight: np.ndarray | None = None, pos_weight: float = 1.0,
                weight_decay: float = 0.0) -> np.ndarray:
    """(kernel..., bias) minimising `bce_loss` from `start` (L-BFGS in float64, to its
    iteration limit on rows a hyperplane separates, where without weight decay the
    optimum is at infinity)."""
    best = minimize(bce_loss, np.asarray(start, np.float64), jac=True,
                    method="L-BFGS-B", args=(x, y, weight, pos_weight, weight_decay),
                    options={"maxiter": 10_000, "gtol": 1e-10, "ftol": 1e-15})
    return best.x


def bce_hessian(theta: np.ndarray, x: np.ndarray, y: np.ndarray,
                weight: np.ndarray | None = None, pos_weight: float = 1.0,
                weight_decay: float = 0.0) -> np.ndarray:
    """The Hessian of `bce_loss` at `theta` in (kernel..., bias), in float64: [x 1]' D [x 1]
    with D the normalised weight times (pos_weight y + 1 - y) p (1 - p), p = sigmoid(z),
    plus weight_decay on the kernel's diagonal."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, np.float64)
    p = expit(x @ theta[:-1] + theta[-1])
    d = w / w.sum() * (pos_weight * y + 1 - y) * p * (1 - p)
    xb = np.c_[x, np.ones(len(y))]
    h = (xb * d[:, None]).T @ xb
    h[:-1, :-1] += weight_decay * np.eye(x.shape[1])
    return h


@threadpool_limits.wrap(limits=1, user_api="blas")
def bce_newton_optimum(x: np.ndarray, y: np.ndarray, start: np.ndarray,
                       weight: np.ndarray | None = None, pos_weight: float = 1.0,
                       weight_decay: float = 0.0) -> np.ndarray:
    """`bce_optimum`'s minimiser by Newton's method (scipy's trust-exact with `bce_hessian`):
    a few iterations where L-BFGS takes 40-60 (a fraud period's 68k training rows: 4-5
    against 43-60, 0.3 s against 3-5 s), and closer to the optimum than L-BFGS's ftol stop
    (1e-9 against 5e-6 from scikit-learn's newton-cholesky in a parameter). On rows a
    hyperplane separates, without weight decay, it stops where the gradient falls under
    its tolerance: the optimum is at infinity."""
    x = np.asarray(x, np.float64)
    args = (x, np.asarray(y, np.float64), weight, pos_weight, weight_decay)
    best = minimize(bce_loss, np.asarray(start, np.float64), jac=True, hess=bce_hessian,
                    method="trust-exact", args=args, options={"gtol": 1e-8, "maxiter": 100})
    return best.x
