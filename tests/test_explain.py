"""Attributions: exact linear contributions, integrated gradients (completeness), sums
per attribute, reason codes; and the embedding MLP they explain."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fjax.explain import (by_attribute, complete_integrated_gradients, importance,
                          integrated_gradients, linear_contributions,
                          top_reasons)
from fjax.models.tabular import TabularMLP
from fjax.scorecard import ScoreScale

RNG = np.random.default_rng(0)


def test_by_attribute_adds_the_columns_of_each_attribute():
    contrib = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 2.0]])
    names, summed = by_attribute(contrib, ["age", "city", "city", "age"])
    assert names == ["age", "city"]
    np.testing.assert_allclose(summed, [[5.0, 5.0], [2.5, -1.0]])


def test_reasons_are_the_attributes_that_raised_the_pd_most():
    contrib = np.array([[0.3, -0.2, 0.9, 0.1], [-1.0, -2.0, 0.5, -0.1]])
    reasons = top_reasons(contrib, ["a", "b", "c", "d"], k=3)
    assert [r[0] for r in reasons[0]] == ["c", "a", "d"]
    assert reasons[1] == [("c", 0.5)]  # only attributes that lowered the score


def test_integrated_gradients_of_a_linear_function_are_its_exact_contributions():
    w = RNG.normal(size=5)
    x = RNG.normal(size=(7, 5)).astype(np.float32)
    ref = RNG.normal(size=5).astype(np.float32)
    f = lambda v: jnp.dot(v, jnp.asarray(w, jnp.float32)) + 0.3  # noqa: E731
    ig = np.asarray(integrated_gradients(f, x, ref, steps=4))
    np.testing.assert_allclose(ig, linear_contributions(w, x, ref), rtol=1e-5, atol=1e-6)


def test_integrated_gradients_are_complete_for_the_embedding_mlp():
    model = TabularMLP(n_numeric=3, cardinalities=(4, 3), embedding_dim=2, hidden=(16, 8),
                       activation="tanh")
    x = np.c_[RNG.normal(size=(6, 3)), RNG.integers(0, 4, 6), RNG.integers(0, 3, 6)]
    x = x.astype(np.float32)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), x)
    z = jax.jit(lambda p, v: model.apply(p, v, method="embed"))(params, x)
    assert z.shape == (6, 3 + 2 * 2)
    ref = z.mean(axis=0)
    head = lambda v: model.apply(params, v[None], method="head")[0, 0]  # noqa: E731
    ig = np.asarray(integrated_gradients(head, z, ref, steps=128), np.float64)
    heads = jax.jit(jax.vmap(head))
    gap = np.asarray(heads(z) - heads(ref[None])[0], np.float64)
    np.testing.assert_allclose(ig.sum(axis=1), gap, atol=2e-4 + 1e-3 * np.abs(gap).max())
    # the model's forward pass is embed then head
    np.testing.assert_allclose(jax.jit(model.apply)(params, x)[:, 0], heads(z), rtol=1e-5,
                               atol=1e-6)


def test_unknown_category_slot_starts_at_zero():
    model = TabularMLP(n_numeric=1, cardinalities=(5,), embedding_dim=3, hidden=(4,))
    params = jax.jit(model.init)(jax.random.PRNGKey(1), jnp.zeros((1, 2)))
    table = np.asarray(params["params"]["embed_0"]["embedding"])
    assert table.shape == (5, 3)
    np.testing.assert_array_equal(table[0], 0.0)
    assert np.all(np.abs(table[1:]).sum(axis=1) > 0)


def test_importance_is_the_mean_absolute_contribution():
    """Contributions of opposite sign must not cancel out."""
    np.testing.assert_allclose(importance(np.array([[1.0, -2.0], [-1.0, 2.0]])), [1.0, 2.0])


def test_a_zero_contribution_is_not_a_reason():
    """Only attributes that raised the PD (> 0) are reasons, even when fewer than k."""
    got = top_reasons(np.array([[0.5, 0.0, -1.0]]), ["a", "b", "c"], k=3)
    assert got == [[("a", 0.5)]]


def test_a_negligible_shortfall_is_not_a_reason():
    """Hand case at pdo 20 (factor 20 / ln 2 points per logit): a costs 0.003 points, b 12
    and c 0.49; under the 0.5-point floor only b is a reason, and its slots stay blank."""
    factor = 20 / np.log(2)
    contrib = np.array([[0.003, 12.0, 0.49, -3.0]]) / factor
    got = top_reasons(contrib, ["a", "b", "c", "d"], k=3, floor=ScoreScale().material_logit())
    assert [n for n, _ in got[0]] == ["b"]
    assert got[0][0][1] * factor == pytest.approx(12.0)
    just = np.array([[0.5, 0.51]]) / factor   # the floor itself is material
    assert len(top_reasons(just, ["a", "b"], k=2, floor=0.5 / factor)[0]) == 2


def test_by_attribute_refuses_a_name_count_that_does_not_match_the_columns():
    for names in (["a", "b"], ["a", "b", "c", "d"]):
        with pytest.raises(ValueError, match="3 contribution columns but"):
            by_attribute(np.zeros((2, 3)), names)


def test_by_attribute_keeps_the_attributes_in_first_seen_order():
    """Not sorted: the encoder's column order (numeric first, then categorical) is kept."""
    names, summed = by_attribute(np.array([[1.0, 2.0, 4.0]]), ["city", "age", "city"])
    assert names == ["city", "age"]
    np.testing.assert_allclose(summed, [[5.0, 2.0]])


