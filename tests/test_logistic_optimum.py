"""The float64 optimum of a logistic model's objective (`fjax.logistic_optimum`), against
scikit-learn's unpenalised and L2 fits and finite differences."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from fjax.logistic_optimum import bce_hessian, bce_loss, bce_newton_optimum


def _rare_positives(n=4000, seed=0):
    """Rows like fraud's: 1-2% positives, features on unlike scales."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)) * [1.0, 3.0, 0.3, 1.0]
    y = (rng.random(n) < 1 / (1 + np.exp(4.5 - x @ [1.0, -0.4, 2.0, 0.0]))).astype(float)
    return x, y


@pytest.mark.parametrize("decay", [0.0, 0.01])
def test_newtons_optimum_is_scikit_learns_fit(decay):
    """The fraud diagnostic's optimum (Newton's method; L-BFGS took 43-60 iterations, 3-5 s,
    on a period's 68k training rows) is scikit-learn's newton-cholesky fit of the same
    objective to 1e-7 in every parameter, from a far start: a solver stopped early (scipy's
    trust-exact at its default gtol 1e-5) moved the default run's AP in the 4th decimal."""
    x, y = _rare_positives()
    c = np.inf if decay == 0 else 1 / (decay * len(y))   # sklearn: C sum(loss) + |w|^2 / 2
    ref = LogisticRegression(C=c, solver="newton-cholesky", tol=1e-14, max_iter=1000).fit(x, y)
    best = bce_newton_optimum(x, y, np.zeros(5), weight_decay=decay)
    np.testing.assert_allclose(best, np.r_[ref.coef_[0], ref.intercept_], rtol=0, atol=1e-7)
    assert np.abs(bce_loss(best, x, y, weight_decay=decay)[1]).max() < 1e-9


def test_the_hessian_is_the_gradients_derivative():
    """`bce_hessian` against central differences of `bce_loss`'s gradient, with row
    weights, pos_weight and weight decay."""
    x, y = _rare_positives(300, seed=1)
    weight = np.random.default_rng(2).random(300) + 0.5
    theta, args = np.array([0.3, -0.2, 0.5, 0.1, -3.0]), (x, y, weight, 5.0, 0.1)
    eps = 1e-6
    numeric = np.stack([(bce_loss(theta + eps * e, *args)[1]
                         - bce_loss(theta - eps * e, *args)[1]) / (2 * eps)
                        for e in np.eye(5)])
    np.testing.assert_allclose(bce_hessian(theta, *args), numeric, rtol=1e-6, atol=1e-9)
