"""Shared test setup: small sizes, CPU, deterministic.

The CPU is the default; `JAX_PLATFORMS=cuda,cpu JAX_DEFAULT_MATMUL_PRECISION=highest`
runs the suite on a GPU (true float32 matmuls, as the oracles' tolerances assume)."""

import atexit
import os
import re
import shutil
import signal
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TQDM_DISABLE", "1")
# The persistent compilation cache that runs turn on (the CLI in this process, scripts
# in subprocesses) starts empty, as on a fresh machine, and is deleted afterwards: the
# suite neither reads nor fills the user's cache. It is on from the start, as the CLI
# leaves it for the rest of the session: a test file run alone then loads, as in the whole
# suite, the programs its earlier tests compiled where jit's in-memory cache misses them
# (tests' own closures, subprocesses; equal fjax structures hit it since fe09f03);
# test_credit.py alone took 132 s with it off, 98 s on (measured before fe09f03).
os.environ["FJAX_CACHE_DIR"] = tempfile.mkdtemp(prefix="fjax-test-xla-")
atexit.register(shutil.rmtree, os.environ["FJAX_CACHE_DIR"], ignore_errors=True)

from fjax.runtime import enable_compilation_cache  # noqa: E402

enable_compilation_cache()


import pytest  # noqa: E402


def memory_maps() -> int:
    """How many memory maps this process holds (0 where /proc is absent)."""
    try:
        with open("/proc/self/maps") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return 0


@pytest.fixture(autouse=True)
def free_compiled_programs():
    """Drop jax's compiled programs once the process holds 20,000 memory maps. jit caches
    keep every executable alive, each with memory maps of its machine code: the whole
    suite in one process reached Linux's limit of 65,530 (`vm.max_map_count`) and 5.5 GB,
    after which XLA could not map new code and the process died (a segfault while
    unwinding the error)."""
    yield
    if memory_maps() > 20_000:
        import jax
        jax.clear_caches()


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


class Killed(BaseException):
    """A kill (SIGKILL, a power cut): unlike Ctrl-C, it runs no handler, so only the
    periodic checkpoints are left."""


@pytest.fixture
def run_killed_at(monkeypatch):
    """`run_killed_at(epoch, call, every_s=None, by=Killed)`: `call()` (a run) stopped
    `by` an exception (or a signal, raised) during `epoch`, after its log line and before
    its checkpoint (populations save every epoch with `every_s=0`). Returns what `call`
    returns where it handles the exception (the CLI's exit status after Ctrl-C); a
    `Killed` run must raise it, and gives None."""
    from fjax.report.callbacks import JsonlLogger
    from fjax.tasks import experiment

    logged = JsonlLogger.on_epoch_end

    def run(epoch, call, every_s=None, by=Killed):
        def killed(self, at, logs, loop):
            logged(self, at, logs, loop)
            if at == epoch and isinstance(by, signal.Signals):
                signal.raise_signal(by)
            elif at == epoch:
                raise by

        with monkeypatch.context() as m:
            if every_s is not None:
                m.setattr(experiment, "CHECKPOINT_EVERY_S", every_s)
            m.setattr(JsonlLogger, "on_epoch_end", killed)
            if by is Killed:
                with pytest.raises(Killed):
                    call()
                return None
            return call()

    return run


@pytest.fixture
def calls(monkeypatch):
    """Each task's `run` records (config, grid) instead of training."""
    from pathlib import Path

    from fjax.tasks import get_task
    seen = []

    def record(config, grid=None, **_):
        seen.append((config, dict(grid or {})))
        return Path(config.run_dir)

    for name in ("forecast", "credit", "fraud"):
        monkeypatch.setattr(get_task(name), "run", record)
    return seen


def undescribed_files(folder, report: str) -> list[str]:
    """The data files (csv, csv.gz, json, jsonl) at the top of a run folder that
    report.md's Files section does not name in backticks, and the figures (png) it does not
    show followed by a caption: a reader of the report should learn what every file the
    run wrote holds, and what to look for in each figure."""
    files = report[report.index("## Files"):]
    captioned = set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)\n\n[A-Za-z`]", report))
    return sorted(p.name for p in folder.iterdir()
                  if p.name.endswith((".csv", ".csv.gz", ".json", ".jsonl"))
                  and f"`{p.name}`" not in files
                  or p.name.endswith(".png") and p.name not in captioned)


@pytest.fixture
def undescribed():
    """`undescribed(folder)`: `undescribed_files` of the folder's own report.md."""
    return lambda folder: undescribed_files(folder, (folder / "report.md").read_text())


@pytest.fixture
def sweep_saved_grid(tmp_path, capsys):
    """`sweep_saved_grid(task, config, grid)`: `fjax sweep <task> --config` of a folder
    holding `config` (a config dataclass) and `grid` as grid.json, into a new folder;
    returns the exit status, stderr on one line and the output folder."""
    import json

    from fjax import cli
    from fjax.config import to_json

    def sweep(task: str, config, grid: dict):
        folder, out = tmp_path / "saved", tmp_path / "swept"
        folder.mkdir()
        (folder / "config.json").write_text(to_json(config))
        (folder / "grid.json").write_text(json.dumps(grid))
        status = cli.main(["sweep", task, "--config", str(folder / "config.json"),
                           "--out", str(out)])
        return status, " ".join(capsys.readouterr().err.split()), out
    return sweep


@pytest.fixture
def gains_by_hand():
    """`gains_by_hand(p, y)`: credit's gains table of PDs `p` and 0/1 bads `y` rebuilt
    independently (pandas' qcut into deciles, riskiest first; scipy's binomial test per
    band), the Hosmer-Lemeshow statistic over those bands by hand, and the expected bads
    and goods per band (Cochran's rule reads them)."""
    import numpy as np
    import pandas as pd
    import scipy.stats

    def rebuild(p, y):
        band, rows = pd.qcut(p, 10, labels=False), []
        for b in range(9, -1, -1):
            n, bads, mean = (band == b).sum(), y[band == b].sum(), p[band == b].mean()
            rows.append((n, bads, mean, scipy.stats.binomtest(int(bads), int(n), mean).pvalue))
        want = pd.DataFrame(rows, columns=["applicants", "bads", "mean_pd", "binomial_p"])
        expected = want["applicants"] * want["mean_pd"]
        stat = float(np.sum((want["bads"] - expected) ** 2 / (expected * (1 - want["mean_pd"]))))
        return want, stat, np.concatenate([expected, want["applicants"] - expected])
    return rebuild
