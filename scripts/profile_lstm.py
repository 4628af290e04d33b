"""Where an epoch of the reference LSTM spends its time: per-operation totals from a
`jax.profiler` trace of one `fit` epoch, or of a population's epochs per member-epoch.

    python scripts/profile_lstm.py                  # one fit epoch
    python scripts/profile_lstm.py --members 4      # a 4-member population (2 epochs)

The operation names are XLA's (`ffi_call.N` are fjax's C++ LSTM kernels). Compilation
is kept out of the trace: the same run is made once before it is traced. XLA:CPU runs
large dots asynchronously: a `dot_general` event covers only its launch, and its work
shows as time in no operation ("outside every operation" below; operations on the two
threads overlap, so the lines need not add up to the epoch).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import tempfile
from pathlib import Path

import jax

from bench_core import SWEEP_LRS, reference_problem
from fjax.config import OptimConfig, TrainConfig
from fjax.optim import build_optimizer
from fjax.train import fit, init_member, train_population


def op_totals(trace_dir: Path) -> tuple[collections.Counter, float]:
    """Microseconds per operation name in the perfetto trace under `trace_dir`, and the
    microseconds between the first and the last operation during which none ran. XLA's
    operations are the events that name an `hlo_op`; Python frames, the executor and the
    thread pool's events do not."""
    path = next(trace_dir.glob("**/*.trace.json.gz"))
    totals, spans = collections.Counter(), []
    for event in json.load(gzip.open(path))["traceEvents"]:
        if event.get("ph") == "X" and "hlo_op" in event.get("args", {}):
            totals[event["name"]] += event["dur"]
            spans.append((event["ts"], event["ts"] + event["dur"]))
    if not spans:
        raise SystemExit(f"no XLA operations in the trace {path}")
    spans.sort()
    idle, reached = 0.0, spans[0][1]
    for start, end in spans[1:]:
        idle += max(0.0, start - reached)
        reached = max(reached, end)
    return totals, idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=0,
                        help="population size (a multiple of 4); 0 profiles one fit epoch")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.members < 0 or args.members % len(SWEEP_LRS):
        parser.error(f"--members must be 0 or a multiple of {len(SWEEP_LRS)} (the learning "
                     f"rates {SWEEP_LRS} x seeds), got {args.members}")
    epochs = 2 if args.members else 1
    _, data, loss, init, _, steps = reference_problem(epochs)
    train = TrainConfig(epochs=epochs, batch_size=64)
    optim = OptimConfig(name="adam", learning_rate=1e-3)

    def run():
        if args.members:
            return train_population(loss, init, data, optim=optim, train=train,
                                    hparams={"learning_rate": SWEEP_LRS},
                                    seeds=list(range(args.members // len(SWEEP_LRS))),
                                    callbacks=())
        state = init_member(init, build_optimizer(optim, steps), 0)
        return fit(state, loss, data, config=train, callbacks=())

    run()   # compile outside the trace
    with tempfile.TemporaryDirectory() as trace_dir:
        jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
        result = run()
        jax.profiler.stop_trace()
        totals, idle = op_totals(Path(trace_dir))
    member_epochs = max(args.members, 1) * epochs
    print(f"epochs (s): {[round(e, 3) for e in result.epoch_s]}; "
          f"ms per member-epoch below ({member_epochs} member-epochs traced)")
    print(f"{'all operations':60s} {sum(totals.values()) / 1e3 / member_epochs:8.2f}")
    print(f"{'outside every operation (asynchronous dots, the executor)':60s} "
          f"{idle / 1e3 / member_epochs:8.2f}")
    for name, us in totals.most_common(args.top):
        print(f"{name[:60]:60s} {us / 1e3 / member_epochs:8.2f}")


if __name__ == "__main__":
    main()
