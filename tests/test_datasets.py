import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fjax.datasets import DATA_DIR, load_dataset, read_csv, read_table, table_header

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_sp500_is_typed_and_sorted():
    df = load_dataset("sp500")
    assert len(df) == 5031
    assert pd.api.types.is_datetime64_any_dtype(df["Date"])
    assert df["Date"].is_monotonic_increasing and df["Date"].is_unique
    assert df["Date"].iloc[0] == pd.Timestamp("1999-01-04")
    assert df["Close"].dtype == np.float64 and df["Volume"].dtype == np.int64


def test_german_credit_has_the_documented_shape():
    df = load_dataset("german_credit")
    assert df.shape == (1000, 21)
    assert (df.dtypes == "int64").sum() == 7
    assert sum(isinstance(t, pd.CategoricalDtype) for t in df.dtypes) == 14
    assert df["creditability"].value_counts().to_dict() == {"good": 700, "bad": 300}


# SHA-256 of the source files in ../shared/data (see DATA_LICENSES.md): the shipped
# copies must stay byte-identical to them.
SOURCE_SHA256 = {
    "sp500.csv.gz": "1e028cbb9c400cc018c816ccc439b33c919387e726c3ed5ca2c05c82746059de",
    "germancredit.csv": "2c0bae00275c028fc853a1ea72cc7a68002c3f6876c41300c5c948711540c8c6",
}


def test_embedded_files_are_byte_identical_to_the_sources():
    for name, digest in SOURCE_SHA256.items():
        assert hashlib.sha256((DATA_DIR / name).read_bytes()).hexdigest() == digest
        if (SHARED / name).exists():  # on a developer machine, check the source itself
            assert hashlib.sha256((SHARED / name).read_bytes()).hexdigest() == digest


def test_user_files_load_by_path(tmp_path):
    frame = pd.DataFrame({"day": ["2020-01-02", "2020-01-03"], "price": [1.5, 2.5]})
    frame.to_csv(tmp_path / "p.csv", index=False)
    frame.to_parquet(tmp_path / "p.parquet")
    for name in ("p.csv", "p.parquet"):
        df = load_dataset(tmp_path / name, date_column="day")
        assert pd.api.types.is_datetime64_any_dtype(df["day"])
        np.testing.assert_array_equal(df["price"], [1.5, 2.5])


def test_floats_are_read_back_bit_for_bit(tmp_path):
    """Random float64 values as pandas (shortest round trip) and numpy (17 digits) write
    them read back as the same bits, on every pandas (before 3.1 its fast parser misread
    one in seven by one ulp), and without pandas' deprecation warning where it reads
    them so by default."""
    values = np.random.default_rng(3).standard_normal((5000, 2)) * [1e-3, 1e4]
    frame = pd.DataFrame(values, columns=["a", "b"])
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    frame.to_csv(tmp_path / "pandas.csv.gz", index=False)
    np.savetxt(tmp_path / "numpy.csv", values, fmt="%.17g", delimiter=",", header="a,b",
               comments="")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("pandas.csv", "pandas.csv.gz", "numpy.csv"):
            for read in (read_table(tmp_path / name), load_dataset(tmp_path / name),
                         read_csv(tmp_path / name)):
                assert read[["a", "b"]].to_numpy().tobytes() == values.tobytes(), name


def test_bad_names_and_columns(tmp_path):
    with pytest.raises(ValueError, match="embedded datasets are"):
        load_dataset("sp5000")
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(ValueError, match="no date column 'Date'"):
        load_dataset(tmp_path / "a.csv", date_column="Date")
    (tmp_path / "a.xlsx").write_text("x")
    with pytest.raises(ValueError, match="unsupported file type"):
        load_dataset(tmp_path / "a.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"'.*empty.csv' is empty: no header"):
        load_dataset(tmp_path / "empty.csv")
    with pytest.raises(ValueError, match=r"'.*empty.csv' is empty: no header"):
        table_header(tmp_path / "empty.csv")   # as fraud's refusals read it, before loading
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match=r"'.*header.csv' has no rows"):
        load_dataset(tmp_path / "header.csv")


