"""fjax benchmarks: everything measured side by side in one run, one table at the end.

    python scripts/bench.py                    # every section, real sizes
    python scripts/bench.py --quick            # smaller, for a smoke run
    python scripts/bench.py --only reference_lstm,peers --json bench.json

Sections live in scripts/bench_<area>.py as SECTIONS = {name: fn(quick) -> rows}. The
`peers` section runs the PyTorch and Keras versions of the reference model from
../shared/peers (set up with ../shared/peers/setup.sh) in subprocesses on this machine,
so their ratios to fjax come from the same run. Timings are medians; the machine is
noisy, so compare ratios, not absolute seconds from different runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

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


def peer_rows(quick: bool) -> list[dict]:
    """PyTorch and Keras-on-JAX peers of the reference model, run here and now."""
    venv = Path(os.environ.get("PEERS_VENV", Path.home() / ".cache" / "peers-venv"))
    python = venv / "bin" / "python"
    if not python.exists() or not PEERS_DIR.exists():
        return [{"bench": "peers", "metric": "skipped", "value": float("nan"),
                 "note": f"no peers venv at {venv}; run {PEERS_DIR}/setup.sh"}]
    epochs = "3" if quick else "5"
    runs = [("PyTorch nn.LSTM", ["torch_lstm.py", "--epochs", epochs, "--quiet"]),
            ("Keras 3 on JAX", ["keras_lstm.py", "--backend", "jax", "--epochs", epochs])]
    if not quick:
        runs.append(("PyTorch sweep, 16 members one by one, 2 epochs",
                     ["torch_sweep.py", "--epochs", "2", "--skip", "vmap", "--quiet"]))
        runs.append(("PyTorch sweep, 64 members one by one, 2 epochs",
                     ["torch_sweep.py", "--epochs", "2", "--skip", "vmap", "--quiet",
                      "--seeds", *map(str, range(16))]))
    rows = []
    for name, args in runs:
        env = {**os.environ, **MALLOC_ENV}
        proc = subprocess.run([str(python), *args, "--data", str(peers_data())],
                              cwd=PEERS_DIR, env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            rows.append({"bench": "peers", "metric": f"{name}: failed", "value": float("nan"),
                         "note": proc.stderr.strip().splitlines()[-1][:120] if proc.stderr else ""})
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if "s_per_epoch_median_after_first" in result:
            rows.append({"bench": "peers", "metric": f"{name}: s/epoch",
                         "value": result["s_per_epoch_median_after_first"]})
            rows.append({"bench": "peers", "metric": f"{name}: test RMSE / naive RMSE",
                         "value": result.get("rmse_over_naive", float("nan"))})
        if "sequential_total_s" in result:
            rows.append({"bench": "peers", "metric": f"{name}: total s",
                         "value": result["sequential_total_s"]})
    return rows


def all_sections() -> dict:
    sections = {}
    for module in sorted(HERE.glob("bench_*.py")):
        mod = __import__(module.stem)
        sections.update(getattr(mod, "SECTIONS", {}))
    sections["peers"] = peer_rows
    return sections


def print_table(rows: list[dict]) -> None:
    width = max(len(f"{r['bench']}: {r['metric']}") for r in rows)
    print()
    for r in rows:
        value = r["value"]
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        note = f"  ({r['note']})" if r.get("note") else ""
        print(f"{r['bench'] + ': ' + r['metric']:<{width}}  {text:>10}{note}")


def main(argv=None) -> int:
    if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_ENV})
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", default="", help="comma-separated section names")
    parser.add_argument("--json", default="", help="also write the rows to this file")
    args = parser.parse_args(argv)

    from fjax.runtime import machine_summary
    sections = all_sections()
    chosen = [s for s in args.only.split(",") if s] or list(sections)
    unknown = set(chosen) - set(sections)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {sorted(sections)}")
    rows = [{"bench": "machine", "metric": k, "value": v} for k, v in machine_summary().items()]
    rows.append({"bench": "machine", "metric": "date", "value": time.strftime("%Y-%m-%d %H:%M")})
    for name in chosen:
        t = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        rows += sections[name](args.quick)
        print(f"[bench] {name} done in {time.perf_counter() - t:.1f}s", file=sys.stderr, flush=True)
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
