"""A time-major GRU layer with a hand-derived backward pass, for speed on CPUs.

Same mathematics as flax's `GRUCell` and PyTorch's `nn.GRU` (gate order r, z, n; zero
initial state; lecun-normal input and orthogonal recurrent kernels, zero biases). From
torch: w_ih = weight_ih_l0.T, w_hh = weight_hh_l0.T, b_hn = bias_hh_l0[2H:] and
b_ih = bias_ih_l0 + [bias_hh_l0[:2H], 0] (the r and z biases only add):

    a_t = x_t W + b,   g_t = h_{t-1} U + [0, 0, b_hn]
    r = s(a_r + g_r),  z = s(a_z + g_z),  n = tanh(a_n + r g_n),  h_t = (1 - z) n + z h_{t-1}

The schedule is that of `lstm_layer.py`: one `jax.custom_vjp` over (x, W, b, U, b_hn);
on CPUs the recurrence runs as one call to a C++ kernel (`fjax.kernels`) that computes
each step's input projection (forward) and, when x is differentiated, its input gradient
(backward); elsewhere a `lax.scan`. The forward saves [r, z, n, g_n]; the backward's
per-step output is dz = [da_r, da_z, da_n, dg_n], the gradients of a_t and of g_n, from
which the weight gradients are one matmul after the reverse recurrence.
Shapes: x f32[T, B, F] (time-major), h f32[T, B, H].
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from fjax.models.recurrence import (backward_recurrence, custom_recurrence, on_cpu_kernel,
                                     orthogonal_blocks, sigmoid, weight_gradients)


def scan_forward(x: jax.Array, w_ih: jax.Array, b_ih: jax.Array, w_hh: jax.Array,
                 b_hn: jax.Array, *, unroll: int = 1) -> tuple[jax.Array, jax.Array]:
    """Hidden states f32[T, B, H] and the saved [r, z, n, g_n] f32[T, B, 4H] from the
    inputs x f32[T, B, F]: the input projection of all steps as one matmul, then the
    recurrence as a `lax.scan` of `unroll` steps per iteration."""
    steps, batch, width = x.shape
    hidden = w_hh.shape[0]
    a = (x.reshape(steps * batch, width) @ w_ih + b_ih).reshape(steps, batch, 3 * hidden)

    def step(h, a_t):
        g = h @ w_hh
        r = sigmoid(a_t[:, :hidden] + g[:, :hidden])
        z = sigmoid(a_t[:, hidden:2 * hidden] + g[:, hidden:2 * hidden])
        g_n = g[:, 2 * hidden:] + b_hn
        n = jnp.tanh(a_t[:, 2 * hidden:] + r * g_n)
        h = (1 - z) * n + z * h
        return h, (h, jnp.concatenate([r, z, n, g_n], -1))

    return jax.lax.scan(step, jnp.zeros((batch, hidden), a.dtype), a, unroll=unroll)[1]


def scan_backward(w_hh, hs, saved, dhs, dh_last, *, unroll: int = 1) -> jax.Array:
    """dz = [da_r, da_z, da_n, dg_n] f32[T, B, 4H], as a reverse `lax.scan`.

    dhs: f32[T, B, H] gradients of the hidden states; dh_last: f32[B, H], an extra
    gradient of h_T (the top layer's output).
    """
    r, z, n, g_n = jnp.split(saved, 4, axis=-1)
    h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]], 0)
    # Per step: da_n = dh k_n, da_r = da_n k_r, da_z = dh k_z, dg_n = da_n r,
    # dh_{t-1} = dh z + [da_r, da_z, dg_n] U^T.
    k_n = (1 - z) * (1 - n * n)
    k_r = g_n * r * (1 - r)
    k_z = (h_prev - n) * z * (1 - z)
    w_t = w_hh.T

    def step(dh, inputs):
        kn, kr, kz, zz, rr, dh_t = inputs
        dh = dh + dh_t
        da_n = dh * kn
        da_r, da_z, dg_n = da_n * kr, dh * kz, da_n * rr
        dh_prev = dh * zz + jnp.concatenate([da_r, da_z, dg_n], -1) @ w_t
        return dh_prev, jnp.concatenate([da_r, da_z, da_n, dg_n], -1)

    return jax.lax.scan(step, dh_last, (k_n, k_r, k_z, z, r, dhs), reverse=True,
                        unroll=unroll)[1]


def scan_backward_dx(w_hh, w_ih, hs, saved, dhs, dh_last, *,
                     unroll: int = 1) -> tuple[jax.Array, jax.Array]:
    """`scan_backward` and the inputs' gradient dx = [da_r, da_z, da_n] W^T f32[T, B, F]."""
    dz = scan_backward(w_hh, hs, saved, dhs, dh_last, unroll=unroll)
    return dz, dz[..., :w_ih.shape[1]] @ w_ih.T


def kernel_forward(x, w_ih, b_ih, w_hh, b_hn) -> tuple[jax.Array, jax.Array]:
    """`scan_forward` as one call to the C++ CPU kernel."""
    steps, batch, _ = x.shape
    hidden = w_hh.shape[0]
    out = (jax.ShapeDtypeStruct((steps, batch, hidden), x.dtype),
           jax.ShapeDtypeStruct((steps, batch, 4 * hidden), x.dtype))
    return jax.ffi.ffi_call("fjax_gru_forward", out, vmap_method="sequential")(
        x, w_ih, b_ih, w_hh, b_hn)


def kernel_backward(w_hh, hs, saved, dhs, dh_last) -> jax.Array:
    """`scan_backward` as one call to the C++ CPU kernel."""
    out = jax.ShapeDtypeStruct(saved.shape, saved.dtype)
    return jax.ffi.ffi_call("fjax_gru_backward", out, vmap_method="sequential")(
        w_hh, hs, saved, dhs, dh_last)


def kernel_backward_dx(w_hh, w_ih, hs, saved, dhs, dh_last) -> tuple[jax.Array, jax.Array]:
    """`scan_backward_dx` as one call to the C++ CPU kernel."""
    steps, batch, _ = hs.shape
    out = (jax.ShapeDtypeStruct(saved.shape, saved.dtype),
           jax.ShapeDtypeStruct((steps, batch, w_ih.shape[0]), saved.dtype))
    return jax.ffi.ffi_call("fjax_gru_backward_dx", out, vmap_method="sequential")(
        w_hh, w_ih, hs, saved, dhs, dh_last)


def _forward(x, w_ih, b_ih, w_hh, b_hn):
    """Hidden states and the saved gate values from the inputs x f32[T, B, F]."""
    return on_cpu_kernel(kernel_forward, scan_forward, x, w_ih, b_ih, w_hh, b_hn)


def _backward(needs_dx, args, outputs, dhs, dh_last):
    """Gradients w.r.t. x, W, b, U and b_hn."""
    x, w_ih, _, w_hh, _ = args
    hs, saved = outputs
    hidden = hs.shape[2]
    dz, dx = backward_recurrence(needs_dx, (kernel_backward_dx, scan_backward_dx),
                                 (kernel_backward, scan_backward), w_hh, w_ih, x,
                                 (hs, saved), dhs, dh_last)
    # W's gradient is the x rows' [da_r, da_z, da_n] block, U's the h rows'
    # [da_r, da_z, dg_n] blocks.
    dw_ih, dw_hh = weight_gradients(x, hs, dz)
    three = 3 * hidden
    db = dz.reshape(-1, dz.shape[-1]).sum(0)
    return (dx, dw_ih[:, :three], db[:three],
            jnp.concatenate([dw_hh[:, :2 * hidden], dw_hh[:, three:]], 1), db[three:])


# gru_sequence(x, w_ih, b_ih, w_hh, b_hn) -> hs f32[T, B, H]; gru_final(...) -> h_T.
gru_sequence, gru_final = custom_recurrence(_forward, _backward)


class GRULayer(nn.Module):
    """One GRU layer: f32[T, B, F] -> f32[T, B, H] (or f32[B, H] with sequence=False)."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, sequence: bool = True) -> jax.Array:
        steps, batch, width = x.shape
        hidden = self.features
        w_ih = self.param("w_ih", nn.initializers.lecun_normal(), (width, 3 * hidden),
                          jnp.float32)
        b_ih = self.param("b_ih", nn.initializers.zeros, (3 * hidden,), jnp.float32)
        w_hh = self.param("w_hh", orthogonal_blocks, (hidden, 3 * hidden), jnp.float32)
        b_hn = self.param("b_hn", nn.initializers.zeros, (hidden,), jnp.float32)
        if self.is_initializing():
            # `init` only needs the output's shape (see LSTMLayer).
            return jnp.zeros((steps, batch, hidden) if sequence else (batch, hidden), x.dtype)
        return (gru_sequence if sequence else gru_final)(x, w_ih, b_ih, w_hh, b_hn)