@pytest.mark.parametrize("name, content, match", [
    ("latin.csv", "Date,Close\n2020-01-01,caf\xe9\n".encode("latin-1"), "is not UTF-8 text"),
    ("semi.csv", b"Date;Close\n2020-01-01;1.5\n2020-01-02;1.6\n", r"separated by ';'"),
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "could not be read as a comma-separated file"),
    # text fields holding commas: pandas fails to parse rather than reading one column
    ("semi_text.csv", b"id;purpose;amount\n1;car;100\n2;car, used;200\n3;tv, radio, hifi;5\n",
     r"could not be read .*; its header is separated by ';', and fjax reads comma-separated "
     r"files: save it with commas"),
    ("tabs.csv", b"id\tnote\n1\ta\n2\tb, c\n3\td, e, f\n", r"separated by a tab"),
    ("fake.csv.gz", b"not gzip at all", "could not be read as a comma-separated file"),
    ("dupes.csv", b"Date,Close,Close\n2020-01-01,1,2\n", r"repeats the column name\(s\) "
                                                         r"\['Close'\]"),
])
def test_unreadable_files_are_named_with_the_fix(tmp_path, name, content, match):
    """Each gave a pandas or codec traceback, or (repeated names) silently used the
    first column of two."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        read_table(path)


def test_names_that_only_look_like_pandas_renames_are_kept(tmp_path):
    """Tenor columns 0.5, 1, 1.5 and a 'v1.2' beside 'v1' are names as written, not
    repeats (the check once read pandas' renamed header)."""
    path = tmp_path / "tenors.csv"
    path.write_text("Date,0.5,1,1.5,2,v1,v1.2\n2020-01-01,1,2,3,4,5,6\n")
    assert list(read_table(path).columns) == ["Date", "0.5", "1", "1.5", "2", "v1", "v1.2"]
    path.write_text("NA,N/A,z,,\n1,2,3,,\n")          # NA-like and empty (Excel) names
    assert list(read_table(path).columns)[:3] == ["NA", "N/A", "z"]


def test_a_folder_is_not_a_data_file(tmp_path):
    with pytest.raises(ValueError, match="is a folder; give the path of a data file"):
        read_table(tmp_path)


@pytest.mark.parametrize("written", [["02/01/2015", "13/01/2015", "14/01/2015"],
                                     ["01/02/2015", "01/13/2015", "01/14/2015"],
                                     ["02.01.2015", "13.01.2015", "14.01.2015"]])
def test_slashed_dates_are_read_by_the_field_that_goes_over_12(written):
    """pandas guessed the order from the first date, 02/01/2015, as month first, then
    refused 13/01/2015 (and would misread 02/01 as 1 February had it parsed)."""
    from fjax.datasets import read_dates
    dates, utc, *_ = read_dates(pd.Series(written), "column 'Date'")
    assert list(dates.dt.strftime("%Y-%m-%d")) == ["2015-01-02", "2015-01-13", "2015-01-14"]
    assert not utc


@pytest.mark.parametrize("written, want, offset", [
    (["13/01/2024 09:30", "03/04/2024 10:00", "14/01/2024 09:30:15"],
     ["2024-01-13 09:30", "2024-04-03 10:00", "2024-01-14 09:30:15"], None),
    (["13/01/2024", "03/04/2024 10:00", "04/03/2024"],
     ["2024-01-13 00:00", "2024-04-03 10:00", "2024-03-04 00:00"], None),
    (["01/13/2024 09:30", "03/04/2024 10:00", "01/14/2024 09:30:15"],
     ["2024-01-13 09:30", "2024-03-04 10:00", "2024-01-14 09:30:15"], None),
    (["13/01/2024 09:30+01:00", "03/04/2024 10:00:15+01:00"],
     ["2024-01-13 09:30", "2024-04-03 10:00:15"], 3600)])
def test_slashed_dates_in_formats_that_vary_by_row_read_in_the_columns_order(
        written, want, offset):
    """pandas infers one format from the first row and refused the next (09:30:15 after
    09:30), and the ISO 8601 fallback reads no d/m/yyyy date. Each row now reads on its own,
    in the order `day_first` found: 03/04 is 3 April among 13/01, 4 March among 01/13.
    Oracle: the dates written by hand."""
    from fjax.datasets import read_dates
    read = read_dates(pd.Series(written), "column 'Date'")
    assert list(read.dates) == [pd.Timestamp(t) for t in want]
    assert not read.utc and read.offsets is None and read.offset == offset
    with pytest.raises(ValueError, match=r"'Date' is not parseable as dates \(row 2: "
                                         r"'02/02/2024 25:00'\); write dates such as"):
        read_dates(pd.Series([*written[:2], "02/02/2024 25:00"]), "column 'Date'")


@pytest.mark.parametrize("written, match", [
    (["02/01/2015", "03/01/2015"], r"'Date' has no day over 12, so each date reads as "
                                   r"day/month or as month/day \(e.g. '02/01/2015'\); write "
                                   r"dates as ISO 8601, YYYY-MM-DD .*, or fix it"),
    (["13/01/2015", "01/14/2015"], r"mixes day-first and month-first dates \('13/01/2015', "
                                   r"'01/14/2015'\)")])
def test_slashed_dates_that_read_either_way_are_refused(written, match):
    """02/01/2015 was read as 1 February, silently; pandas's advice to pass `format=`,
    which no fjax reader takes, is not passed on."""
    from fjax.datasets import read_dates
    with pytest.raises(ValueError, match=match):
        read_dates(pd.Series(written), "column 'Date'", ", or fix it")
    with pytest.raises(ValueError) as err:
        read_dates(pd.Series(["13/01/2015", "2015-99-99"]), "column 'Date'")
    assert "not parseable as dates" in str(err.value) and "`format" not in str(err.value)


def test_a_date_refusal_reads_the_same_on_every_pandas():
    """pandas 2 adds ", at position 2" to the value it names, pandas 3 does not."""
    from fjax.datasets import read_dates
    with pytest.raises(ValueError) as err:
        read_dates(pd.Series(["30/03/2024 10:00+01:00", "01/04/2024 10:00+02:00", "2024-04-02"]),
                   "column 'Date'")
    assert str(err.value) == (
        "column 'Date' is not parseable as dates (time data \"2024-04-02\" doesn't match format "
        "\"%d/%m/%Y %H:%M%z\"); write dates such as 2020-01-31 or 2020-01-31 08:15:00")


def test_yyyymmdd_numbers_are_read_as_the_dates_they_spell(tmp_path):
    """20150102 was refused as "2.01501e+07"; CSV readers give it as an integer."""
    from fjax.datasets import read_dates
    (tmp_path / "d.csv").write_text("Date,p\n20150102,1\n20150105,2\n20151231,3\n")
    dates, utc, *_ = read_dates(read_table(tmp_path / "d.csv")["Date"], "column 'Date'")
    assert list(dates.dt.strftime("%Y-%m-%d")) == ["2015-01-02", "2015-01-05", "2015-12-31"]
    assert not utc
    for numbers in ([20150102, 20150132], [18991231, 19000101]):   # day 32; before 1900
        with pytest.raises(ValueError, match=rf"holds numbers, not dates \(e.g. {numbers[0]}\)"
                           r"; .*yyyymmdd numbers \(20200131\)"):
            read_dates(pd.Series(numbers), "column 'Date'")


ZONED_MIX = ["2024-01-02 10:00:00 GMT", "2024-01-02 11:00 GMT", "2024-01-02 12:30 UTC",
             "2024-01-02T13:45:10Z"]


def test_times_written_with_a_zone_name_in_several_formats_read_as_utc(tmp_path):
    """pandas infers one format from the first time (%H:%M:%S %Z) and its ISO 8601 parser,
    the fallback for formats that vary, refuses GMT and UTC, so such a column was refused
    while the same times without the name were read. They read as the one-format GMT
    column does: their UTC instants, kept on the +00:00 clock (offset 0). Oracle: the
    instants written by hand."""
    from fjax.datasets import read_dates
    want = pd.Series(pd.to_datetime(["2024-01-02 10:00:00", "2024-01-02 11:00:00",
                                     "2024-01-02 12:30:00", "2024-01-02 13:45:10"]))
    (tmp_path / "t.csv").write_text("Date,p\n" + "".join(f"{t},{i}\n"
                                                         for i, t in enumerate(ZONED_MIX)))
    column = read_table(tmp_path / "t.csv")["Date"]
    read = read_dates(column, "column 'Date'")
    assert list(read.dates) == list(want)
    assert not read.utc and read.offsets is None and read.offset == 0
    assert list(read.instants) == list(want)   # fraud's timezone reads these
    one = read_dates(pd.Series([t + " GMT" for t in want.astype(str)]), "column 'Date'")
    assert list(one.dates) == list(want) and one.offset == 0 and not one.utc


def test_a_column_of_zone_names_is_typed_once(monkeypatch):
    """read_dates ran pandas' `infer_dtype` over the whole column to see whether to
    rewrite its zone names, and the rewrite ran it again; now the rewrite takes the
    answer. The times still read as their written UTC instants (hand oracle)."""
    from fjax.datasets import read_dates
    calls = []
    infer = pd.api.types.infer_dtype
    monkeypatch.setattr(pd.api.types, "infer_dtype",
                        lambda *a, **k: calls.append(1) or infer(*a, **k))
    read = read_dates(pd.Series(ZONED_MIX), "column 'Date'")
    assert len(calls) == 1
    assert list(read.dates) == list(pd.to_datetime(
        ["2024-01-02 10:00:00", "2024-01-02 11:00:00", "2024-01-02 12:30:00",
         "2024-01-02 13:45:10"]))


def test_instants_read_zone_names_as_the_clocks_do():
    """written_instants (now read_dates' instants) parsed the raw text: on pandas 3.1 a
    lowercase utc left it no format to infer (a dateutil warning, row by row), and GMT then
    gmt made pandas look up a time zone named gmt (ZoneInfoNotFoundError). The names are
    rewritten as +00:00 first, once. Oracle: the instants as float64 unix seconds, by hand,
    and pandas' reading of the same times written +00:00."""
    from fjax.datasets import read_dates
    seconds = np.array([1704189600.0, 1704195000.0, 1704284130.0])   # 2024-01-02 10:00 UTC..
    clocks = ["2024-01-02 10:00:00", "2024-01-02 11:30:00", "2024-01-03 12:15:30"]
    want = pd.to_datetime([c + "+00:00" for c in clocks], utc=True).tz_localize(None)
    assert np.array_equal((want - pd.Timestamp(0)).total_seconds().to_numpy(), seconds)
    for names in ([" utc"] * 3, [" GMT", " gmt", " Utc"]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = read_dates(pd.Series([c + n for c, n in zip(clocks, names)]), "'t'").instants
        assert not caught, [str(w.message) for w in caught]
        assert list(got) == list(want)


def test_an_unparseable_time_among_zone_names_is_refused_by_its_row():
    """pandas' message named the first time off its inferred format ('2024-01-02 11:00
    GMT', a good one); the refusal names the row and value that read as no date."""
    from fjax.datasets import read_dates
    for bad in ("soon", "2024-01-32 10:00 GMT"):
        with pytest.raises(ValueError, match=rf"'Date' is not parseable as dates \(row 2: "
                                             rf"'{bad}'\); write dates such as"):
            read_dates(pd.Series([*ZONED_MIX[:2], bad, ZONED_MIX[3]]), "column 'Date'")


@pytest.mark.parametrize("written, offset", [
    (["2024-01-02 10:00:00 GMT", "2024-01-02 11:00:00 GMT"], 0),
    (["2024-01-02 10:00:00", "2024-01-02 11:00"], None),
    (["2024-01-02 10:00:00+01:00", "2024-01-02 11:00:00+01:00"], 3600)])
def test_times_in_one_format_or_without_a_zone_name_read_as_written(written, offset):
    """Beside the zone-name fix: one format with GMT, several without a zone and one offset
    keep their written clocks, with that offset (None where none is written)."""
    from fjax.datasets import read_dates
    read = read_dates(pd.Series(written), "column 'Date'")
    assert list(read.dates) == list(pd.to_datetime(["2024-01-02 10:00", "2024-01-02 11:00"]))
    assert not read.utc and read.offsets is None and read.offset == offset


def test_a_missing_time_written_as_none_among_varying_formats_reads_as_written():
    """A None (not NaN) among times whose format varies by row was written as the text
    'None', which no clock reads, so on pandas 2 the column read as UTC with a warning of
    mixed offsets it does not have. Oracle: the times as written, the None missing."""
    from fjax.datasets import read_dates
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = read_dates(pd.Series(["2024-01-13 09:30", None, "2024-04-03 10:00:15"]), "c")
    assert not read.utc and read.offsets is None
    assert list(read.dates.iloc[[0, 2]]) == [pd.Timestamp("2024-01-13 09:30"),
                                             pd.Timestamp("2024-04-03 10:00:15")]
    assert read.dates.isna().tolist() == [False, True, False]


@pytest.mark.parametrize("odd", ["14/01/2024 2025", "14/01/2024 Mon", "14/01/2024 10h30"])
def test_slashed_dates_of_varying_formats_read_only_dates_and_clock_times(odd):
    """Row by row, pandas' "mixed" reads whatever dateutil guesses ('2025' as 20:25, 'Mon'
    as midnight); a row that is not a d/m/yyyy date with an optional hh:mm[:ss] and
    offset is refused, as before the row-by-row reading."""
    from fjax.datasets import read_dates
    with pytest.raises(ValueError, match="is not parseable as dates"):
        read_dates(pd.Series(["13/01/2024 09:30", odd]), "column 'Date'")


def test_slashed_times_with_and_without_an_offset_read_as_utc_each_by_its_own():
    """Day-first times, some written with an offset: the ones with it read as their UTC
    instants, the others as UTC as written (as ISO 8601 times are), with the warning.
    Oracle: the instants by hand."""
    from fjax.datasets import read_dates
    with pytest.warns(UserWarning, match="mixes UTC offsets"):
        read = read_dates(pd.Series(["13/01/2024 09:30+01:00", "14/01/2024 10:00",
                                     "15/01/2024 10:00:30+02:00"]), "column 'Date'")
    assert read.utc
    assert list(read.dates) == [pd.Timestamp("2024-01-13 08:30"),
                                pd.Timestamp("2024-01-14 10:00"),
                                pd.Timestamp("2024-01-15 08:00:30")]


def test_slashed_times_of_varying_formats_read_am_pm_and_spacing_as_written():
    """Row by row, d/m/yyyy dates keep clock times written with AM/PM or two spaces, with
    no warning; AM/PM with an offset after it is refused (the offset check reads none
    there). Oracle: the times by hand."""
    from fjax.datasets import read_dates
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = read_dates(pd.Series(["13/01/2024 09:30", "14/01/2024 9:30 PM",
                                     "15/01/2024  10:00:00.5"]), "column 'Date'")
    with pytest.raises(ValueError, match="is not parseable as dates"):
        read_dates(pd.Series(["13/01/2024 09:30", "14/01/2024 9:30 PM +01:00"]), "c")
    assert list(read.dates) == [pd.Timestamp("2024-01-13 09:30"),
                                pd.Timestamp("2024-01-14 21:30"),
                                pd.Timestamp("2024-01-15 10:00:00.5")]
