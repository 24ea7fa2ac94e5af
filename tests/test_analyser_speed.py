"""The analyser's faster paths give what the plain ones give: events.csv in the bytes of
pandas' to_csv (also when a process of its own writes it), and bootstrap sums equal to
drawing and counting every run at once."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from stickiness.analysis import bootstrap, events_csv, export
from stickiness.analysis.events_csv import write_events_csv
from stickiness.analysis.export import EventsCsv


def _awkward_frame(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    texts = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "", " lead", "ünï", "x" * 300]
    pick = rng.integers(0, len(texts), n)
    str_col = pd.array([texts[i] for i in pick], dtype="str")
    str_col[::7] = None
    string_na = pd.array([texts[i] for i in pick[::-1]], dtype="string")
    string_na[::5] = pd.NA
    floats = rng.choice([0.5, -0.0, 1e-7, 1e22, np.inf, -np.inf, np.nan, 3.0, 1 / 3], n)
    objects = np.array([None, "x,y", 'q"', 1.5, 2, True, "", float("nan")] * n, dtype=object)
    return pd.DataFrame(
        {
            "flag": rng.random(n) < 0.5,
            "count": rng.integers(-(2**40), 2**40, n),
            "small": rng.integers(0, 3, n).astype(np.int32),
            "unsigned": rng.integers(0, 5, n).astype(np.uint8),
            "text": str_col,
            "text_na": string_na,
            "ratio": floats,
            "float32": floats.astype(np.float32),
            "lag": pd.array(np.where(rng.random(n) < 0.3, None, rng.integers(0, 9, n)), "Float64"),
            "count_na": pd.array(np.where(rng.random(n) < 0.3, None, pick), "Int64"),
            "flag_na": pd.array(np.where(rng.random(n) < 0.3, None, pick % 2 == 0), "boolean"),
            "answer": objects[:n],
            "all_none": np.array([None] * n, dtype=object),
            "has,comma": np.arange(n),
        }
    )


@pytest.mark.parametrize("rows", [0, 1, 50, 300])
def test_events_csv_is_byte_for_byte_what_pandas_writes(tmp_path, monkeypatch, rows):
    monkeypatch.setattr(events_csv, "_BLOCK_ROWS", 64)  # several blocks
    frame = _awkward_frame(max(rows, 1)).iloc[:rows]
    write_events_csv(frame, tmp_path / "fast.csv")
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_events_csv_leaves_types_it_does_not_copy_to_pandas(tmp_path):
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2026-01-01", periods=3, freq="h"),
            "kind": pd.Categorical(["a", "b,c", "a"]),
            "n": [1, 2, 3],
        }
    )
    write_events_csv(frame, tmp_path / "fast.csv")
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    one = pd.DataFrame({"only": ["", "a", None]})
    write_events_csv(one, tmp_path / "one.csv")
    one.to_csv(tmp_path / "one_pandas.csv", index=False)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "one_pandas.csv").read_bytes()


def test_events_csv_writer_error_reaches_the_caller(tmp_path):
    blocked = tmp_path / "events.csv"
    blocked.mkdir()  # a folder where the file should go
    with pytest.raises(OSError):
        EventsCsv(tmp_path, _awkward_frame()).wait()


@pytest.fixture
def csv_process(monkeypatch):
    """events.csv written by a process of its own, whatever the table's size and CPUs."""
    monkeypatch.setattr(export, "PROCESS_ROWS", 1)
    monkeypatch.setattr(export, "worker_count", lambda: 2)


def test_events_csv_written_by_a_process_is_the_same_bytes(tmp_path, csv_process):
    frame = _awkward_frame(300)
    with EventsCsv(tmp_path, frame) as csv:
        path = csv.wait()
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    assert path.read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_events_csv_process_error_reaches_the_caller(tmp_path, csv_process):
    (tmp_path / "events.csv").mkdir()  # a folder where the file should go
    with pytest.raises(OSError):
        EventsCsv(tmp_path, _awkward_frame()).wait()


def test_events_csv_is_written_here_when_no_process_starts(tmp_path, csv_process, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    frame = _awkward_frame(300)
    path = EventsCsv(tmp_path, frame).wait()
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    assert path.read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_leaving_by_an_error_waits_for_the_writer_and_keeps_the_error(tmp_path, csv_process):
    with pytest.raises(KeyError), EventsCsv(tmp_path, _awkward_frame(300)) as csv:
        raise KeyError("metrics failed")
    assert not csv._thread.is_alive()


def _all_at_once(values: np.ndarray, copies: int, rng: np.random.Generator) -> np.ndarray:
    k = values.shape[0]
    picks = rng.integers(0, k, size=(copies, k))
    counts = np.stack([np.bincount(p, minlength=k) for p in picks])
    return counts @ values


@pytest.mark.parametrize(
    "values",
    [
        np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 1.0], [1.0, 0.0, 2.0], [3.0, 1.0, 0.0]] * 25),
        np.ones((1, 2)),
        np.array([[0.5, 1.0], [0.25, 0.0], [1.0, 2.0]]),  # not whole numbers
        np.array([[-0.0, 1.0], [0.0, 2.0]]),  # a signed zero
    ],
)
def test_resampled_sums_match_drawing_every_copy_at_once(monkeypatch, values):
    monkeypatch.setattr(bootstrap, "_BLOCK_DRAWS", 7 * len(values))  # blocks of 7 copies
    got = bootstrap._resample_runs(values, 45, np.random.default_rng(3))
    want = _all_at_once(values, 45, np.random.default_rng(3))
    assert got.shape == want.shape
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))
    # The generator is left where drawing them all at once leaves it.
    rng = np.random.default_rng(3)
    bootstrap._resample_runs(values, 45, rng)
    plain = np.random.default_rng(3)
    plain.integers(0, len(values), size=(45, len(values)))
    assert rng.random() == plain.random()
