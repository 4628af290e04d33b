"""The gains table and Hosmer-Lemeshow test of credit's PD bands against hand-built
oracles (loops over bands, scipy's binomial pmf, the regularised gamma function)."""

import numpy as np
import pytest
from scipy.special import gammaincc
from scipy.stats import binom, chi2

from fjax.tasks.credit.bands import Gains, hosmer_lemeshow, pd_bands
from fjax.tasks.credit.report import band_tests_text, bands_lines


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
    line = " ".join(bands_lines(Gains(bands, hl)))
    assert "falls" not in line and "never rises" in line


def test_a_rejected_calibration_says_what_it_means_and_what_to_do():
    pd_ = np.repeat([0.05, 0.1, 0.2, 0.4], 50)
    y = (np.arange(200) % 2).astype(float)            # half bad at every PD: far off
    bands = pd_bands(pd_, y, bands=4)
    hl = hosmer_lemeshow(bands)
    assert hl["p_value"] < 0.05
    line = " ".join(bands_lines(Gains(bands, hl)))
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
    line = " ".join(bands_lines(Gains(bands, hl), used))
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
    line = " ".join(bands_lines(Gains(bands, hosmer_lemeshow(bands))))
    assert f"Binomial tests under 5%: {small} of the 4 bands, where 0.2 would be" in line
    assert "Bonferroni's level for 4 tests is 0.0125" in line


def test_three_applicants_get_no_hosmer_lemeshow_p_value_nor_band_tests():
    """`fjax score credit` on 3 labelled rows said 'Hosmer-Lemeshow 2.19 on 3 degrees of
    freedom, p = 0.535: calibration is not rejected', one applicant per band. By hand:
    expected bads 0.4, 0.3, 0.2 and goods 0.6, 0.7, 0.8, all six under 1 (Cochran's rule
    needs none under 1 and 80% at 5 or more), and pooled into one band still 0.9 and 2.1;
    a band of one at PD 0.2-0.4 reaches at best p = min(PD, 1 - PD) >= 0.2, so no
    binomial test can fall under 5%."""
    bands = pd_bands(np.array([0.2, 0.3, 0.4]), np.array([0, 0, 1.0]))
    hl = hosmer_lemeshow(bands)
    assert hl["statistic"] == pytest.approx(0.1**2 / (0.9 * 0.7)) and hl["dof"] == 1
    assert hl["p_value"] is None and hl["pooled"] == [[1, 2, 3]]
    assert hl["too_few"].startswith("3 applicants (1 bad(s)) in 3 bands expect 5 or more "
                                    "bads or goods in 0 of the 6 cells and under 1 in 6")
    assert hl["too_few"].endswith("Even all 3 bands pooled into one fail it: fewer than the "
                                  "3 bands Hosmer-Lemeshow needs")
    assert bands["binomial_p"].isna().all()
    line = " ".join(bands_lines(Gains(bands, hl)))
    assert "p = " not in line and "not rejected" not in line and "Cochran" in line
    assert "No band's binomial test is read" in line and "Binomial tests under" not in line


def hl_by_hand(pd_: np.ndarray, y: np.ndarray, groups: list[list[float]]) -> tuple:
    """HL in float64 over the rows whose PD lies in each group of PDs: sum over groups of
    (O - E)^2 / (E (1 - E / n)), and scipy's chi-squared survival on one df a group."""
    stat = 0.0
    for g in groups:
        rows = np.isin(pd_, g)
        o, e, n = y[rows].sum(), pd_[rows].sum(), rows.sum()
        stat += (o - e) ** 2 / (e * (1 - e / n))
    return stat, chi2.sf(stat, len(groups))


@pytest.mark.parametrize("pds, pooled", [
    # 9 of 10 expected counts >= 5, none under 1: nothing pooled (the default German run's
    # safest decile expects 4.7 bads, and is not pooled either)
    ([0.4, 0.3, 0.2, 0.15, 0.05], [[1], [2], [3], [4], [5]]),
    # expected bads 0.5 in the last band: under 1; pooled with its one neighbour, 8
    ([0.4, 0.3, 0.2, 0.15, 0.01], [[1], [2], [3], [4, 5]]),
    # 6 of 8 (75%) at 5 or more: the smallest, 2.5 bads, joins the 3 of band 3
    ([0.4, 0.3, 0.06, 0.05], [[1], [2], [3, 4]]),
    # the riskiest band expects 0.5 goods: it joins band 2
    ([0.99, 0.5, 0.3, 0.2], [[1, 2], [3], [4]])])