def test_reasons_are_at_most_k_even_when_more_attributes_raised_the_pd():
    contrib = np.array([[0.1, 0.4, 0.3, 0.2]])
    assert top_reasons(contrib, ["a", "b", "c", "d"], k=2) == [[("b", 0.4), ("c", 0.3)]]


def test_tied_reasons_keep_the_attribute_order():
    """Ties are broken by column order (a stable sort), also past numpy's small-array
    insertion sort (> 16 attributes)."""
    names = [f"a{i:02d}" for i in range(40)]
    contrib = np.ones((1, 40))
    contrib[0, 30] = 2.0
    got = top_reasons(contrib, names, k=5)
    assert [n for n, _ in got[0]] == ["a30", "a00", "a01", "a02", "a03"]


def test_withheld_attributes_are_never_reasons_and_the_next_ones_move_up():
    """Hand case: b raised the PD most but is withheld, so a then c are the reasons."""
    contrib = np.array([[0.5, 0.9, 0.2, -0.1], [-0.3, 0.4, -0.2, 0.1]])
    got = top_reasons(contrib, ["a", "b", "c", "d"], k=2, skip=("b",))
    assert got == [[("a", 0.5), ("c", 0.2)], [("d", 0.1)]]


def _relu_net(seed=3, d=5, hidden=64):
    """A one-hidden-layer ReLU net as (jax f: f32[d] -> f32[], float64 numpy gradient)."""
    rng = np.random.default_rng(seed)
    w1, b1 = rng.normal(size=(d, hidden)), rng.normal(size=hidden)
    w2 = 0.1 * rng.normal(size=hidden)
    f = lambda v: jnp.maximum(v @ w1.astype(np.float32) + b1.astype(np.float32), 0) @ (  # noqa
        w2.astype(np.float32))
    grad = lambda v: ((v @ w1 + b1 > 0) * w2) @ w1.T  # noqa: E731  f64[m, d] at rows v
    return f, grad


def _midpoint_reference(grad, x, ref, steps=20000):
    """f64[n, d] integrated gradients by a 20000-step midpoint rule in float64."""
    alphas = (np.arange(steps) + 0.5) / steps
    return np.stack([(row - ref) * grad(ref + alphas[:, None] * (row - ref)).mean(axis=0)
                     for row in x])


