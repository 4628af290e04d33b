"""What fjax's recurrent layers (`lstm_layer.py`, `gru_layer.py`) share: the tanh form of
the sigmoid, the choice between a C++ CPU kernel and the `lax.scan`, the custom VJP
around a layer's recurrence, the weight gradients' form per platform, and (the LSTM's)
where its backward scan computes the activations' derivatives.

A layer supplies `forward(x, *weights) -> (hs, *saved)` and
`backward(needs_dx, args, outputs, dhs, dh_last) -> (dx, *dweights)`; `custom_recurrence`
turns them into the layer's `sequence` and `final` functions. Shapes: x f32[T, B, F],
hs f32[T, B, H], dz f32[T, B, G H] for a cell with G blocks of H per row.
"""

from __future__ import annotations

import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from fjax import kernels


def sigmoid(x: jax.Array) -> jax.Array:
    """The logistic function, as tanh: s(x) = 0.5 tanh(x / 2) + 0.5."""
    return 0.5 * jnp.tanh(0.5 * x) + 0.5


# Recurrence steps per iteration of a scan's loop, by platform; read when a layer is
# first traced, so set it before that. Off the CPU one small model is bound by the
# loop's per-step kernel launches, not by arithmetic. On an H200 (BENCHMARKS.md), 4
# steps trained one reference LSTM 1.92x faster than 1 step and 256 of them 1.01x
# faster; 8 steps: 2.05x and 0.82x. No other accelerator was measured. On CPUs the scan
# is only the fallback without the C++ kernel, and 4 steps ran it 11-45% slower.
# `scripts/bench.py --only scan_unroll` measures both.
SCAN_UNROLL = {"cpu": 1, "default": 4}


def on_cpu_kernel(kernel, scan, *args, **settings):
    """`kernel` when this runs on a CPU and the kernel is built, else `scan` with the
    platform's `SCAN_UNROLL` steps per loop iteration and, for each keyword of `settings`
    (a setting by platform, e.g. `form=GATE_DERIVATIVES`), the platform's value: one
    branch per platform, so a setting of the scan needs no `platform_dependent` of its own
    (`WEIGHT_GRADIENTS`, read after the kernel too, keeps one)."""
    def on(platform):
        return functools.partial(scan, unroll=SCAN_UNROLL[platform],
                                 **{k: by[platform] for k, by in settings.items()})
    cpu = on("cpu")
    if all(a.dtype == jnp.float32 for a in args) and kernels.recurrent_kernels():
        cpu = kernel
    return jax.lax.platform_dependent(*args, cpu=cpu, default=on("default"))


def orthogonal_blocks(key, shape, dtype=jnp.float32):
    """Orthogonal [H, H] blocks side by side, as flax initialises each gate's kernel.
    One call per block on purpose: drawn vmapped (the same numbers, 0.3 s less compile),
    the batched QRs of two layers deadlock jaxlib 0.10.2's CPU LAPACK kernels."""
    hidden, width = shape
    keys = jax.random.split(key, width // hidden)
    init = nn.initializers.orthogonal()
    return jnp.concatenate([init(k, (hidden, hidden), dtype) for k in keys], axis=1)


def backward_recurrence(needs_dx: bool, with_dx: tuple, without_dx: tuple, w_hh, w_ih, x,
                        saved: tuple, dhs, dh_last, **settings) -> tuple[jax.Array, jax.Array]:
    """dz and the inputs' gradient dx: `with_dx` (a kernel and its scan) computes both
    where x is differentiated; otherwise `without_dx` computes dz and dx is zero (x is
    data, its gradient unused). `settings` go to the scans (`on_cpu_kernel`)."""
    if needs_dx:
        return on_cpu_kernel(*with_dx, w_hh, w_ih, *saved, dhs, dh_last, **settings)
    return (on_cpu_kernel(*without_dx, w_hh, *saved, dhs, dh_last, **settings),
            jnp.zeros_like(x))


# How the weight gradients are computed, by platform; read when a layer is first traced.
# "stacked": one matmul over [x_t | h_{t-1}]. "split": two matmuls without that
# concatenation. Stacked is faster on both platforms measured: on XLA:CPU 0.58 vs 0.71 ms
# for the LSTM at H = 50; on an H200 one reference LSTM trained 1.06x and 256 of them
# 1.03x faster than split (BENCHMARKS.md). `scripts/bench.py --only weight_gradient_forms`
# measures both.
WEIGHT_GRADIENTS = {"cpu": "stacked", "default": "stacked"}

# Where the LSTM's backward scan computes the activations' derivatives, by platform; read
# when a layer is first traced. "hoisted": for all steps before the scan (large fusions,
# then the scan reads them back). "per_step": inside each step, from the saved gates and
# cell states (less memory traffic, more work per step). On an H200 (BENCHMARKS.md,
# fifth session) per_step trained 256 reference LSTMs 1.06x faster (1.042 -> 0.984
# s/epoch) but one 0.88x as fast (0.0767 -> 0.0867), so hoisted stays everywhere.
# `scripts/bench.py --only gate_derivative_forms` measures both.
GATE_DERIVATIVES = {"cpu": "hoisted", "default": "hoisted"}


def _stacked(x, hs, dz):
    steps, batch, width = x.shape
    h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]], 0)
    inputs = jnp.concatenate([x, h_prev], -1).reshape(steps * batch, -1)
    dw = inputs.T @ dz.reshape(steps * batch, -1)
    return dw[:width], dw[width:]


