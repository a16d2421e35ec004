"""Issue 31: what the record file says is what the model sees. Every series record read passes one integrity
check (deepsci.data.timeseries.check_record): one time format and zone, time order, unique stamps, a regular
step; a test record continues the training one; `season` fits the record. Property tests over random records
with repeats, gaps and overlaps; no training anywhere in this file."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepsci.data import build_dataset
from deepsci.data.timeseries import check_continuation, check_record
from deepsci.errors import DataError

MONTHS = pd.date_range("2000-01-01", periods=120, freq="MS").strftime("%Y-%m")


def _record(n=120, **columns):
    return pd.DataFrame({"month": MONTHS[:n], "v": np.sin(np.arange(n) / 3.0), **columns})


def _build(tmp_path, frame, **kw):
    frame.to_csv(tmp_path / "r.csv", index=False)
    spec = {"kind": "series", "source": str(tmp_path / "r.csv"), "time_column": "month", "input_length": 12,
            "horizon": 1, "test_size": 24, **kw}
    return build_dataset(spec)


def _refused(tmp_path, frame, match, **kw):
    with pytest.raises(DataError, match=match) as info:
        _build(tmp_path, frame, **kw)
    assert "\n" not in str(info.value)
    return str(info.value)


# -- the cases of the issue --------------------------------------------------------------------------
def test_repeated_stamps_are_refused_or_averaged(tmp_path):
    clean = _build(tmp_path, _record())
    repeated = pd.concat([_record(), _record().iloc[[5, 6, 7]]])
    msg = _refused(tmp_path, repeated, "time stamp '2000-06' appears more than once \\(rows 6 and 121;")
    assert "3 repeated" in msg and "data.duplicates = 'mean'" in msg
    merged = _build(tmp_path, repeated, duplicates="mean")
    assert len(merged.train) == len(clean.train)  # 73 windows before the fix; now as many as without repeats
    assert merged.summary.integrity == {"frequency": "1 month", "duplicates_merged": 3, "steps_filled": 0}


def test_gaps_are_refused_naming_the_first_or_filled_and_counted(tmp_path):
    holed = _record().drop(index=range(40, 46))
    msg = _refused(tmp_path, holed, "6 step")
    assert "between '2003-04' (row 40) and '2003-11' (row 41)" in msg and "missing = 'interpolate'" in msg
    filled = _build(tmp_path, holed, missing="interpolate", scale=False)
    assert filled.summary.steps == 120 and filled.summary.integrity["steps_filled"] == 6
    assert filled.summary.times[40:46] == list(MONTHS[40:46])  # filled steps named like the file's


def test_a_record_read_for_prediction_is_checked_at_the_training_step(tmp_path):
    pre = _build(tmp_path, _record(), missing="interpolate").preprocessor
    _record().drop(index=[50, 51]).to_csv(tmp_path / "new.csv", index=False)
    raw = pre.read(str(tmp_path / "new.csv"))  # the gap the same at predict time: filled and said
    assert len(raw) == 120 and pre.read_notes == [f"'{tmp_path / 'new.csv'}': 2 missing step(s) of 1 month "
                                                  "filled by linear interpolation (data.missing = 'interpolate')."]
    strict = _build(tmp_path, _record()).preprocessor
    with pytest.raises(DataError, match="2 step\\(s\\) missing .* between '2004-02' \\(row 50\\)"):
        strict.read(str(tmp_path / "new.csv"))
    weekly = pd.DataFrame({"month": pd.date_range("2000-01-03", periods=60, freq="7D").strftime("%Y-%m-%d"),
                           "v": 0.0})
    weekly.to_csv(tmp_path / "weekly.csv", index=False)
    with pytest.raises(DataError, match="at another step than the training record's \\(1 month\\)"):
        strict.read(str(tmp_path / "weekly.csv"))  # a weekly record for a monthly model


def test_mixed_formats_and_time_zones_name_the_first_offending_row(tmp_path):
    mixed = _record()
    mixed.loc[30, "month"] = "03/01/2002"
    _refused(tmp_path, mixed, "row 31 time stamp '03/01/2002' does not match the format %Y-%m of row 1")
    zoned = _record()
    zoned["month"] = pd.date_range("2000-01-01", periods=120, freq="MS").strftime("%Y-%m-%dT00:00:00+01:00")
    zoned.loc[7, "month"] = "2000-08-01T00:00:00+02:00"
    _refused(tmp_path, zoned, "row 8 time stamp .* another time zone than row 1")


def test_a_test_record_must_continue_the_training_one(tmp_path):
    record = _record()
    record.iloc[100:].to_csv(tmp_path / "t.csv", index=False)  # repeats the last 20 months
    _refused(tmp_path, record, "starts \\('2008-05'\\) at or before the end .* \\('2009-12'\\)",
             test_source=str(tmp_path / "t.csv"))
    early = _record(24).assign(month=pd.date_range("1990-01-01", periods=24, freq="MS").strftime("%Y-%m"))
    early.to_csv(tmp_path / "t.csv", index=False)
    _refused(tmp_path, record, "starts \\('1990-01'\\)", test_source=str(tmp_path / "t.csv"))
    record.iloc[99:].to_csv(tmp_path / "t.csv", index=False)
    _refused(tmp_path, record.iloc[:96], "starts 3 step\\(s\\) of 1 month after", test_source=str(tmp_path / "t.csv"))
    joined = _build(tmp_path, record.iloc[:96], test_source=str(tmp_path / "t.csv"), missing="interpolate")
    assert joined.summary.integrity["steps_filled"] == 3 and joined.summary.steps == 120
    record.iloc[96:].to_csv(tmp_path / "t.csv", index=False)
    assert _build(tmp_path, record.iloc[:96], test_source=str(tmp_path / "t.csv")).summary.steps == 120


def test_season_longer_than_the_record_or_window_is_refused(tmp_path):
    _refused(tmp_path, _record(), "data.season = 500 steps is longer than the record", season=500)
    _refused(tmp_path, _record(), "between the horizon \\(1\\) and the input length \\(12\\)", season=24)
    assert _build(tmp_path, _record(), season=12).summary.season == 12


def test_the_three_misleading_series_messages(tmp_path):
    msg = _refused(tmp_path, _record(20), "the record has 20 steps, too short")
    assert "test_size" in msg and "needs at least" in msg
    _refused(tmp_path, _record(), "the time column 'month' is also listed in data.value_columns",
             value_columns=["month", "v"])
    text = _record().astype({"v": object})
    text.loc[3, "v"] = "abc"
    _refused(tmp_path, text, "first: column 'v', row 4, 'abc'")


# -- the check itself, over random records -------------------------------------------------------------
def _stamps(kind, n, start):
    if kind == "number":
        return np.arange(start, start + n)
    return pd.date_range(f"{2000 + start // 12}-{start % 12 + 1:02d}-01", periods=n, freq="MS").strftime("%Y-%m")


records = st.tuples(st.sampled_from(["number", "month"]), st.integers(5, 40), st.randoms(use_true_random=False))


@settings(max_examples=25, deadline=None)
@given(records, st.integers(0, 3), st.integers(0, 3))
def test_random_records_with_repeats_and_gaps(record, n_repeats, n_holes):
    kind, n, rnd = record
    frame = pd.DataFrame({"t": _stamps(kind, n, 0), "v": np.arange(n, dtype=float)})
    holes = rnd.sample(range(2, n - 1), min(n_holes, n - 3))  # the ends fix the span, rows 0 and 1 the step
    kept = frame.drop(index=holes)
    noisy = pd.concat([kept, kept.sample(n=n_repeats, replace=True, random_state=rnd.randint(0, 99))])
    noisy = noisy.sample(frac=1.0, random_state=rnd.randint(0, 99))  # any row order
    if n_repeats:
        with pytest.raises(DataError, match="appears more than once"):
            check_record(noisy, "t", "r")
    if holes:
        with pytest.raises(DataError, match=f"{len(holes)} step\\(s\\) missing"):
            check_record(noisy, "t", "r", duplicates="mean")
    out, done = check_record(noisy, "t", "r", duplicates="mean", missing="interpolate")
    assert len(out) == n and list(out["t"].astype(str)) == list(frame["t"].astype(str))
    assert (done.duplicates_merged, done.steps_filled) == (n_repeats, len(holes))
    present = ~out["v"].isna()
    assert out["v"][present].tolist() == frame["v"][present].tolist()  # repeats average to the same value


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["number", "month"]), st.integers(3, 30), st.integers(-35, 5))
def test_random_test_records_overlap_continue_or_leave_a_gap(kind, n, offset):
    """A test record starting `offset` steps after the training record's last step + 1."""
    train = pd.DataFrame({"t": _stamps(kind, n, 40), "v": 0.0})
    test = pd.DataFrame({"t": _stamps(kind, 4, 40 + n + offset), "v": 0.0})
    _, a = check_record(train, "t", "train")
    _, b = check_record(test, "t", "test", axis=a.axis)
    if offset < 0:
        with pytest.raises(DataError, match="at or before the end"):
            check_continuation(a, b, "train", "test")
    else:
        assert check_continuation(a, b, "train", "test") == offset


def test_an_irregular_record_is_refused():
    frame = pd.DataFrame({"t": [0.0, 2.0, 4.0, 5.0, 6.0], "v": 1.0})  # step 1, but 0 -> 2 is a gap
    with pytest.raises(DataError, match="2 step\\(s\\) missing"):
        check_record(frame, "t", "r")
    with pytest.raises(DataError, match="not regular"):
        check_record(pd.DataFrame({"t": [0.0, 2.0, 5.0], "v": 1.0}), "t", "r")
