"""A time-major LSTM layer with a hand-derived backward pass, for speed on CPUs.

Same mathematics as flax's `OptimizedLSTMCell` and PyTorch's `nn.LSTM` (gate order i, f,
g, o; zero initial state; lecun-normal input and orthogonal recurrent kernels, zero
biases). From torch: w_ih = weight_ih_l0.T, w_hh = weight_hh_l0.T and
b = bias_ih_l0 + bias_hh_l0:

    z_t = x_t W + h_{t-1} U + b,   [i, f, g, o] = [s(z_i), s(z_f), tanh(z_g), s(z_o)]
    c_t = f c_{t-1} + i g,          h_t = o tanh(c_t)

What differs is the schedule, chosen by profiling, where a small model's time goes to
per-step operation count rather than arithmetic:
  - the whole layer is one `jax.custom_vjp` over (x, W, b, U); the weight gradients
    are large matmuls after the reverse recurrence;
  - on CPUs the recurrence runs as one call to a C++ kernel (`fjax.kernels`) that also
    computes each step's input projection (forward) and, when x is differentiated (not
    for the data), each step's input gradient (backward);
  - elsewhere (or without a compiler, or for non-float32 inputs) the input projection of
    all steps is one matmul and the recurrence a `lax.scan` with one matmul and one
    fusion per step (4 steps per loop iteration off the CPU, `SCAN_UNROLL`, measured
    on an H200; the backward's activation derivatives computed before its scan or in
    each step, `GATE_DERIVATIVES`);
  - s(z) is computed as 0.5 tanh(z / 2) + 0.5, the same function, which XLA:CPU fuses
    and vectorises better than its logistic op;
  - a top layer whose sequence is not used returns only h_T.
Shapes: x f32[T, B, F] (time-major), h f32[T, B, H].
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from fjax.models import recurrence
from fjax.models.recurrence import (backward_recurrence, custom_recurrence, on_cpu_kernel,
                                     orthogonal_blocks, sigmoid, weight_gradients)


def scan_forward(x: jax.Array, w_ih: jax.Array, b: jax.Array, w_hh: jax.Array, *,
                 unroll: int = 1) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Hidden states, cell states f32[T, B, H] and activated gates f32[T, B, 4H] from
    the inputs x f32[T, B, F]: the input projection of all steps as one matmul, then the
    recurrence as a `lax.scan` of `unroll` steps per iteration."""
    steps, batch, width = x.shape
    hidden = w_hh.shape[0]
    xw = (x.reshape(steps * batch, width) @ w_ih + b).reshape(steps, batch, 4 * hidden)

    def step(carry, xw_t):
        h, c = carry
        z = xw_t + h @ w_hh
        s = sigmoid(z)
        g = jnp.tanh(z[:, 2 * hidden:3 * hidden])
        c = s[:, hidden:2 * hidden] * c + s[:, :hidden] * g
        h = s[:, 3 * hidden:] * jnp.tanh(c)
        return (h, c), (h, c, jnp.concatenate([s[:, :2 * hidden], g, s[:, 3 * hidden:]], 1))

    zero = jnp.zeros((xw.shape[1], hidden), xw.dtype)
    return jax.lax.scan(step, (zero, zero), xw, unroll=unroll)[1]


def _hoisted(w_hh, cs, gates, dhs, dh_last, *, unroll=1):
    """`scan_backward` with the activations' derivatives computed for all steps before
    the scan."""
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c_prev = jnp.concatenate([jnp.zeros_like(cs[:1]), cs[:-1]], 0)
    tanh_c = jnp.tanh(cs)
    # Per step: dc += dh * k_c; dz = [dc, dc, dc, dh] * k_z; dc_prev = dc * f.
    k_c = o * (1 - tanh_c * tanh_c)
    k_z = jnp.concatenate([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g),
                           tanh_c * o * (1 - o)], -1)
    w_t = w_hh.T

    def step(carry, inputs):
        dh, dc = carry
        kc, kz, ff, dh_t = inputs
        dh = dh + dh_t
        dc = dc + dh * kc
        dz = jnp.concatenate([jnp.tile(dc, (1, 3)), dh], -1) * kz
        return (dz @ w_t, dc * ff), dz

    return jax.lax.scan(step, (dh_last, jnp.zeros_like(dh_last)), (k_c, k_z, f, dhs),
                        reverse=True, unroll=unroll)[1]


def _per_step(w_hh, cs, gates, dhs, dh_last, *, unroll=1):
    """`scan_backward` with the activations' derivatives computed inside each step, from
    the saved gates and cell states."""
    c_prev = jnp.concatenate([jnp.zeros_like(cs[:1]), cs[:-1]], 0)
    w_t = w_hh.T

    def step(carry, inputs):
        dh, dc = carry
        gates_t, c_t, c_prev_t, dh_t = inputs
        i, f, g, o = jnp.split(gates_t, 4, axis=-1)
        tanh_c = jnp.tanh(c_t)
        dh = dh + dh_t
        dc = dc + dh * (o * (1 - tanh_c * tanh_c))
        dz = jnp.concatenate([dc * (g * i * (1 - i)), dc * (c_prev_t * f * (1 - f)),
                              dc * (i * (1 - g * g)), dh * (tanh_c * o * (1 - o))], -1)
        return (dz @ w_t, dc * f), dz

    return jax.lax.scan(step, (dh_last, jnp.zeros_like(dh_last)), (gates, cs, c_prev, dhs),
                        reverse=True, unroll=unroll)[1]


