"""Population sizes on an accelerator: how per-member throughput grows with the number of
reference LSTMs trained at once, whether a GPU learns what the CPU learns, how many
recurrence steps each iteration of the layers' `lax.scan` should run, which form of
the weight gradients is faster, and where the LSTM's backward scan should compute its
activation derivatives.

    python scripts/bench.py --only matmul_precisions,population_sizes,gpu_matches_cpu
    python scripts/bench.py --only scan_unroll,weight_gradient_forms,gate_derivative_forms

On a GPU, `population_sizes` trains 1, 16, 64, 256 and 1,024 members (4 learning rates x
seeds); a CPU, where members train one at a time, gets 1, 16 and 64 (`--quick`: 1, 4, 16).
Each achieved FLOP/s is set against the matmul throughput measured in the same process
at the precision training uses (the one in force; XLA's default for float32 is TF32 on
NVIDIA GPUs).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys

import jax
import numpy as np

from fjax.config import OptimConfig
from fjax.models import recurrence
from fjax.optim import build_optimizer
from fjax.runtime import default_platform
from fjax.train import fit, init_member, train_population

from bench_core import (SWEEP_LRS, epoch_flops, in_new_process, matmul_gflops,
                        reference_problem)

EPOCHS = 4   # the first compiles; s/epoch is the median of the other three


def on_accelerator() -> bool:
    return default_platform() != "cpu"


def matmul_ceiling(precision: str | None = None) -> float:
    """fp32 matmul GFLOP/s on a size that fills the device, at `precision` (None: the
    precision in force, which training uses: XLA's default is TF32 on NVIDIA GPUs)."""
    return matmul_gflops(8192 if on_accelerator() else 2048, precision=precision)


def matmul_precisions(quick: bool) -> list[dict]:
    """The matmul ceilings at the precision in force and at "highest" (true fp32)."""
    return [{"bench": "matmul ceiling", "metric": f"fp32 matmul GFLOP/s, precision {name}",
             "value": matmul_ceiling(p)} for name, p in (("in force", None),
                                                         ("highest", "highest"))]


def population_sizes(quick: bool) -> list[dict]:
    """Per-member throughput of the reference LSTM as a population of 1 to 1,024 members
    (`train_population`'s automatic lift, and chunks of a quarter at 256 and up), against
    one member trained with `fit` in the same process."""
    peak = matmul_ceiling()
    _, data, loss, init, train, steps = reference_problem(EPOCHS)
    flops = epoch_flops(data)
    optim = OptimConfig(name="adam", learning_rate=1e-3)
    one = fit(init_member(init, build_optimizer(optim, steps), 0), loss, data, config=train,
              callbacks=())
    one_epoch = statistics.median(one.epoch_s[1:])
    bench = f"reference LSTM population on {jax.devices()[0].device_kind}"
    rows = [{"bench": bench, "metric": "one member with fit: s/epoch", "value": one_epoch,
             "note": f"compile {one.compile_s:.1f} s; {flops / one_epoch / peak / 1e9:.2%} "
                     f"of the matmul ceiling measured here, {peak:.0f} GFLOP/s"}]
    if quick:
        sizes = (1, 4, 16)
    else:
        sizes = (1, 16, 64, 256, 1024) if on_accelerator() else (1, 16, 64)
    for members in sizes:
        lrs = [1e-3] if members == 1 else SWEEP_LRS
        seeds = list(range(members // len(lrs)))
        for chunk in (None, members // 4) if members >= 256 else (None,):
            pop = train_population(loss, init, data, optim=optim, hparams={"learning_rate": lrs},
                                   train=dataclasses.replace(train, member_chunk=chunk),
                                   seeds=seeds, callbacks=())
            epoch = statistics.median(pop.epoch_s[1:])
            achieved = members * flops / epoch / 1e9
            final = np.asarray(pop.history[-1]["loss"])
            label = (f"{members} member{'s' if members > 1 else ''}, "
                     + ("automatic lift" if chunk is None else f"chunks of {chunk}"))
            print(f"[population_sizes] {label}: {epoch:.3f} s/epoch, compile "
                  f"{pop.compile_s:.1f} s", file=sys.stderr, flush=True)
            rows += [
                {"bench": bench, "metric": f"{label}: s/epoch", "value": epoch,
                 "note": f"compile {pop.compile_s:.1f} s"},
                {"bench": bench, "metric": f"{label}: member-epochs/s", "value": members / epoch},
                {"bench": bench, "metric": f"{label}: per-member throughput vs one with fit",
                 "value": members * one_epoch / epoch},
                {"bench": bench, "metric": f"{label}: fraction of the matmul ceiling",
                 "value": achieved / peak, "note": f"{achieved:.0f} GFLOP/s; "
                 f"{int(np.isfinite(final).sum())} of {members} members finite"},
            ]
    return rows


def gpu_matches_cpu(quick: bool) -> list[dict]:
    """One reference LSTM trained from the same start on the accelerator and on the host
    CPU (where the recurrence runs fjax's C++ kernel, on the accelerator a `lax.scan`):
    the largest relative difference of the per-epoch training losses, at XLA's default
    matmul precision and at "highest"."""
    bench = "reference LSTM, accelerator vs host CPU"
    if not on_accelerator():
        return [{"bench": bench, "metric": "skipped", "value": float("nan"),
                 "note": "no accelerator"}]
    epochs = 2 if quick else 3
    _, data, loss, init, train, steps = reference_problem(epochs)
    tx = build_optimizer(OptimConfig(name="adam", learning_rate=1e-3), steps)

    def losses(device, precision) -> np.ndarray:
        with jax.default_device(device), jax.default_matmul_precision(precision):
            result = fit(init_member(init, tx, 0), loss, data, config=train, callbacks=())
        return np.array([float(h["loss"]) for h in result.history])

    cpu = losses(jax.devices("cpu")[0], "highest")
    rows = []
    for precision in ("default", "highest"):
        ours = losses(jax.devices()[0], precision)
        gap = np.max(np.abs(ours - cpu) / np.abs(cpu))
        rows.append({"bench": bench, "metric": f"largest relative loss gap over {epochs} "
                     f"epochs, precision {precision}", "value": float(gap),
                     "note": "losses " + " / ".join(f"{a:.4g} vs {b:.4g}"
                                                    for a, b in zip(ours, cpu))})
    return rows


def variant_in_new_process(members: int, setting: str, value) -> dict:
    """The reference LSTM (`fit` for one member, else a population) trained in a fresh
    process whose `recurrence.<setting>` (SCAN_UNROLL, WEIGHT_GRADIENTS or
    GATE_DERIVATIVES) is `value` on every platform (FJAX_CPU_KERNELS=0: no C++ kernel on
    a CPU, for the two that only the scans read); its s/epoch (median of epochs 2-4),
    compile time and final loss."""
    env = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    if setting in ("SCAN_UNROLL", "GATE_DERIVATIVES"):
        env["FJAX_CPU_KERNELS"] = "0"
    return in_new_process(__file__, "variant", members, setting, json.dumps(value), env=env)


def _variant_main(members: int, setting: str, value) -> None:
    setattr(recurrence, setting, dict.fromkeys(getattr(recurrence, setting), value))
    _, data, loss, init, train, steps = reference_problem(EPOCHS)
    optim = OptimConfig(name="adam", learning_rate=1e-3)
    if members == 1:
        result = fit(init_member(init, build_optimizer(optim, steps), 0), loss, data,
                     config=train, callbacks=())
    else:
        result = train_population(loss, init, data, optim=optim,
                                  hparams={"learning_rate": SWEEP_LRS}, train=train,
                                  seeds=list(range(members // len(SWEEP_LRS))), callbacks=())
    print(json.dumps({"epoch_s": statistics.median(result.epoch_s[1:]),
                      "compile_s": result.compile_s,
                      "final_loss": np.asarray(result.history[-1]["loss"]).tolist()}))


def scan_unroll(quick: bool) -> list[dict]:
    """Recurrence steps per iteration of the layers' `lax.scan` (`SCAN_UNROLL`), each in
    a fresh process. On an accelerator: one reference LSTM at 1, 2, 4, 8 and 16 steps,
    and 256 members at 1, 4, 8 and 16. On a CPU the scan is only the fallback where the
    C++ kernel is missing: one member at 1, 2 and 4 steps (`--quick`: 1 and 4 steps,
    one member, everywhere)."""
    if on_accelerator():
        grid = [(1, u) for u in ((1, 4) if quick else (1, 2, 4, 8, 16))]
        grid += [] if quick else [(256, u) for u in (1, 4, 8, 16)]
    else:
        grid = [(1, u) for u in ((1, 4) if quick else (1, 2, 4))]
    bench = f"reference LSTM, lax.scan steps per iteration, on {jax.devices()[0].device_kind}"
    times, rows = {}, []
    for members, unroll in grid:
        result = variant_in_new_process(members, "SCAN_UNROLL", unroll)
        times[members, unroll] = result["epoch_s"]
        label = f"{members} member{'s' if members > 1 else ''}, unroll {unroll}"
        rows.append({"bench": bench, "metric": f"{label}: s/epoch", "value": result["epoch_s"],
                     "note": f"compile {result['compile_s']:.1f} s"})
        if unroll > 1:
            rows.append({"bench": bench, "metric": f"{label}: faster than unroll 1 by",
                         "value": times[members, 1] / result["epoch_s"]})
    return rows


def compare_forms(quick: bool, setting: str, what: str, base: str, other: str) -> list[dict]:
    """Two values of `recurrence.<setting>` (`base`, `other`), each in a fresh process
    (`variant_in_new_process`): one reference LSTM with `fit`, and on an accelerator 256
    members (not with `quick`); s/epoch of each, how much faster `other` is, and the
    largest gap between their final losses (both train the same members, the same seeds)."""
    sizes = (1,) if quick or not on_accelerator() else (1, 256)
    bench = f"reference LSTM, {what}, on {jax.devices()[0].device_kind}"
    rows = []
    for members in sizes:
        label = f"{members} member{'s' if members > 1 else ''}"
        found = {form: variant_in_new_process(members, setting, form) for form in (base, other)}
        for form, result in found.items():
            rows.append({"bench": bench, "metric": f"{label}, {form}: s/epoch",
                         "value": result["epoch_s"],
                         "note": f"compile {result['compile_s']:.1f} s"})
        gap = np.max(np.abs(np.subtract(found[other]["final_loss"], found[base]["final_loss"])))
        rows.append({"bench": bench, "metric": f"{label}: {other} faster than {base} by",
                     "value": found[base]["epoch_s"] / found[other]["epoch_s"],
                     "note": f"largest final-loss gap {gap:.2g}"})
    return rows


def weight_gradient_forms(quick: bool) -> list[dict]:
    """The recurrent layers' weight gradients as one matmul over [x_t | h_{t-1}]
    ("stacked") or two matmuls without the concatenation ("split"), `WEIGHT_GRADIENTS`."""
    return compare_forms(quick, "WEIGHT_GRADIENTS", "weight gradient forms", "stacked",
                         "split")


def gate_derivative_forms(quick: bool) -> list[dict]:
    """Where the LSTM's backward scan computes the activations' derivatives, for all steps
    before it ("hoisted") or inside each step ("per_step"), `GATE_DERIVATIVES` (on a CPU
    without the C++ kernel, so the scan runs)."""
    return compare_forms(quick, "GATE_DERIVATIVES", "gate derivative forms", "hoisted",
                         "per_step")


SECTIONS = {
    "matmul_precisions": matmul_precisions,
    "population_sizes": population_sizes,
    "gpu_matches_cpu": gpu_matches_cpu,
    "scan_unroll": scan_unroll,
    "weight_gradient_forms": weight_gradient_forms,
    "gate_derivative_forms": gate_derivative_forms,
}


if __name__ == "__main__" and sys.argv[1:2] == ["variant"]:
    _variant_main(int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]))
elif __name__ == "__main__":
    from bench import main
    raise SystemExit(main(sections=SECTIONS))
