"""events.csv written column by column, in the same bytes as `DataFrame.to_csv(index=False)`.

pandas hands every field of every row to the csv module one at a time, which is most of
the time an analysis of a large file spends writing its outputs. Here, per block of
rows, each distinct value of a column is formatted once, by the csv module itself (so
quoting is its own), and the rows are joined from those fields. A column whose type
pandas formats in a way not copied here (dates, intervals, categories, ...) leaves the
whole table to pandas' writer.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_float_dtype,
    is_integer_dtype,
    is_string_dtype,
)

# Rows formatted at a time: the block's fields and text stay a few tens of MB.
_BLOCK_ROWS = 1 << 16


class _Echo:
    """A file whose `write` returns what it is given: a csv writer's `writerow` then
    returns the line it formatted, and nothing is written anywhere."""

    @staticmethod
    def write(text: str) -> str:
        return text


def _writer(lineterminator: str):
    # pandas' to_csv defaults.
    return csv.writer(
        _Echo(),
        lineterminator=lineterminator,
        delimiter=",",
        quoting=csv.QUOTE_MINIMAL,
        doublequote=True,
        escapechar=None,
        quotechar='"',
    )


class _Fields:
    """Values as the csv module writes them as fields of a row of several."""

    def __init__(self, lineterminator: str) -> None:
        self._row = _writer(lineterminator).writerow
        self._cut = len(lineterminator)

    def one(self, value: object) -> str:
        text = self._row([value])[: -self._cut]
        # A row of one empty field is written as "" (else it would be a blank line);
        # in a row of several an empty field is empty. Nothing else is written as "".
        return "" if text == '""' else text

    def of(self, values: list) -> list[str]:
        return [self.one(v) for v in values]


def _csv_values(array) -> np.ndarray | None:
    """What pandas' to_csv hands the csv module for a column of a type other than
    numpy's bool and integers (na_rep '', no float format, minimal quoting), as an
    object array; None for a type whose formatting is not copied here."""
    dtype = array.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "f":
            return _floats(array)
        if dtype.kind == "O":
            out = np.array(array, dtype=object)
            out[pd.isna(out)] = ""
            return out
        return None
    if isinstance(dtype, pd.CategoricalDtype):
        return None
    if is_float_dtype(dtype):  # Float64 and the like
        return _floats(array)
    if is_string_dtype(dtype) or is_bool_dtype(dtype) or is_integer_dtype(dtype):
        mask = np.asarray(pd.isna(array))
        out = np.array(array.astype(object), dtype=object)
        out[mask] = ""
        return out
    return None


def _floats(array) -> np.ndarray:
    # As pandas does it for floats with no float_format and '.' as decimal.
    mask = np.asarray(pd.isna(array))
    text = array.astype(str)
    text[mask] = ""
    return np.asarray(text.astype(object, copy=False), dtype=object)


def _column(fields: _Fields, array) -> tuple[np.ndarray, list[str]]:
    """(codes, fields): the field of row i is fields[codes[i]]."""
    dtype = array.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return array.view(np.uint8), ["False", "True"]
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        # pandas hands Python ints to the csv module, which writes str() of them.
        codes, uniques = pd.factorize(array)
        return codes, [str(u) for u in uniques.tolist()]
    if isinstance(dtype, pd.StringDtype):
        # As objects: factorizing them is about twice as fast as the string array.
        codes, uniques = pd.factorize(array.to_numpy(dtype=object))
        # NA: -1, which takes the '' put last.
        return codes, [*fields.of(uniques.tolist()), ""]
    values = _csv_values(array)
    if infer_dtype(values, skipna=False) in ("string", "empty"):
        # Only strings: equal values are written alike, so each is formatted once
        # (among other types 1 == True == 1.0 would count as one value).
        codes, uniques = pd.factorize(values)
        return codes, fields.of(uniques.tolist())
    return np.arange(len(values)), fields.of(values.tolist())


def _block_text(columns: list[tuple[np.ndarray, list[str]]], lineterminator: str) -> str:
    fields = [np.array(texts, dtype=object)[codes].tolist() for codes, texts in columns]
    return lineterminator.join(map(",".join, zip(*fields, strict=True))) + lineterminator


def _supported(array) -> bool:
    dtype = array.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biu":
        return True
    return _csv_values(array) is not None


def _arrays(frame: pd.DataFrame) -> list:
    """The columns' arrays: numpy arrays for numpy types, else pandas' own arrays."""
    columns = (frame.iloc[:, i] for i in range(frame.shape[1]))
    return [c.to_numpy() if isinstance(c.dtype, np.dtype) else c.array for c in columns]


def _fast_path(frame: pd.DataFrame) -> bool:
    columns = frame.columns
    if isinstance(columns, pd.MultiIndex) or len(columns) < 2:
        return False
    if not all(type(c) is str for c in columns):
        return False
    return all(_supported(a) for a in _arrays(frame.iloc[:0]))


def write_events_csv(frame: pd.DataFrame, path: Path) -> None:
    """`frame.to_csv(path, index=False)`, the same bytes."""
    if not _fast_path(frame):
        frame.to_csv(path, index=False)
        return
    lineterminator = os.linesep
    fields = _Fields(lineterminator)
    arrays = _arrays(frame)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(_writer(lineterminator).writerow(list(frame.columns)))
        for first in range(0, len(frame), _BLOCK_ROWS):
            block = [_column(fields, a[first : first + _BLOCK_ROWS]) for a in arrays]
            fh.write(_block_text(block, lineterminator))
