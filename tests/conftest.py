"""Shared test setup: small sizes, CPU, deterministic.

The CPU is the default; `JAX_PLATFORMS=cuda,cpu JAX_DEFAULT_MATMUL_PRECISION=highest`
runs the suite on a GPU (true float32 matmuls, as the oracles' tolerances assume)."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TQDM_DISABLE", "1")


import pytest  # noqa: E402


@pytest.fixture(params=["kernel", "scan"])
def recurrence(request, monkeypatch):
    """Run a recurrent-layer test on the C++ CPU kernels and again on the `lax.scan` path
    (what GPUs and TPUs lower), by telling the layers that no kernel is built."""
    from fjax import kernels
    if request.param == "scan":
        monkeypatch.setattr(kernels, "recurrent_kernels", lambda: False)
    return request.param


@pytest.fixture
def built():
    """For tests that call the C++ kernel functions directly: build and register them
    first (CI and development machines have a C++ compiler; other tests may not have
    run in this process, e.g. under pytest-xdist), and run on the CPU device they are
    registered for."""
    import jax

    from fjax import kernels
    assert kernels.recurrent_kernels()
    with jax.default_device(jax.devices("cpu")[0]):
        yield