def test_integrated_gradients_of_a_relu_net_meet_their_tolerance():
    """A ReLU net's gradient jumps along the path, so 64 midpoints are off by more than
    0.01 (in logit); doubled to tolerance 1e-3, every attribution is within 1e-3 of a
    float64 20000-step reference and adds up to f(x) - f(ref) within 1e-3."""
    f, grad = _relu_net()
    x = (3 * RNG.normal(size=(12, 5))).astype(np.float32)
    ref = np.zeros(5, np.float32)
    exact = _midpoint_reference(grad, x.astype(np.float64), ref.astype(np.float64))
    coarse = np.asarray(integrated_gradients(f, x, ref, steps=64), np.float64)
    assert np.abs(coarse - exact).max() > 1e-2   # the error the tolerance removes
    phi, error = complete_integrated_gradients(f, x, ref, tolerance=1e-3)
    np.testing.assert_allclose(phi, exact, atol=1e-3)
    gap = np.asarray(jax.vmap(f)(x), np.float64) - float(f(ref))
    np.testing.assert_allclose(error, np.abs(phi.sum(axis=1) - gap), atol=1e-6)
    assert error.max() <= 1e-3


def test_integrated_gradients_sum_steps_in_chunks_as_one_mean():
    """A step count that is no multiple of the chunk weighs the padded steps 0."""
    f, grad = _relu_net(seed=4)
    x = RNG.normal(size=(3, 5)).astype(np.float32)
    ref = RNG.normal(size=5).astype(np.float32)
    got = np.asarray(integrated_gradients(f, x, ref, steps=100), np.float64)
    want = _midpoint_reference(grad, x.astype(np.float64), ref.astype(np.float64), steps=100)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_doubling_the_steps_traces_one_program_per_row_bucket():
    """Each doubling built a program with its step count baked in: 5 doublings traced f
    8 times (11.6 s for the credit MLP's 1000 applicants, 85 compiles); the steps are now
    arguments of one program per power-of-two row bucket. Tolerance 0 doubles 64 -> 2048,
    which then matches a float64 2048-step midpoint reference."""
    net, grad = _relu_net(seed=5)
    traced = []

    def f(v):
        traced.append(1)   # runs once per trace, never per evaluation
        return net(v)

    x = (3 * RNG.normal(size=(12, 5))).astype(np.float32)
    ref = np.zeros(5, np.float32)
    phi, _ = complete_integrated_gradients(f, x, ref, tolerance=0.0, max_steps=2048)
    assert len(traced) <= 3   # f(x) rows, f(ref), one program for the 16-row bucket
    want = _midpoint_reference(grad, x.astype(np.float64), ref.astype(np.float64), steps=2048)
    np.testing.assert_allclose(phi, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rows", [12, 10])
def test_a_second_call_with_the_same_function_traces_nothing(rows):
    """Each call jitted fresh closures, so every credit explanation traced and compiled
    its programs again; the programs now take f as a static argument. A second call, with
    new rows (as many, or 10 after 12: the same bucket, `_bucket`, where the gap f(x) -
    f(ref) was evaluated unpadded and traced f again) and another reference, traces f no
    more and gives what a float64 midpoint reference does, its completeness errors those
    of f itself evaluated row by row."""
    net, grad = _relu_net(seed=6)
    traced = []

    def f(v):
        traced.append(1)   # runs once per trace, never per evaluation
        return net(v)

    ref = np.zeros(5, np.float32)
    complete_integrated_gradients(f, RNG.normal(size=(12, 5)).astype(np.float32), ref,
                                  tolerance=0.0, max_steps=256)
    first = len(traced)
    x = RNG.normal(size=(rows, 5)).astype(np.float32)
    ref = RNG.normal(size=5).astype(np.float32)
    phi, error = complete_integrated_gradients(f, x, ref, tolerance=0.0, max_steps=256)
    assert len(traced) == first
    want = _midpoint_reference(grad, x.astype(np.float64), ref.astype(np.float64), steps=256)
    np.testing.assert_allclose(phi, want, rtol=1e-4, atol=1e-5)
    gap = np.array([float(net(v)) for v in x]) - float(net(ref))
    np.testing.assert_allclose(error, np.abs(phi.sum(axis=1) - gap), atol=1e-5)


def test_credit_heads_of_one_structure_share_programs_and_keep_no_parameters():
    """Credit explained through a fresh closure over each fit's parameters: the module-level
    programs, keyed by that closure, compiled anew on every call and kept every fit's
    parameters alive. Its `Head` takes them as an argument: a second fit of the same
    structure, through a new but equal Head, compiles nothing, the first fit's parameters
    are freed, and the attributions add up to the gap computed by `model.apply` itself."""
    import gc
    import weakref

    from fjax.explain import _chunk
    from fjax.tasks.credit.final import Head
    model = TabularMLP(n_numeric=3, cardinalities=(4, 3), embedding_dim=2, hidden=(16, 8),
                       activation="tanh")
    x = np.c_[RNG.normal(size=(6, 3)), RNG.integers(0, 4, 6), RNG.integers(0, 3, 6)]
    x = x.astype(np.float32)
    kept, sizes = [], []
    for seed in (0, 1):
        params = model.init(jax.random.PRNGKey(seed), x)
        z = np.asarray(model.apply(params, x, method="embed"))
        ref = z.mean(axis=0)
        phi, _ = complete_integrated_gradients(Head(model), z, ref, tolerance=1e-4,
                                               args=(params,))
        gap = np.array([model.apply(params, v[None], method="head")[0, 0] for v in z]
                       ) - float(model.apply(params, ref[None], method="head")[0, 0])
        np.testing.assert_allclose(phi.sum(axis=1), gap, atol=2e-4)
        sizes.append(_chunk._cache_size())
        kept.append(weakref.ref(jax.tree_util.tree_leaves(params)[0]))
        del params
    gc.collect()
    assert sizes[1] == sizes[0]
    assert [r() is None for r in kept] == [True, True]


def test_an_unhashable_function_is_refused_before_it_is_cached():
    """An unhashable f was wrapped in a fresh partial per call: each call compiled anew and
    jit's static-argument cache kept every wrapper, and the parameters it held, alive. It
    is now refused, naming the fix, and nothing is compiled or kept for it."""
    import dataclasses
    import gc
    import weakref

    from fjax.explain import _chunk

    @dataclasses.dataclass   # eq without frozen: __hash__ is None
    class Closure:
        w: np.ndarray

        def __call__(self, v):
            return jnp.dot(v, self.w)

    f = Closure(np.ones(5, np.float32))
    x, ref = RNG.normal(size=(3, 5)).astype(np.float32), np.zeros(5, np.float32)
    before = _chunk._cache_size()
    for call in (integrated_gradients, lambda *a: complete_integrated_gradients(*a, 1e-3)):
        with pytest.raises(TypeError, match="args="):
            call(f, x, ref)
    assert _chunk._cache_size() == before
    kept = weakref.ref(f)
    del f
    gc.collect()
    assert kept() is None


def _dot(v, w):
    return jnp.dot(v, w)


def test_attribution_inputs_of_the_wrong_shape_or_steps_are_refused():
    w = np.array([1.0, -2.0, 0.5])
    x = np.arange(9.0).reshape(3, 3)
    # a [d, 1] kernel against d rows broadcast to a [d, d] answer; x - ref by hand:
    np.testing.assert_allclose(linear_contributions(w, x, np.ones(3)), (x - 1) * w)
    with pytest.raises(ValueError, match=r"weights must be one per column \(3,\)"):
        linear_contributions(w[:, None], x, np.ones(3))
    with pytest.raises(ValueError, match=r"reference one row \[d\]"):
        linear_contributions(w, x, np.ones((3, 1)))
    for args in ((x[0], np.ones(3)), (x, np.ones(2))):   # IndexError / broadcast error
        with pytest.raises(ValueError, match=r"x must be rows \[n, d\]"):
            integrated_gradients(_dot, *args, args=(w,))
    with pytest.raises(ValueError, match="must be finite"):
        integrated_gradients(_dot, np.where(x > 7, np.nan, x), np.ones(3), args=(w,))
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):   # gave all zeros
        integrated_gradients(_dot, x, np.ones(3), steps=0, args=(w,))
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        complete_integrated_gradients(_dot, x, np.ones(3), 1e-3, steps=0, args=(w,))


def test_reasons_refuse_names_that_do_not_match_the_columns():
    # numpy's "operands could not be broadcast together with shapes (2,) (2,3)"
    with pytest.raises(ValueError, match=r"must be \[n, 2\], one column per name"):
        top_reasons(np.ones((2, 3)), ["a", "b"], 2)
    assert top_reasons(np.array([[0.5, 2.0, -1.0]]), ["a", "b", "c"], 2) == [
        [("b", 2.0), ("a", 0.5)]]
