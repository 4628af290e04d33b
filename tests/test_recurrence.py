"""The recurrent layers' choices per platform: the C++ kernel on CPUs, the `lax.scan`
elsewhere with `SCAN_UNROLL` steps per loop iteration (an unrolled scan computes what the
rolled one does), the weight gradients' form (`WEIGHT_GRADIENTS`) and where the LSTM's
backward scan computes its activation derivatives (`GATE_DERIVATIVES`)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import test_gru_layer
import test_lstm_kernel

from fjax import kernels
from fjax.models import gru_layer, lstm_layer, recurrence
from fjax.runtime import default_platform

LAYERS = {"lstm": (lstm_layer, test_lstm_kernel._inputs),
          "gru": (gru_layer, test_gru_layer._inputs)}


def _args(cell):
    """A layer's (x, weights...) and gradients of its hidden states: 7 steps, 3 rows,
    5 hidden units, drawn in the dtype jax defaults to (float64 under `enable_x64`)."""
    args, dhs, _ = LAYERS[cell][1]((7, 3, 5), inputs=2)
    return args, dhs


def _scan_unrolls(jaxpr) -> list[int]:
    """The `unroll` of every scan in a jaxpr, its sub-jaxprs (cond branches, custom
    VJPs, loops) included."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan":
            found.append(eqn.params["unroll"])
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found += _scan_unrolls(inner)
    return found


