"""fjax benchmarks: everything measured side by side in one run, one table at the end.

    python scripts/bench.py                    # every section, real sizes
    python scripts/bench.py --quick            # smaller, for a smoke run
    python scripts/bench.py --only reference_lstm,peers --json bench.json

Sections live in scripts/bench_<area>.py as SECTIONS = {name: fn(quick) -> rows}. The
PyTorch and Keras versions of the reference model from ../shared/peers (set up with
../shared/peers/setup.sh) run in subprocesses on this machine (`bench_peers.py`; the
`peers`, `reference_vs_pytorch`, `gru_vs_pytorch`, `loss_vs_pytorch` and
`lstm_sweep_processes` sections), so their ratios to fjax come from the same run.
Timings are medians; the machine is noisy, so compare ratios, not absolute seconds from
different runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_peers import MALLOC_ENV  # noqa: E402

PEER_THREADS = 2   # the peers' default `--threads` (../shared/peers/torch_*.py)


def all_sections() -> dict:
    sections = {}
    for module in sorted(HERE.glob("bench_*.py")):
        mod = __import__(module.stem)
        sections.update(getattr(mod, "SECTIONS", {}))
    return sections


def print_table(rows: list[dict]) -> None:
    width = max(len(f"{r['bench']}: {r['metric']}") for r in rows)
    print()
    for r in rows:
        value = r["value"]
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        note = f"  ({r['note']})" if r.get("note") else ""
        print(f"{r['bench'] + ': ' + r['metric']:<{width}}  {text:>10}{note}")


def main(argv=None, sections: dict | None = None) -> int:
    """bench.py's sections (`sections`: a bench_<area>.py's own, run as a script; default
    every module's), or those `--only` names, as one table."""
    if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_ENV})
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", default="", help="comma-separated section names")
    parser.add_argument("--json", default="", help="also write the rows to this file")
    args = parser.parse_args(argv)

    from fjax.runtime import machine_summary
    sections = sections or all_sections()
    chosen = [s for s in args.only.split(",") if s] or list(sections)
    unknown = set(chosen) - set(sections)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {sorted(sections)}")
    rows = [{"bench": "machine", "metric": k, "value": v} for k, v in machine_summary().items()]
    rows.append({"bench": "machine", "metric": "date", "value": time.strftime("%Y-%m-%d %H:%M")})
    cores = len(os.sched_getaffinity(0))
    if cores != PEER_THREADS:
        print(f"[bench] warning: the PyTorch and Keras peers run with {PEER_THREADS} threads "
              f"but fjax's XLA uses the {cores} cores this process may use; for a fair "
              f"comparison run `taskset -c 0-{PEER_THREADS - 1} python scripts/bench.py ...`",
              file=sys.stderr, flush=True)
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