def _split(x, hs, dz):
    steps, batch, width = x.shape
    dz_rows = dz.reshape(steps * batch, -1)
    dw_ih = x.reshape(steps * batch, width).T @ dz_rows
    dw_hh = hs[:-1].reshape(-1, hs.shape[2]).T @ dz_rows[batch:]
    return dw_ih, dw_hh


_FORMS = {"stacked": _stacked, "split": _split}


def weight_gradients(x: jax.Array, hs: jax.Array, dz: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The input kernel's gradient sum_t x_t^T dz_t f32[F, G H] and the recurrent
    kernel's sum_t h_{t-1}^T dz_t f32[H, G H] (h_0 = 0), in the platform's
    `WEIGHT_GRADIENTS` form."""
    return jax.lax.platform_dependent(x, hs, dz, cpu=_FORMS[WEIGHT_GRADIENTS["cpu"]],
                                      default=_FORMS[WEIGHT_GRADIENTS["default"]])


def _dense(cotangent, like):
    """A cotangent that may be a symbolic zero (an unused output), as an array."""
    if isinstance(cotangent, jax.custom_derivatives.SymbolicZero):
        return jnp.zeros(like.shape, like.dtype)
    return cotangent


def _like_primals(grads: tuple, args: tuple) -> tuple:
    """Each gradient in its input's dtype, as autodiff gives it: with mixed inputs (float64
    data under jax_enable_x64, float32 weights) the backward pass computes in the wider
    type, and a float64 gradient of a float32 weight made the optimizer state change dtype
    (a failed epoch scan, or a recompile per step)."""
    return tuple(g.astype(a.dtype) for g, a in zip(grads, args))


def custom_recurrence(forward: Callable, backward: Callable) -> tuple[Callable, Callable]:
    """The layer's `sequence(x, *weights) -> hs f32[T, B, H]` and
    `final(x, *weights) -> h_T f32[B, H]`, each a `jax.custom_vjp` with `symbolic_zeros`:
    the inputs' gradient is only computed when x depends on what is differentiated.
    Gradients come back in their inputs' dtypes (`_like_primals`)."""

    def fwd(*primals):
        args = tuple(p.value for p in primals)
        outputs = forward(*args)
        return outputs[0], (primals[0].perturbed, args, outputs)

    @jax.custom_vjp
    def sequence(*args):
        return forward(*args)[0]

    def sequence_bwd(residuals, dhs):
        hs = residuals[2][0]
        grads = backward(*residuals, _dense(dhs, hs), jnp.zeros_like(hs[0]))
        return _like_primals(grads, residuals[1])

    @jax.custom_vjp
    def final(*args):
        return forward(*args)[0][-1]

    def final_fwd(*primals):
        hs, residuals = fwd(*primals)
        return hs[-1], residuals

    def final_bwd(residuals, dh):
        hs = residuals[2][0]
        grads = backward(*residuals, jnp.zeros_like(hs), _dense(dh, hs[0]))
        return _like_primals(grads, residuals[1])

    sequence.defvjp(fwd, sequence_bwd, symbolic_zeros=True)
    final.defvjp(final_fwd, final_bwd, symbolic_zeros=True)
    return sequence, final