@pytest.mark.parametrize("cell", LAYERS)
@pytest.mark.parametrize("unroll", [2, 4, 7])
def test_unrolled_scan_equals_rolled(cell, unroll):
    """7 steps: unrolls that divide them, and ones that leave a remainder."""
    module, _ = LAYERS[cell]
    args, dhs = _args(cell)
    rolled = jax.jit(module.scan_forward)(*args)
    ours = jax.jit(lambda *a: module.scan_forward(*a, unroll=unroll))(*args)
    for a, b in zip(ours, rolled):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    saved = rolled[1:] if cell == "lstm" else rolled
    back = [module.scan_backward(args[3], *saved, dhs, dhs[-1], unroll=u) for u in (1, unroll)]
    np.testing.assert_allclose(back[1], back[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cell", LAYERS)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("data_input", [False, True])
def test_scans_unroll_by_platform(cell, dtype, data_input, monkeypatch):
    """The layer's forward and backward (with the inputs' gradient, and without it where x
    is data): each platform's branch gets its `SCAN_UNROLL`. A CPU takes the kernel for
    float32 where it is built (no scan in its branch), the CPU's scans otherwise."""
    monkeypatch.setitem(recurrence.SCAN_UNROLL, "cpu", 2)
    monkeypatch.setitem(recurrence.SCAN_UNROLL, "default", 3)
    sequence = lstm_layer.lstm_sequence if cell == "lstm" else gru_layer.gru_sequence
    with jax.enable_x64(dtype == jnp.float64):
        args, dhs = _args(cell)
        loss = lambda *a: jnp.sum(sequence(*a) * dhs)  # noqa: E731
        argnums = tuple(range(1 if data_input else 0, len(args)))
        jaxpr = jax.make_jaxpr(jax.grad(loss, argnums=argnums))(*args)
    kernel = dtype == jnp.float32 and kernels.recurrent_kernels()
    assert sorted(_scan_unrolls(jaxpr.jaxpr)) == ([3, 3] if kernel else [2, 2, 3, 3])


TEXTBOOK = {"lstm": test_lstm_kernel.textbook_lstm, "gru": test_gru_layer.textbook_gru}


@pytest.mark.parametrize("cell", LAYERS)
@pytest.mark.parametrize("final", [False, True])
def test_gradients_keep_their_inputs_dtypes(cell, final):
    """float64 data and float32 weights (numpy's default under jax_enable_x64): each
    gradient is in its input's dtype, as autodiff of the textbook cell gives it. The
    weights' gradients were float64, and the optimizer state changed dtype mid-scan."""
    module, _ = LAYERS[cell]
    name = "final" if final else "sequence"
    layer = getattr(module, f"{cell}_{name}")
    textbook = TEXTBOOK[cell]
    with jax.enable_x64():
        args, dhs = _args(cell)
        args = (args[0].astype(jnp.float64),) + tuple(a.astype(jnp.float32) for a in args[1:])
        ct = dhs[-1] if final else dhs
        ours = jax.grad(lambda *a: jnp.sum(layer(*a) * ct), range(len(args)))(*args)
        ref = jax.grad(lambda *a: jnp.sum((textbook(*a)[-1] if final else textbook(*a)) * ct),
                       range(len(args)))(*args)
    assert [g.dtype for g in ours] == [a.dtype for a in args] == [g.dtype for g in ref]
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", ["stacked", "split"])
def test_weight_gradient_forms_match_numpy(form):
    """Each form's sum_t x_t^T dz_t and sum_t h_{t-1}^T dz_t (h_0 = 0), against float64
    numpy: 7 steps, 3 rows, 2 inputs, 5 hidden units, 4 blocks."""
    rng = np.random.default_rng(3)
    x, hs, dz = (rng.normal(size=(7, 3, n)) for n in (2, 5, 20))
    h_prev = np.concatenate([np.zeros((1, 3, 5)), hs[:-1]])
    dw_ih, dw_hh = recurrence._FORMS[form](*(jnp.asarray(a, jnp.float32) for a in (x, hs, dz)))
    chex.assert_shape([dw_ih, dw_hh], [(2, 20), (5, 20)])
    np.testing.assert_allclose(dw_ih, np.einsum("tbf,tbg->fg", x, dz), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw_hh, np.einsum("tbh,tbg->hg", h_prev, dz), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("cell", LAYERS)
@pytest.mark.parametrize("setting", ["cpu", "default"])
def test_weight_gradients_follow_the_platforms_setting(cell, setting, monkeypatch):
    """A form that doubles the weights' gradients, set for one platform key: the layer's
    kernel gradients double (against the textbook cell's autodiff) only where that key is
    this platform's, and the inputs' and biases' gradients never."""
    doubled = lambda *a: tuple(2 * g for g in recurrence._stacked(*a))  # noqa: E731
    monkeypatch.setitem(recurrence._FORMS, "doubled", doubled)
    monkeypatch.setitem(recurrence.WEIGHT_GRADIENTS, setting, "doubled")
    module, _ = LAYERS[cell]
    sequence = getattr(module, f"{cell}_sequence")
    args, dhs = _args(cell)
    ours = jax.grad(lambda *a: jnp.sum(sequence(*a) * dhs), range(len(args)))(*args)
    ref = jax.grad(lambda *a: jnp.sum(TEXTBOOK[cell](*a) * dhs), range(len(args)))(*args)
    here = "cpu" if default_platform() == "cpu" else "default"
    for i, (a, b) in enumerate(zip(ours, ref)):   # the kernels are args 1 and 3 in both
        factor = 2 if i in (1, 3) and setting == here else 1
        np.testing.assert_allclose(a, factor * np.asarray(b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", ["hoisted", "per_step"])
@pytest.mark.parametrize("unroll", [1, 4])
def test_gate_derivative_forms_match_autodiff(form, unroll):
    """Each form's dz (float32) against float64 autodiff of the textbook cell with respect
    to its pre-activations (extra inputs e_t with an identity kernel, z_t += e_t, at 0),
    the loss sum_t h_t dh_t + h_T dh_last: 7 steps, 3 rows, 5 units; and the two forms
    against each other."""
    with jax.enable_x64():
        (x, w_ih, b, w_hh), dhs, dh_last = test_lstm_kernel._inputs((7, 3, 5), inputs=2)
        x, w_ih, b, w_hh, dhs, dh_last = (a.astype(jnp.float64)
                                          for a in (x, w_ih, b, w_hh, dhs, dh_last))
        w_e = jnp.concatenate([w_ih, jnp.eye(20)])
        dh_all = dhs.at[-1].add(dh_last)

        def loss(e):
            return jnp.sum(TEXTBOOK["lstm"](jnp.concatenate([x, e], -1), w_e, b, w_hh) * dh_all)
        ref = jax.grad(loss)(jnp.zeros((7, 3, 20)))
        _, cs, gates = lstm_layer.scan_forward(x, w_ih, b, w_hh)
        f32 = [jnp.asarray(a, jnp.float32) for a in (w_hh, cs, gates, dhs, dh_last)]
    run = lambda f: jax.jit(lambda *a: lstm_layer.scan_backward(  # noqa: E731
        *a, unroll=unroll, form=f))(*f32)
    ours = run(form)
    chex.assert_type(ours, jnp.float32)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    other = run("per_step" if form == "hoisted" else "hoisted")
    np.testing.assert_allclose(ours, other, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("setting", ["cpu", "default"])
@pytest.mark.parametrize("wrt", [(0, 1, 2, 3), (1, 2, 3)])
def test_gate_derivatives_follow_the_platforms_setting(setting, wrt, monkeypatch):
    """A form that doubles dz, set for one platform key: the layer's gradients (float64,
    so a CPU runs the scan, not the kernel; with and without the inputs' gradient)
    double against the textbook cell's autodiff only where that key is this platform's."""
    doubled = lambda *a, **k: 2 * lstm_layer._hoisted(*a, **k)  # noqa: E731
    monkeypatch.setitem(lstm_layer._GATE_FORMS, "doubled", doubled)
    monkeypatch.setitem(recurrence.GATE_DERIVATIVES, setting, "doubled")
    with jax.enable_x64():
        args, dhs = _args("lstm")
        ours = jax.grad(lambda *a: jnp.sum(lstm_layer.lstm_sequence(*a) * dhs), wrt)(*args)
        ref = jax.grad(lambda *a: jnp.sum(TEXTBOOK["lstm"](*a) * dhs), wrt)(*args)
    here = "cpu" if default_platform() == "cpu" else "default"
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, (2 if setting == here else 1) * np.asarray(b),
                                   rtol=1e-10, atol=1e-10)
