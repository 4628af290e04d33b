"""The gains table and Hosmer-Lemeshow test of credit's PD bands against hand-built
oracles (loops over bands, scipy's binomial pmf, the regularised gamma function)."""

import numpy as np
import pytest
from scipy.special import gammaincc
from scipy.stats import binom

from fjax.tasks.credit.bands import hosmer_lemeshow, pd_bands
from fjax.tasks.credit.report import bands_lines


def two_sided_binomial(k: int, n: int, p: float) -> float:
    """Sum of the outcomes no likelier than k (the exact two-sided test)."""
    pmf = binom.pmf(np.arange(n + 1), n, p)
    return float(min(1.0, pmf[pmf <= pmf[k] * (1 + 1e-7)].sum()))


def test_bands_counts_capture_binomial_and_hosmer_lemeshow_match_loops():
    rng = np.random.default_rng(0)
    levels = np.array([0.05, 0.1, 0.2, 0.4])          # four PDs, 50 applicants each
    pd_ = np.repeat(levels, 50)
    y = (rng.random(200) < pd_ * 1.3).astype(float)   # PDs too low: a real misfit
    bands = pd_bands(pd_, y, bands=4)
    assert list(bands["band"]) == [1, 2, 3, 4]
    stat, captured = 0.0, 0
    for row, p in zip(bands.itertuples(), levels[::-1]):   # riskiest first
        bads = int(y[pd_ == p].sum())
        captured += bads
        assert (row.applicants, row.bads, row.mean_pd) == (50, bads, pytest.approx(p))
        assert row.bad_capture == pytest.approx(captured / y.sum())
        assert row.binomial_p == pytest.approx(two_sided_binomial(bads, 50, p), rel=1e-9)
        stat += (bads - 50 * p) ** 2 / (50 * p * (1 - p))
    hl = hosmer_lemeshow(bands)
    assert hl["statistic"] == pytest.approx(stat, rel=1e-12)
    assert hl["dof"] == 4     # out-of-fold PDs: one degree of freedom per band
    assert hl["p_value"] == pytest.approx(gammaincc(2.0, stat / 2), rel=1e-9)


def test_tied_pds_share_a_band_and_inversions_are_counted():
    pd_ = np.array([0.1] * 6 + [0.3] * 3 + [0.6])
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 1.0])   # the 0.3 band has no bads: inverted
    bands = pd_bands(pd_, y, bands=10)
    assert list(bands["applicants"]) == [1, 3, 6]
    assert list(bands["bad_rate"]) == pytest.approx([1.0, 0.0, 2 / 6])
    assert hosmer_lemeshow(bands)["inversions"] == 1


def test_report_line_does_not_claim_a_strict_fall_over_tied_bad_rates():
    """Two bands with one bad rate (the default German run's bands 7 and 8) are no
    inversion, so the report must not say the rate falls band by band."""
    bands = pd_bands(np.array([0.1] * 4 + [0.3] * 4), np.array([0, 1, 0, 0, 0, 1, 0, 0.0]))
    assert list(bands["bad_rate"]) == [0.25, 0.25]
    hl = hosmer_lemeshow(bands)
    assert hl["inversions"] == 0
    line = " ".join(bands_lines(bands, hl))
    assert "falls" not in line and "never rises" in line


def test_a_rejected_calibration_says_what_it_means_and_what_to_do():
    pd_ = np.repeat([0.05, 0.1, 0.2, 0.4], 50)
    y = (np.arange(200) % 2).astype(float)            # half bad at every PD: far off
    bands = pd_bands(pd_, y, bands=4)
    hl = hosmer_lemeshow(bands)
    assert hl["p_value"] < 0.05
    line = " ".join(bands_lines(bands, hl))
    assert "rejected at 5%: " in line and "--scorecard.calibration" in line


@pytest.mark.parametrize("used, other", [("isotonic", "platt"), ("platt", "isotonic")])
def test_a_rejected_calibration_is_not_told_to_apply_the_calibration_it_had(used, other):
    """An isotonic-calibrated German run (--seeds 2) failed Hosmer-Lemeshow (19.33 on 10
    df, p = 0.036) and the report advised `--scorecard.calibration platt` or `isotonic`:
    the second is what it already ran."""
    pd_ = np.repeat([0.05, 0.1, 0.2, 0.4], 50)
    y = (np.arange(200) % 2).astype(float)
    bands = pd_bands(pd_, y, bands=4)
    hl = hosmer_lemeshow(bands)
    line = " ".join(bands_lines(bands, hl, used))
    assert f"after the cross-fitted {used} calibration" in line
    assert f"--scorecard.calibration {other}`" in line
    assert f"--scorecard.calibration {used}" not in line and f"or `{used}`" not in line


def test_the_report_counts_small_band_p_values_against_chance():
    """A validator reading ten binomial p-values wants the multiplicity stated: the MLP
    German run (10 epochs) had band 2 at p = 0.020 and no word that 0.5 of ten bands fall
    under 5% by chance alone. The count is checked against scipy's exact two-sided test."""
    levels = np.array([0.05, 0.1, 0.2, 0.4])
    pd_ = np.repeat(levels, 50)
    bads = [10, 5, 10, 20]                 # 10 bads at a PD of 0.05: far off; others exact
    y = np.concatenate([np.arange(50) < k for k in bads]).astype(float)
    bands = pd_bands(pd_, y, bands=4)
    small = sum(two_sided_binomial(k, 50, p) < 0.05 for k, p in zip(bads, levels))
    assert small == 1
    line = " ".join(bands_lines(bands, hosmer_lemeshow(bands)))
    assert f"Binomial tests under 5%: {small} of the 4 bands, where 0.2 would be" in line
    assert "Bonferroni's level for 4 tests is 0.0125" in line
