"""fjax's hand-written CPU kernels: compiled on first use, registered with XLA's FFI.

XLA:CPU runs a small recurrent model one tiny operation at a time; `recurrent_cpu.cc`
runs the LSTM and GRU recurrences as one call each instead (see its header). The source
is compiled once per machine with the system's C++ compiler ($CXX, else g++, c++ or
clang++) against jaxlib's FFI headers, and cached as a shared library under
$XDG_CACHE_HOME/fjax/kernels (default ~/.cache/fjax/kernels), keyed by the source,
the jax version, the compiler and the CPU.

Without a compiler, or with FJAX_CPU_KERNELS=0, `recurrent_kernels()` is False and the
layers use their pure-JAX scans (slower on CPUs, the same mathematics to float32
rounding). A failed build warns once; FJAX_CPU_KERNELS=0 is silent.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import jax

SOURCE = Path(__file__).with_name("recurrent_cpu.cc")
FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-w")
TARGETS = {"fjax_lstm_forward": "FjaxLstmForward", "fjax_lstm_backward": "FjaxLstmBackward",
           "fjax_lstm_backward_dx": "FjaxLstmBackwardWithInputGrad",
           "fjax_gru_forward": "FjaxGruForward", "fjax_gru_backward": "FjaxGruBackward",
           "fjax_gru_backward_dx": "FjaxGruBackwardWithInputGrad"}


def find_compiler() -> str | None:
    """$CXX, else the first of g++, c++, clang++ on the PATH."""
    if os.environ.get("CXX"):
        return os.environ["CXX"]
    return next(filter(None, map(shutil.which, ("g++", "c++", "clang++"))), None)


def _cpu_fingerprint() -> str:
    """The CPU's model and feature flags: a library built with -march=native for one CPU
    must not be loaded on another that shares the cache folder."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({l for l in lines if l.startswith(("model name", "flags"))}))
    except OSError:
        return platform.processor() + platform.machine()


def build(source: Path, cache_dir: Path, compiler: str) -> Path:
    """Compile `source` into a shared library in `cache_dir` (atomically) unless an
    identical build is there already; returns its path. Raises on compiler errors."""
    key = hashlib.sha256()
    for part in (source.read_bytes(), jax.__version__.encode(), compiler.encode(),
                 " ".join(FLAGS).encode(), _cpu_fingerprint().encode()):
        key.update(part)
    target = cache_dir / f"{source.stem}-{key.hexdigest()[:16]}.so"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        built = Path(tmp) / target.name
        cmd = [compiler, *FLAGS, f"-I{jax.ffi.include_dir()}", str(source), "-o", str(built)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
        os.replace(built, target)
    return target


@functools.cache
def recurrent_kernels() -> bool:
    """Build and register the CPU LSTM and GRU kernels once per process; False (with a
    warning) where that is impossible, so callers fall back to the pure-JAX recurrence."""
    if os.environ.get("FJAX_CPU_KERNELS", "1") == "0":
        return False
    compiler = find_compiler()
    try:
        if compiler is None:
            raise RuntimeError("no C++ compiler found (set $CXX or install g++)")
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fjax" / "kernels"
        library = ctypes.cdll.LoadLibrary(str(build(SOURCE, cache, compiler)))
        for name, symbol in TARGETS.items():
            jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(library, symbol)),
                                        platform="cpu")
    except (OSError, RuntimeError) as error:
        warnings.warn(f"fjax: the CPU recurrent kernels are unavailable, so LSTMs and GRUs "
                      f"train with the slower pure-JAX scan ({error})", UserWarning,
                      stacklevel=2)
        return False
    return True


def kernel_state() -> str:
    """The CPU recurrent kernels in this process (environment.json; a CLI run is one
    process): loaded (LSTM and GRU layers on a CPU run them; on a GPU the layers' scans
    run), off, unavailable (the pure-JAX scans ran instead), or not loaded (no recurrent
    layer was traced)."""
    if os.environ.get("FJAX_CPU_KERNELS", "1") == "0":
        return "off (FJAX_CPU_KERNELS=0): pure-JAX scans"
    if not recurrent_kernels.cache_info().currsize:
        return "not loaded"
    return ("loaded" if recurrent_kernels()
            else "unavailable (no compiler or a failed build): pure-JAX scans")
