"""Microbenchmarks behind the LSTM layer's design (issue 5): one layer's recurrence
(T=60, B=64, H=50) written several ways, each timed in this process.

    python scripts/bench.py --only lstm_steps

Variants of the forward scan: gates with `jax.nn.sigmoid` vs the same function as
0.5 tanh(x/2) + 0.5; `lax.scan` unrolled 1, 4 or fully; two layers one after the other
vs a wavefront (both layers' steps in one iteration); one scan over the batch vs two
independent half-batch scans. Then forward + backward: autodiff through the scan vs the
hand-derived backward pass of `fjax.models.lstm_layer` (its C++ kernel where one is built).
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp

from fjax.models.lstm_layer import lstm_sequence, sigmoid

T, B, H = 60, 64, 50


def _time(f, *args, reps: int = 30) -> float:
    """Median microseconds per call over 7 rounds of `reps` calls."""
    jax.block_until_ready(f(*args))
    rounds = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(reps):
            out = f(*args)
        jax.block_until_ready(out)
        rounds.append((time.perf_counter() - start) / reps)
    return statistics.median(rounds) * 1e6


def _cell(z, c, act):
    """Gates from all pre-activations at once (slicing before the activation costs
    XLA:CPU a fusion per slice: measured 2.7 ms vs 1.2 ms for this scan)."""
    s = act(z)
    c = s[:, H:2 * H] * c + s[:, :H] * jnp.tanh(z[:, 2 * H:3 * H])
    return s[:, 3 * H:] * jnp.tanh(c), c


def _scan(xw, w, act=sigmoid, unroll=1):
    def step(carry, x):
        h, c = _cell(x + carry[0] @ w, carry[1], act)
        return (h, c), h
    zero = jnp.zeros((xw.shape[1], H))
    return jax.lax.scan(step, (zero, zero), xw, unroll=unroll)[1]


def _two_layers(xw, w1, w_in2, w2):
    hs = _scan(xw, w1)
    return _scan((hs.reshape(T * B, H) @ w_in2).reshape(T, B, 4 * H), w2)


def _wavefront(xw, w1, w_in2, w2):
    """Iteration k runs layer 1 at step k and layer 2 at step k - 1."""
    zero = jnp.zeros((B, H))
    h1, c1 = _cell(xw[0], zero, sigmoid)

    def step(carry, x):
        h1, c1, h2, c2 = carry
        n1, m1 = _cell(x + h1 @ w1, c1, sigmoid)
        n2, m2 = _cell(h1 @ w_in2 + h2 @ w2, c2, sigmoid)
        return (n1, m1, n2, m2), n2
    xs = jnp.concatenate([xw[1:], jnp.zeros((1, B, 4 * H))], 0)
    return jax.lax.scan(step, (h1, c1, zero, zero), xs)[1]


def lstm_steps(quick: bool) -> list[dict]:
    keys = jax.random.split(jax.random.PRNGKey(0), 5)
    xw = 0.3 * jax.random.normal(keys[0], (T, B, 4 * H))
    w1, w_in2, w2 = (0.1 * jax.random.normal(k, (H, 4 * H)) for k in keys[1:4])
    cot = jax.random.normal(keys[4], (T, B, H))
    forward = {
        "jax.nn.sigmoid gates": (jax.jit(lambda a, b: _scan(a, b, jax.nn.sigmoid)), (xw, w1)),
        "tanh-form gates": (jax.jit(_scan), (xw, w1)),
        "unroll 4": (jax.jit(lambda a, b: _scan(a, b, unroll=4)), (xw, w1)),
        "one scan, batch 64": (jax.jit(_scan), (xw, w1)),
        "two scans, batch 32 each": (jax.jit(lambda a, b: (_scan(a[:, :B // 2], b),
                                                           _scan(a[:, B // 2:], b))), (xw, w1)),
        "two layers, one after the other": (jax.jit(_two_layers), (xw, w1, w_in2, w2)),
        "two layers, wavefront": (jax.jit(_wavefront), (xw, w1, w_in2, w2)),
    }
    if not quick:
        forward["unroll 60 (full)"] = (jax.jit(lambda a, b: _scan(a, b, unroll=T)), (xw, w1))
    rows = [{"bench": "LSTM layer forward (T=60, B=64, H=50)", "metric": f"{name}: us",
             "value": _time(f, *args)} for name, (f, args) in forward.items()]
    # A second layer's view: inputs x f32[T, B, H], every input differentiated.
    x = jnp.tanh(xw[..., :H])
    b = jnp.zeros(4 * H)

    def autodiff(x, w_in, b, w):
        return jnp.sum(_scan((x.reshape(T * B, H) @ w_in + b).reshape(T, B, 4 * H), w) * cot)

    backward = {
        "autodiff through the scan": autodiff,
        "fjax layer (hand-derived backward; C++ kernel on CPUs)":
            lambda *a: jnp.sum(lstm_sequence(*a) * cot),
    }
    rows += [{"bench": "LSTM layer forward + backward (with input projection and dx)",
              "metric": f"{name}: us",
              "value": _time(jax.jit(jax.grad(f, (0, 1, 2, 3))), x, w_in2, b, w1)}
             for name, f in backward.items()]
    return rows


SECTIONS = {"lstm_steps": lstm_steps}


if __name__ == "__main__":
    from bench import main
    raise SystemExit(main(sections=SECTIONS))
