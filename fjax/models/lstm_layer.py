"""A time-major LSTM layer with a hand-derived backward pass, for speed on CPUs.

Same mathematics as flax's `OptimizedLSTMCell` (gate order i, f, g, o; zero initial
state; lecun-normal input and orthogonal recurrent kernels, zero biases):

    z_t = x_t W + h_{t-1} U + b,   [i, f, g, o] = [s(z_i), s(z_f), tanh(z_g), s(z_o)]
    c_t = f c_{t-1} + i g,          h_t = o tanh(c_t)

What differs is the schedule, chosen by profiling, where a small model's time goes to
per-step operation count rather than arithmetic:
  - the input projection x W + b of all steps is one matmul before the recurrence, and
    the weight gradients are large matmuls after it; only the recurrence is sequential;
  - the recurrence (forward: hidden states, cell states and activated gates; backward:
    the gates' gradients, `jax.custom_vjp`) runs on CPUs as one call to a C++ kernel
    (`fjax.kernels`), and elsewhere (or without a compiler, or for non-float32 inputs)
    as a `lax.scan` with one matmul and one fusion per step;
  - s(z) is computed as 0.5 tanh(z / 2) + 0.5, the same function, which XLA:CPU fuses
    and vectorises better than its logistic op;
  - a top layer whose sequence is not used returns only h_T.
Shapes: x f32[T, B, F] (time-major), h f32[T, B, H].
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from fjax import kernels


def sigmoid(x: jax.Array) -> jax.Array:
    """The logistic function, as tanh: s(x) = 0.5 tanh(x / 2) + 0.5."""
    return 0.5 * jnp.tanh(0.5 * x) + 0.5


def scan_forward(xw: jax.Array, w_hh: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Hidden states, cell states f32[T, B, H] and activated gates f32[T, B, 4H] from
    input projections xw f32[T, B, 4H], as a `lax.scan`."""
    hidden = w_hh.shape[0]

    def step(carry, xw_t):
        h, c = carry
        z = xw_t + h @ w_hh
        s = sigmoid(z)
        g = jnp.tanh(z[:, 2 * hidden:3 * hidden])
        c = s[:, hidden:2 * hidden] * c + s[:, :hidden] * g
        h = s[:, 3 * hidden:] * jnp.tanh(c)
        return (h, c), (h, c, jnp.concatenate([s[:, :2 * hidden], g, s[:, 3 * hidden:]], 1))

    zero = jnp.zeros((xw.shape[1], hidden), xw.dtype)
    return jax.lax.scan(step, (zero, zero), xw)[1]


def scan_backward(w_hh, cs, gates, dhs, dh_last) -> jax.Array:
    """Gradients of the gates' pre-activations dz f32[T, B, 4H], as a reverse `lax.scan`.

    dhs: f32[T, B, H] gradients of the hidden states; dh_last: f32[B, H], an extra
    gradient of h_T (the top layer's output).
    """
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
                        reverse=True)[1]


def kernel_forward(xw: jax.Array, w_hh: jax.Array):
    """`scan_forward` as one call to the C++ CPU kernel."""
    steps, batch, width = xw.shape
    state = jax.ShapeDtypeStruct((steps, batch, width // 4), xw.dtype)
    out = (state, state, jax.ShapeDtypeStruct(xw.shape, xw.dtype))
    return jax.ffi.ffi_call("fjax_lstm_forward", out, vmap_method="sequential")(xw, w_hh)


def kernel_backward(w_hh, cs, gates, dhs, dh_last) -> jax.Array:
    """`scan_backward` as one call to the C++ CPU kernel."""
    out = jax.ShapeDtypeStruct(gates.shape, gates.dtype)
    return jax.ffi.ffi_call("fjax_lstm_backward", out, vmap_method="sequential")(
        w_hh, cs, gates, dhs, dh_last)


def _on_cpu_kernel(kernel, scan, *args):
    """`kernel` when this runs on a CPU and the kernel is built, else `scan`."""
    if args[0].dtype == jnp.float32 and args[1].dtype == jnp.float32 and kernels.lstm_kernel():
        return jax.lax.platform_dependent(*args, cpu=kernel, default=scan)
    return scan(*args)


def _forward(xw, w_hh):
    return _on_cpu_kernel(kernel_forward, scan_forward, xw, w_hh)


def _backward(w_hh, hs, cs, gates, dhs, dh_last):
    """Gradients w.r.t. xw (the gates' pre-activations) and w_hh."""
    steps, batch, hidden = hs.shape
    dz = _on_cpu_kernel(kernel_backward, scan_backward, w_hh, cs, gates, dhs, dh_last)
    h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]], 0)
    dw = h_prev.reshape(steps * batch, hidden).T @ dz.reshape(steps * batch, 4 * hidden)
    return dz, dw


@jax.custom_vjp
def lstm_sequence(xw: jax.Array, w_hh: jax.Array) -> jax.Array:
    """Hidden states f32[T, B, H] from input projections xw f32[T, B, 4H]."""
    return _forward(xw, w_hh)[0]


def _sequence_fwd(xw, w_hh):
    hs, cs, gates = _forward(xw, w_hh)
    return hs, (w_hh, hs, cs, gates)


def _sequence_bwd(saved, dhs):
    w_hh, hs, cs, gates = saved
    return _backward(w_hh, hs, cs, gates, dhs, jnp.zeros_like(hs[0]))


lstm_sequence.defvjp(_sequence_fwd, _sequence_bwd)


@jax.custom_vjp
def lstm_final(xw: jax.Array, w_hh: jax.Array) -> jax.Array:
    """The last hidden state f32[B, H] from input projections xw f32[T, B, 4H]."""
    return _forward(xw, w_hh)[0][-1]


def _final_fwd(xw, w_hh):
    hs, cs, gates = _forward(xw, w_hh)
    return hs[-1], (w_hh, hs, cs, gates)


def _final_bwd(saved, dh):
    w_hh, hs, cs, gates = saved
    return _backward(w_hh, hs, cs, gates, jnp.zeros_like(hs), dh)


lstm_final.defvjp(_final_fwd, _final_bwd)


def _orthogonal_blocks(key, shape, dtype=jnp.float32):
    """Orthogonal [H, H] blocks side by side, as flax initialises each gate's kernel."""
    hidden, width = shape
    keys = jax.random.split(key, width // hidden)
    init = nn.initializers.orthogonal()
    return jnp.concatenate([init(k, (hidden, hidden), dtype) for k in keys], axis=1)



class LSTMLayer(nn.Module):
    """One LSTM layer: f32[T, B, F] -> f32[T, B, H] (or f32[B, H] with sequence=False)."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, sequence: bool = True) -> jax.Array:
        steps, batch, width = x.shape
        hidden = self.features
        w_ih = self.param("w_ih", nn.initializers.lecun_normal(), (width, 4 * hidden))
        w_hh = self.param("w_hh", _orthogonal_blocks, (hidden, 4 * hidden))
        b = self.param("b", nn.initializers.zeros, (4 * hidden,))
        if self.is_initializing():
            # `init` only needs the output's shape: skip the recurrence (eager and
            # vmapped over a population's members, it would take seconds).
            return jnp.zeros((steps, batch, hidden) if sequence else (batch, hidden), x.dtype)
        xw = (x.reshape(steps * batch, width) @ w_ih + b).reshape(steps, batch, 4 * hidden)
        return lstm_sequence(xw, w_hh) if sequence else lstm_final(xw, w_hh)