_GATE_FORMS = {"hoisted": _hoisted, "per_step": _per_step}


def scan_backward(w_hh, cs, gates, dhs, dh_last, *, unroll: int = 1,
                  form: str = "hoisted") -> jax.Array:
    """Gradients of the gates' pre-activations dz f32[T, B, 4H], as a reverse `lax.scan`
    with the activations' derivatives in `form` (the layer passes its platform's
    `recurrence.GATE_DERIVATIVES` through `on_cpu_kernel`).

    dhs: f32[T, B, H] gradients of the hidden states; dh_last: f32[B, H], an extra
    gradient of h_T (the top layer's output).
    """
    return _GATE_FORMS[form](w_hh, cs, gates, dhs, dh_last, unroll=unroll)


def kernel_forward(x: jax.Array, w_ih: jax.Array, b: jax.Array, w_hh: jax.Array):
    """`scan_forward` as one call to the C++ CPU kernel, which computes each step's input
    projection with its recurrent matmul."""
    steps, batch, _ = x.shape
    hidden = w_hh.shape[0]
    state = jax.ShapeDtypeStruct((steps, batch, hidden), x.dtype)
    out = (state, state, jax.ShapeDtypeStruct((steps, batch, 4 * hidden), x.dtype))
    return jax.ffi.ffi_call("fjax_lstm_forward", out, vmap_method="sequential")(
        x, w_ih, b, w_hh)


def kernel_backward(w_hh, cs, gates, dhs, dh_last) -> jax.Array:
    """`scan_backward` as one call to the C++ CPU kernel."""
    out = jax.ShapeDtypeStruct(gates.shape, gates.dtype)
    return jax.ffi.ffi_call("fjax_lstm_backward", out, vmap_method="sequential")(
        w_hh, cs, gates, dhs, dh_last)


def scan_backward_dx(w_hh, w_ih, cs, gates, dhs, dh_last, *, unroll: int = 1,
                     form: str = "hoisted") -> tuple[jax.Array, jax.Array]:
    """`scan_backward` and the inputs' gradient dx = dz W_ih^T f32[T, B, F]."""
    dz = scan_backward(w_hh, cs, gates, dhs, dh_last, unroll=unroll, form=form)
    return dz, dz @ w_ih.T


def kernel_backward_dx(w_hh, w_ih, cs, gates, dhs, dh_last) -> tuple[jax.Array, jax.Array]:
    """`scan_backward_dx` as one call to the C++ CPU kernel, which computes each step's
    dx_t with the step's dh_{t-1} in one matmul."""
    steps, batch, _ = cs.shape
    out = (jax.ShapeDtypeStruct(gates.shape, gates.dtype),
           jax.ShapeDtypeStruct((steps, batch, w_ih.shape[0]), gates.dtype))
    return jax.ffi.ffi_call("fjax_lstm_backward_dx", out, vmap_method="sequential")(
        w_hh, w_ih, cs, gates, dhs, dh_last)


def _forward(x, w_ih, b, w_hh):
    """Hidden states, cell states and activated gates from the inputs x f32[T, B, F]."""
    return on_cpu_kernel(kernel_forward, scan_forward, x, w_ih, b, w_hh)


def _backward(needs_dx, args, outputs, dhs, dh_last):
    """Gradients w.r.t. x, w_ih, b and w_hh; dhs f32[T, B, H] and dh_last f32[B, H] are
    the hidden states' gradients (dh_last: an extra one for h_T)."""
    x, w_ih, _, w_hh = args
    hs, cs, gates = outputs
    dz, dx = backward_recurrence(needs_dx, (kernel_backward_dx, scan_backward_dx),
                                 (kernel_backward, scan_backward), w_hh, w_ih, x,
                                 (cs, gates), dhs, dh_last,
                                 form=recurrence.GATE_DERIVATIVES)
    dw_ih, dw_hh = weight_gradients(x, hs, dz)
    return dx, dw_ih, dz.reshape(-1, dz.shape[-1]).sum(0), dw_hh


# lstm_sequence(x, w_ih, b, w_hh) -> hs f32[T, B, H]; lstm_final(...) -> h_T f32[B, H].
lstm_sequence, lstm_final = custom_recurrence(_forward, _backward)


class LSTMLayer(nn.Module):
    """One LSTM layer: f32[T, B, F] -> f32[T, B, H] (or f32[B, H] with sequence=False)."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, sequence: bool = True) -> jax.Array:
        steps, batch, width = x.shape
        hidden = self.features
        w_ih = self.param("w_ih", nn.initializers.lecun_normal(), (width, 4 * hidden),
                          jnp.float32)
        w_hh = self.param("w_hh", orthogonal_blocks, (hidden, 4 * hidden), jnp.float32)
        b = self.param("b", nn.initializers.zeros, (4 * hidden,), jnp.float32)
        if self.is_initializing():
            # `init` only needs the output's shape: skip the recurrence (eager and
            # vmapped over a population's members, it would take seconds).
            return jnp.zeros((steps, batch, hidden) if sequence else (batch, hidden), x.dtype)
        return (lstm_sequence if sequence else lstm_final)(x, w_ih, b, w_hh)
