"""Whole-number codes (a 3-digit zip, a region code) read as numbers become one linear
term; a credit run warns, naming the column and the fix, and says so in the report."""

import dataclasses
import warnings

import numpy as np

from fjax.config import TrainConfig
from fjax.datasets import load_dataset
from fjax.tasks.credit import Config, CreditDataConfig
from fjax.tasks.credit.data import load, name_words
from fjax.tasks.credit.run import report_notes

N = 120


def book(tmp_path, **columns):
    frame = load_dataset("german_credit").sample(N, random_state=2).reset_index(drop=True)
    for name, values in columns.items():
        frame[name] = values
    path = tmp_path / "book.csv"
    frame.to_csv(path, index=False)
    return path


def config(path, **data):
    return Config(data=CreditDataConfig(path=str(path), **data),
                  sweep=Config().sweep.__class__(folds=3),
                  train=TrainConfig(epochs=2, batch_size=64, restore_best=False))


def loaded(cfg):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load(cfg)
    return data, [str(w.message) for w in caught]


def test_name_words_split_at_separators_and_camel_case():
    assert name_words("zip3") == ["zip3"]
    assert name_words("BranchID") == ["branch", "id"]
    assert name_words("region-code 2") == ["region", "code", "2"]


def test_a_zip_code_read_as_numbers_is_named_with_the_fix(tmp_path):
    rng = np.random.default_rng(0)
    zips = rng.integers(100, 999, N)                       # hundreds of 3-digit codes
    path = book(tmp_path, zip3=zips, BranchID=rng.integers(1, 9, N),
                loan_count=rng.integers(0, 9, N), home_zip_flag=rng.integers(0, 2, N))
    data, said = loaded(config(path))
    assert data.coded_numbers == ("zip3", "BranchID")
    assert "zip3" in data.schema.numeric                  # still scored as given: a warning
    assert any("'zip3' holds whole numbers" in s and "--data.categorical zip3" in s
               for s in said)
    assert not any("loan_count" in s or "home_zip_flag" in s for s in said)
    notes = report_notes(config(path), 3, 1, 1, coded=data.coded_numbers)
    assert any("--data.categorical BranchID" in n for n in notes)


def test_declared_columns_and_fractions_are_not_codes(tmp_path):
    rng = np.random.default_rng(1)
    path = book(tmp_path, zip3=rng.integers(100, 999, N),
                region_score=rng.normal(size=N).round(3))       # a measurement
    for data_cfg in ({"categorical": ("zip3",)}, {"numeric": ("zip3",)}):
        data, said = loaded(config(path, **data_cfg))
        assert data.coded_numbers == () and not any("whole numbers" in s for s in said)
    assert loaded(config(book(tmp_path, region_score=rng.normal(size=N))))[0].coded_numbers \
        == ()


def test_german_credit_has_no_coded_numbers():
    data, said = loaded(dataclasses.replace(Config(), sweep=Config().sweep.__class__(folds=3)))
    assert data.coded_numbers == () and not any("whole numbers" in s for s in said)
