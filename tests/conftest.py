"""Shared test setup: small sizes, CPU, deterministic."""

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