def test_hosmer_lemeshow_pools_adjacent_bands_until_cochrans_rule_holds(pds, pooled):
    """50 applicants a band, PDs exact (bads = round(50 PD)): where the expected bads and
    goods fail Cochran's rule, adjacent bands are pooled, smallest expected count first,
    until they meet it, and HL is read on the pooled bands (one df each): by hand in
    float64 over the rows of each pooled band, scipy's chi2.sf. Without pooling these
    tables gave no p-value at all."""
    pd_ = np.repeat(pds, 50)
    y = np.concatenate([np.arange(50) < round(50 * p + 0.4) for p in pds]).astype(float)
    bands = pd_bands(pd_, y, bands=len(pds))
    hl = hosmer_lemeshow(bands)
    riskiest_first = sorted(pds, reverse=True)
    stat, p = hl_by_hand(pd_, y, [[riskiest_first[b - 1] for b in g] for g in pooled])
    assert hl["statistic"] == pytest.approx(stat, rel=1e-12)
    assert hl["dof"] == len(pooled) and "too_few" not in hl
    assert hl["p_value"] == pytest.approx(p, rel=1e-9)
    assert hl.get("pooled", [[b] for b in range(1, len(pds) + 1)]) == pooled
    line = " ".join(bands_lines(Gains(bands, hl)))
    runs = [f"{g[0]}-{g[-1]}" for g in pooled if len(g) > 1]
    said = (f"on {len(pooled)} degrees of freedom (the {len(pds)} bands pooled into "
            f"{len(pooled)}: bands {runs[0]} as one, adjacent in PD order, so that" if runs
            else f"on {len(pooled)} degrees of freedom, p = ")
    assert said in line and ("pooled" in line) == bool(runs)
    assert f"p = {p:.3g}: calibration is" in line


def test_hosmer_lemeshow_pooled_into_fewer_than_three_bands_gives_no_p_value():
    """20 applicants at PDs 0.3, 0.2, 0.1 expect 6, 4, 2 bads (4 of 6 cells at 5 or more:
    under 80%); pooling the last two (6 bads, 34 goods) meets Cochran's rule, but two bands
    say nothing of the PDs' shape: no p-value, and why. The statistic by hand."""
    pds = [0.3, 0.2, 0.1]
    pd_ = np.repeat(pds, 20)
    y = np.concatenate([np.arange(20) < round(20 * p) for p in pds]).astype(float)
    bands = pd_bands(pd_, y, bands=3)
    hl = hosmer_lemeshow(bands)
    assert hl["pooled"] == [[1], [2, 3]] and hl["dof"] == 2 and hl["p_value"] is None
    assert hl["statistic"] == pytest.approx(hl_by_hand(pd_, y, [[0.3], [0.2, 0.1]])[0])
    assert hl["too_few"].endswith("in 4 of the 6 cells and under 1 in 0; the chi-squared "
                                  "approximation needs at least 80% of them 5 or more and "
                                  "none under 1 (Cochran's rule): about 5 expected bads and 5 "
                                  "goods in each band. Pooled (adjacent bands, in PD order) "
                                  "until they meet it, they make 2 band(s): fewer than the 3 bands "
                                  "Hosmer-Lemeshow needs")
    line = " ".join(bands_lines(Gains(bands, hl)))
    assert "p = " not in line and "no p-value and no verdict" in line


def test_a_band_too_small_to_reach_five_percent_is_not_tested():
    """A band of 1 at PD 0.04 can (1 bad: p = 0.04), one at 0.3 cannot (best p = 0.3); a
    band of 3 at 0.7 can (no bad: p = 0.027), one of 3 at 0.6 could not (best p = 0.064).
    Oracle: the exact test by scipy's pmf."""
    bands = pd_bands(np.array([0.04, 0.3, 0.7, 0.7, 0.7]), np.array([1, 0, 0, 0, 1.0]))
    assert list(bands["applicants"]) == [3, 1, 1]
    assert bands["binomial_p"][0] == pytest.approx(two_sided_binomial(1, 3, 0.7), rel=1e-9)
    assert np.isnan(bands["binomial_p"][1])
    assert bands["binomial_p"][2] == pytest.approx(0.04, rel=1e-9)
    text = band_tests_text(bands)
    assert "1 of the 2 bands large enough to fall under 5% (1 of the 3 hold too few" in text
    assert "Bonferroni's level for 2 tests is 0.025" in text
    assert np.isnan(pd_bands(np.full(3, 0.6), np.zeros(3))["binomial_p"][0])


def test_the_recalibration_line_says_which_fit_is_missing():
    """Separated PDs have no finite slope but a calibration-in-the-large; the line said "no
    finite fit" for both."""
    from fjax.tasks.credit.report import recalibration_line
    line = recalibration_line({"calibration_slope": None, "calibration_in_the_large": 0.25})
    assert "(slope no finite fit, calibration-in-the-large +0.250)" in line
    line = recalibration_line({"calibration_slope": 1.0457, "calibration_in_the_large": -0.002})
    assert "(slope 1.046, calibration-in-the-large -0.002)" in line
