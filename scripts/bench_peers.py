"""The PyTorch and Keras peers of the reference model (../shared/peers), run here as
subprocesses so their figures come from the same run and machine as fjax's.

`run_peer(args)` runs one peer script and returns its last JSON line (None when the
peers venv is missing); `SECTIONS["peers"]` is the section of `bench.py`.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# glibc returns freed memory to the OS by default, which makes every framework's epoch
# time bimodal here (see ../shared/peers/README.md); all processes run with these.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296",
              "MALLOC_TOP_PAD_": "1073741824"}
PEERS_DIR = (HERE / ".." / ".." / "shared" / "peers").resolve()


def peers_data() -> Path:
    """The peers' S&P 500 CSV, unpacked once outside ../shared (which may be read-only)."""
    target = Path(tempfile.gettempdir()) / "fjax-peers-sp500.csv"
    if not target.exists():
        source = PEERS_DIR.parent / "data" / "sp500.csv.gz"
        target.write_bytes(gzip.decompress(source.read_bytes()))
    return target


def peers_python() -> Path | None:
    """The peers venv's python, or None where it (or ../shared/peers) is missing."""
    venv = Path(os.environ.get("PEERS_VENV", Path.home() / ".cache" / "peers-venv"))
    python = venv / "bin" / "python"
    return python if python.exists() and PEERS_DIR.exists() else None


def run_peer(args: list[str]) -> dict | None:
    """Run one peer script (e.g. ["torch_sweep.py", "--epochs", "2"]) with the MALLOC_*
    settings; its result line, or None without the peers venv. Raises on failure."""
    python = peers_python()
    if python is None:
        return None
    proc = subprocess.run([str(python), *args, "--data", str(peers_data())], cwd=PEERS_DIR,
                          env={**os.environ, **MALLOC_ENV}, capture_output=True, text=True)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1][:120] if proc.stderr else ""
        raise RuntimeError(f"{args[0]} failed: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def skipped(bench: str) -> list[dict]:
    """The one row of a section that needs the peers, where their venv is missing."""
    return [{"bench": bench, "metric": "skipped", "value": float("nan"),
             "note": f"no peers venv; run {PEERS_DIR}/setup.sh"}]


def torch_sweep_args(lrs, seeds, epochs: int) -> list[str]:
    """The PyTorch sweep of lrs x seeds, one member after another."""
    return ["torch_sweep.py", "--epochs", str(epochs), "--skip", "vmap", "--quiet",
            "--lrs", *map(str, lrs), "--seeds", *map(str, seeds)]


def peer_rows(quick: bool) -> list[dict]:
    """PyTorch and Keras-on-JAX peers of the reference model, run here and now (the
    PyTorch sweeps are in `lstm_sweep_processes`, beside fjax's)."""
    if peers_python() is None:
        return skipped("peers")
    epochs = "3" if quick else "5"
    runs = [("PyTorch nn.LSTM", ["torch_lstm.py", "--epochs", epochs, "--quiet"]),
            ("Keras 3 on JAX", ["keras_lstm.py", "--backend", "jax", "--epochs", epochs])]
    rows = []
    for name, args in runs:
        try:
            result = run_peer(args)
        except RuntimeError as error:
            rows.append({"bench": "peers", "metric": f"{name}: failed", "value": float("nan"),
                         "note": str(error)})
            continue
        rows.append({"bench": "peers", "metric": f"{name}: s/epoch",
                     "value": result["s_per_epoch_median_after_first"]})
        rows.append({"bench": "peers", "metric": f"{name}: test RMSE / naive RMSE",
                     "value": result.get("rmse_over_naive", float("nan"))})
    return rows


SECTIONS = {"peers": peer_rows}


if __name__ == "__main__":
    from bench import main
    raise SystemExit(main(sections=SECTIONS))
