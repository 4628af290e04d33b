"""The experiment scripts report bad input as the CLI does: one line naming the problem,
exit status 2, no traceback."""

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.mark.parametrize("script", ["forecast_sp500.py", "credit_german.py",
                                    "fraud_detection.py"])
def test_a_missing_data_file_is_one_line_and_status_2(script, tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nowhere.csv"
    monkeypatch.setattr(sys, "argv", [script, "--data.path", str(missing),
                                      "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(SCRIPTS / script), run_name="__main__")
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"{script}: error: ") and str(missing) in err[-1]
    assert not any("Traceback" in line for line in err)


def test_a_flag_for_a_swept_field_fixes_it_in_the_credit_script():
    """--optim.learning-rate 0.05 was recorded in config.json while the script's grid
    trained 1e-3 and 3e-3 and reported one of them; a flag equal to a default counts."""
    script = runpy.run_path(str(SCRIPTS / "credit_german.py"))
    grid_for = script["grid_for"]
    assert grid_for([]) == script["GRID"]
    assert set(grid_for(["--optim.learning-rate", "0.05", "--model", "mlp"])) == \
        {"optim.weight_decay"}
    assert set(grid_for(["--optim.weight_decay=0.003", "--model.kind", "logistic"])) == \
        {"optim.learning_rate"}


def test_torch_peer_without_torch_or_the_peers_says_so_in_one_line(tmp_path):
    """torch_peer.py run with a python lacking PyTorch (or outside ../shared/peers) named
    what was missing in a traceback; it says so in one line and fails."""
    script = SCRIPTS.parent / "scripts" / "torch_peer.py"
    proc = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("torch_peer.py: ")
    assert ("PyTorch is not installed" in proc.stderr) or "no common.py" in proc.stderr


def test_the_scan_variant_of_the_reference_model_compiles_its_own_program(monkeypatch):
    """bench_core's "fjax-scan" variant built a loss equal to the kernel variant's, so `fit`
    reused the kernel's compiled program (compile 0 s, the same final loss): the lax.scan
    rows of `reference_lstm` timed the C++ kernel."""
    monkeypatch.syspath_prepend(str(SCRIPTS.parent / "scripts"))
    import bench_core
    kernel, scan = (bench_core.reference_problem(1, variant)[2] for variant in
                    ("fjax", "fjax-scan"))
    assert kernel == bench_core.reference_problem(1, "fjax")[2]
    assert scan != kernel


@pytest.mark.parametrize("script", ["bench_accelerator.py", "bench_core.py", "bench_credit.py",
                                    "bench_fraud.py", "bench_lstm_steps.py", "bench_peers.py"])
def test_a_bench_module_run_as_a_script_runs_its_sections(script):
    """`python scripts/bench_fraud.py` (or --help) printed nothing and exited 0; it is now
    bench.py over that module's sections."""
    proc = subprocess.run([sys.executable, str(SCRIPTS.parent / "scripts" / script), "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: {script} [-h] [--quick]")
