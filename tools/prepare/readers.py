"""Rows of a CSV, TSV, JSON, JSONL or Parquet file, each with the line (or row) number to report it by."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.extras import needs_extra

EXTRA_CELLS = "(cells beyond the header)"
"""The key csv.DictReader files surplus cells of a row under (its ``restkey``)."""

_SNIFF_BYTES = 64 * 1024
_CANDIDATES = ",;\t|"
_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    quotechar: str
    sniffed: bool

    def describe(self) -> str:
        shown = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(self.delimiter, repr(self.delimiter))
        return f"{shown} ({'sniffed' if self.sniffed else 'given'})"


def kind_of(path: Path, given: str | None) -> str:
    return given or {".csv": "csv", ".tsv": "tsv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}.get(
        path.suffix.lower(), "jsonl"
    )


def dialect(path: Path, kind: str, delimiter: str | None, shown: str) -> Dialect:
    """The separator to read a CSV/TSV with: the one given, else csv.Sniffer's guess on the file's head."""
    if delimiter is not None:
        value = _NAMES.get(delimiter.strip().lower(), delimiter) if delimiter.strip() else delimiter
        if len(value) != 1 or value in "\r\n\"'":
            raise ToolError(
                "bad_delimiter",
                f"--delimiter {delimiter!r} is not one separator character",
                "give one character, e.g. --delimiter ';' (or 'tab')",
            )
        return Dialect(value, '"', sniffed=False)
    default = "\t" if kind == "tsv" else ","
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            sample = handle.read(_SNIFF_BYTES)
    except UnicodeDecodeError as exc:
        raise ToolError("wrong_encoding", f"{shown} is not UTF-8 (byte {exc.start})", "re-save it as UTF-8") from None
    if len(sample) == _SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    header = sample.split("\n", 1)[0]
    try:
        found = csv.Sniffer().sniff(sample, delimiters=_CANDIDATES)
    except csv.Error:
        return Dialect(default, '"', sniffed=False)
    if found.delimiter not in header:  # a guess the header row does not bear out
        return Dialect(default, '"', sniffed=False)
    return Dialect(found.delimiter, found.quotechar or '"', sniffed=True)


def _csv_rows(path: Path, shown: str, dia: Dialect) -> Iterator[tuple[int, Any]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=dia.delimiter, quotechar=dia.quotechar, restkey=EXTRA_CELLS)
            if not reader.fieldnames:
                raise ToolError("empty_input", f"{shown} has no header row", "the first row must name the columns")
            for row in reader:
                yield reader.line_num, row
    except UnicodeDecodeError as exc:
        raise ToolError("wrong_encoding", f"{shown} is not UTF-8 (byte {exc.start})", "re-save it as UTF-8") from None
    except csv.Error as exc:
        raise ToolError(
            "bad_csv", f"{shown}: {exc}", "check the quoting, or give the separator with --delimiter"
        ) from None


def _json_rows(path: Path, shown: str) -> Iterator[tuple[int, Any]]:
    try:
        data = json.loads(path.read_text("utf-8-sig"))
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        why = exc if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) else "nested too deeply or too long"
        raise ToolError(
            "invalid_json", f"{shown} is not valid JSON: {why}", "for one object per line use a .jsonl file"
        ) from None
    if isinstance(data, dict):
        lists = {k: v for k, v in data.items() if isinstance(v, list)}
        if len(lists) == 1 and all(isinstance(x, dict) for x in next(iter(lists.values()))):
            data = next(iter(lists.values()))
        elif lists and len({len(v) for v in lists.values()}) == 1:
            keys = list(lists)
            data = [dict(zip(keys, vals, strict=True)) for vals in zip(*lists.values(), strict=True)]
        else:
            raise ToolError(
                "bad_json_shape",
                f"{shown}: expected an array of objects or an object of equal-length arrays",
                "reshape the JSON or export it as JSONL",
            )
    if not isinstance(data, list):
        raise ToolError("bad_json_shape", f"{shown}: expected an array of objects", "reshape the JSON")
    yield from enumerate(data, start=1)


def _parquet_rows(path: Path, shown: str) -> Iterator[tuple[int, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise needs_extra("pyarrow", "reading Parquet", instead="export the data as CSV or JSONL") from None
    try:
        reader = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise ToolError("bad_parquet", f"{shown} is not a readable Parquet file: {exc}", "check the file") from None
    row = 0
    for batch in reader.iter_batches(batch_size=4096):
        for rec in batch.to_pylist():
            row += 1
            yield row, rec


def rows(path: Path, kind: str, shown: str, dia: Dialect | None) -> Iterator[tuple[int, Any]]:
    """(line or row number, parsed row) pairs; a JSONL line that does not parse comes as a ToolError value."""
    if kind in ("csv", "tsv"):
        assert dia is not None
        yield from _csv_rows(path, shown, dia)
    elif kind == "jsonl":
        from tools.data.jsonl import parse, read_lines

        for line in read_lines(path):
            if line.text is None:
                yield line.number, ToolError("bad_line", line.detail)
            elif not line.blank:
                obj, err = parse(line)
                yield line.number, obj if err is None else ToolError("invalid_json", err)
    elif kind == "json":
        yield from _json_rows(path, shown)
    elif kind == "parquet":
        yield from _parquet_rows(path, shown)
