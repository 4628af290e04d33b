"""The C++ CPU kernels of the LSTM recurrence equal the pure-JAX scan they replace, the
layer uses them on CPUs, and a machine without a compiler falls back with a warning."""

import os
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fjax import kernels
from test_lstm_layer import textbook_lstm

from fjax.models.lstm_layer import (kernel_backward, kernel_backward_dx, kernel_forward,
                                    lstm_final, scan_backward, scan_backward_dx, scan_forward)

# Odd sizes (a row tail, a hidden size that is no multiple of 16), the reference
# model's (64 rows split across threads, 4H = 200 columns in panels), and a hidden
# size that is.
SHAPES = [(7, 3, 5), (9, 64, 50), (4, 13, 33), (3, 16, 32)]


def _inputs(shape, seed=0, inputs=3):
    """(x, w_ih, b, w_hh), hidden-state gradients dhs and an extra gradient of h_T."""
    steps, batch, hidden = shape
    k = jax.random.split(jax.random.PRNGKey(seed), 6)
    x = jax.random.normal(k[0], (steps, batch, inputs))
    w_ih = 2.0 * jax.random.normal(k[1], (inputs, 4 * hidden)) / np.sqrt(inputs)
    b = jax.random.normal(k[2], (4 * hidden,))
    w_hh = jax.random.normal(k[3], (hidden, 4 * hidden)) / np.sqrt(hidden)
    return (x, w_ih, b, w_hh), jax.random.normal(k[4], (steps, batch, hidden)), \
        jax.random.normal(k[5], (batch, hidden))


def test_kernel_builds_on_this_machine():
    """CI and development machines have a C++ compiler: the fast path must be live."""
    assert kernels.recurrent_kernels()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("inputs", [1, 50])
def test_forward_kernel_equals_scan(shape, inputs, built):
    args, _, _ = _inputs(shape, inputs=inputs)
    ours = jax.jit(kernel_forward)(*args)
    ref = jax.jit(scan_forward)(*args)
    steps, batch, hidden = shape
    chex.assert_shape(ours, [(steps, batch, hidden)] * 2 + [(steps, batch, 4 * hidden)])
    chex.assert_type(ours, jnp.float32)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_backward_kernel_equals_scan(shape, built):
    args, dhs, dh_last = _inputs(shape, seed=1)
    w_hh = args[3]
    _, cs, gates = scan_forward(*args)
    ours = jax.jit(kernel_backward)(w_hh, cs, gates, dhs, dh_last)
    ref = jax.jit(scan_backward)(w_hh, cs, gates, dhs, dh_last)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("inputs", [1, 3, 50])
def test_backward_kernel_with_input_gradient_equals_scan(shape, inputs, built):
    args, dhs, dh_last = _inputs(shape, seed=3, inputs=inputs)
    w_ih, w_hh = args[1], args[3]
    _, cs, gates = scan_forward(*args)
    ours = jax.jit(kernel_backward_dx)(w_hh, w_ih, cs, gates, dhs, dh_last)
    ref = jax.jit(scan_backward_dx)(w_hh, w_ih, cs, gates, dhs, dh_last)
    chex.assert_shape(ours[1], shape[:2] + (inputs,))
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("wrt", [(0, 1, 2, 3), (1, 2, 3)])
def test_kernel_gradients_equal_float64_autodiff(wrt, built):
    """The whole custom_vjp on the kernel path against JAX autodiff of the textbook
    recurrence in float64 (an independent oracle); the input gradient comes from the
    kernel exactly when x is differentiated."""
    k = jax.random.split(jax.random.PRNGKey(2), 5)
    x = jax.random.normal(k[0], (9, 64, 3))
    w_ih = jax.random.normal(k[1], (3, 200)) / np.sqrt(3)
    b = 0.1 * jax.random.normal(k[2], (200,))
    w_hh = jax.random.normal(k[3], (50, 200)) / np.sqrt(50)
    ct = jax.random.normal(k[4], (64, 50))
    args = (x, w_ih, b, w_hh)
    grad = jax.grad(lambda *a: jnp.sum(lstm_final(*a) * ct), wrt)
    program = str(jax.make_jaxpr(grad)(*args))
    assert "fjax_lstm_forward" in program
    assert ("fjax_lstm_backward_dx" in program) == (0 in wrt)
    assert ("fjax_lstm_backward" in program.replace("fjax_lstm_backward_dx", "")) == (0 not in wrt)
    ours = jax.jit(grad)(*args)
    with jax.enable_x64():
        ref = jax.grad(lambda *a: jnp.sum(textbook_lstm(*a)[-1] * ct), wrt)(
            *(np.asarray(a, np.float64) for a in args))
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_vmapped_kernel_equals_one_call_per_member(built):
    (x, w_ih, b, w_hh), _, _ = _inputs((5, 8, 6))
    signs = jnp.array([1.0, -1.0, 0.5])
    members = [jnp.stack([s * a for s in signs]) for a in (x, w_ih, b, w_hh)]
    batched = jax.jit(jax.vmap(kernel_forward))(*members)
    for m in range(3):
        for a, b in zip(batched, scan_forward(*(p[m] for p in members))):
            np.testing.assert_allclose(a[m], b, rtol=1e-5, atol=2e-6)


def test_build_is_cached_and_atomic(tmp_path):
    """On a one-line source: the kernels' own (9 s to compile) is built by every test that
    uses them, and build() does the same with any source."""
    source, cache = tmp_path / "probe.cc", tmp_path / "cache"
    source.write_text('extern "C" int fjax_probe() { return 1; }\n')
    compiler = kernels.find_compiler()
    first = kernels.build(source, cache, compiler)
    stamp = first.stat().st_mtime_ns
    assert kernels.build(source, cache, compiler) == first
    assert first.stat().st_mtime_ns == stamp
    assert [p.name for p in cache.iterdir()] == [first.name]   # no temporary left


def test_compiler_errors_are_reported(tmp_path):
    broken = tmp_path / "broken.cc"
    broken.write_text("this is not C++")
    with pytest.raises(RuntimeError, match="broken.cc"):
        kernels.build(broken, tmp_path / "cache", kernels.find_compiler())


def test_no_compiler_falls_back_to_the_scan_with_a_warning(monkeypatch):
    monkeypatch.setenv("CXX", os.path.join(os.sep, "nonexistent", "c++"))
    kernels.recurrent_kernels.cache_clear()
    try:
        assert kernels.kernel_state() == "not loaded"     # environment.json's record
        with pytest.warns(UserWarning, match="pure-JAX scan"):
            assert not kernels.recurrent_kernels()
        assert kernels.kernel_state().startswith("unavailable")
        args, _, _ = _inputs((4, 3, 5))
        assert "fjax_lstm" not in str(jax.make_jaxpr(lstm_final)(*args))
    finally:
        monkeypatch.undo()
        kernels.recurrent_kernels.cache_clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert kernels.recurrent_kernels()
        assert kernels.kernel_state() == "loaded"
        monkeypatch.setenv("FJAX_CPU_KERNELS", "0")
        assert kernels.kernel_state().startswith("off")
