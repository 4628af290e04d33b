"""Process-level set-up for entry points (CLI, experiments, benchmarks): the persistent
compilation cache, host arrays sent to the device without a compiled copy, a one-line
description of the machine for reports, and atomic file writes (run folders and saved
populations)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import secrets
import signal
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import jax
import numpy as np


def to_device(x):
    """`x` (a numpy array or anything `np.asarray` takes) on the default device, in jax's
    dtype for it (float64 becomes float32 unless x64 is on), as `jnp.asarray` gives it; a
    jax array (or a tracer) is returned as it is. `jnp.asarray` of a host array compiles
    and runs a copy program ("stage") for every new shape, 10-40 ms each on a CPU, and
    before a population trains there are a dozen; `jax.device_put` compiles nothing."""
    return x if isinstance(x, jax.Array) else jax.device_put(np.asarray(x))


def enable_compilation_cache(path: str | None = None) -> str:
    """Keep compiled XLA programs on disk so a repeated run skips compilation.

    The cache lives in $FJAX_CACHE_DIR, else $XDG_CACHE_HOME/fjax/xla (default
    ~/.cache/fjax/xla), beside the CPU kernels' cache. Every program is
    stored, however fast it compiled, so a repeated run compiles nothing: loading a small
    program takes milliseconds, compiling it tens (jax's default stores only programs
    that took over 1 s; a population's initialiser takes 0.9-1.2 s, so it was stored in
    some runs and not in others).
    """
    path = path or os.environ.get("FJAX_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fjax", "xla")
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return path


TEMP_SUFFIX = ".tmp"   # temporary files are ".<name>.<random>.tmp" beside their target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed into place (after an fsync)
    when the block ends without error, removed otherwise. So a reader, or a run killed
    mid-write, never sees a partial file. It is created 0666 less the umask, as `open`
    would create `path` itself."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())   # the rename must not outlive the data in a crash
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8, as pandas reads a CSV, whatever the locale; or bytes)
    to `path` atomically (`atomic_path`)."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
    return Path(path)


def default_platform() -> str:
    """The platform that new arrays and jitted calls land on: the `jax.default_device`
    in force (a device or a platform name), else the default backend. On a GPU machine
    inside `jax.default_device(jax.devices("cpu")[0])` this is "cpu"."""
    device = jax.config.jax_default_device
    if device is None:
        return jax.default_backend()
    return device if isinstance(device, str) else device.platform


def default_devices() -> list:
    """The devices work may spread over: the one `jax.default_device` pins, the local
    devices of a platform it names, else the default backend's local devices."""
    device = jax.config.jax_default_device
    if device is None:
        return jax.local_devices()
    return jax.local_devices(backend=device) if isinstance(device, str) else [device]


def machine_summary() -> dict:
    """Backend, devices and versions, for run folders and benchmark tables."""
    devices = jax.devices()
    return {
        "backend": jax.default_backend(),
        "devices": f"{len(devices)} x {devices[0].device_kind}",
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:   # e.g. fjax on PYTHONPATH
        return None


def _source_revision() -> str | None:
    """`git describe` of fjax's own checkout (an editable install or a source tree), not
    of a repository that merely holds the environment fjax is installed in."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    try:
        revision = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"],
                                  capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return revision.stdout.strip() or None


def environment() -> dict:
    """What besides the config can change a run's numbers: the machine, the library
    versions, fjax's source revision (when run from a git checkout) and whether the CPU
    recurrent kernels were loaded (`fjax.kernels.kernel_state`; a run rewrites it when
    it ends), XLA_FLAGS and the jax settings that change numbers. Written to every run
    folder as environment.json."""
    from fjax.kernels import kernel_state
    return {**machine_summary(), "versions": {name: _version(name) for name in (
                "fjax", "jax", "jaxlib", "flax", "optax", "numpy", "pandas")},
            "fjax_commit": _source_revision(), "cpu_kernels": kernel_state(),
            "XLA_FLAGS": os.environ.get("XLA_FLAGS"),
            "jax_config": {name: getattr(jax.config, name) for name in NUMERIC_JAX_CONFIG}}


# jax settings that change a run's numbers, and that a shell can set unseen (JAX_ENABLE_X64=1
# widens the data and keys; JAX_THREEFRY_PARTITIONABLE=0 draws other random numbers).
NUMERIC_JAX_CONFIG = ("jax_enable_x64", "jax_default_prng_impl", "jax_threefry_partitionable",
                      "jax_default_matmul_precision")


_INTERRUPTED = threading.Event()


# What stops a run as Ctrl-C does: SIGTERM is what batch schedulers (Slurm) send first.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def reliable_interrupts() -> Iterator[list[int]]:
    """A Ctrl-C, or a SIGTERM, that training does not lose (for entry points such as the
    CLI): either raises KeyboardInterrupt, and the list yielded records which signals came.
    Python raises it wherever the main thread is; inside a garbage-collector callback (jax
    registers one) it prints "Exception ignored" and goes on, and a run once went on to
    finish. Here the interrupt is also recorded, and training loops raise it again after
    the epoch in progress (`interrupted`); one swallowed outside training (while a report
    is written) is still lost. The previous handlers return at the end. A no-op outside
    the main thread."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum, frame):
        caught.append(signum)
        _INTERRUPTED.set()
        raise KeyboardInterrupt

    _INTERRUPTED.clear()
    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield caught
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _INTERRUPTED.clear()


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold a Ctrl-C (and a SIGTERM that a Python handler, such as `reliable_interrupts`'s,
    would catch) until the block ends, then hand it to that handler, or raise
    KeyboardInterrupt: for a write that must finish (a checkpoint cut short leaves an
    unfinished folder, and saving again over it failed with 'File exists'). A no-op
    outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    held = [s for s in STOP_SIGNALS if s == signal.SIGINT or callable(signal.getsignal(s))]
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if caught:
        handler = previous[caught[0]]
        if not callable(handler):   # SIGINT ignored (a background job) or default
            raise KeyboardInterrupt
        handler(caught[0], None)


def interrupted() -> bool:
    """Whether a Ctrl-C or SIGTERM under `reliable_interrupts` has arrived."""
    return _INTERRUPTED.is_set()
