"""prepare_data: CSV/TSV/JSON/JSONL/Parquet rows -> training JSONL in any supported format."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.core.errors import ToolError
from tools.core.extras import needs_extra
from tools.core.fields import InputPath, OutputPath
from tools.core.registry import tool
from tools.core.workspace import atomic_writer, current
from tools.data.formats import Conversation, FormatName, Message, detect, normalise, render

Role = Literal["system", "prompt", "completion", "text", "chosen", "rejected"]
_GUESSES: list[dict[str, str]] = [
    {"prompt": "prompt", "completion": "completion"},
    {"prompt": "question", "completion": "answer"},
    {"prompt": "input", "completion": "output"},
    {"prompt": "query", "completion": "response"},
    {"prompt": "instruction", "completion": "response"},
    {"prompt": "user", "completion": "assistant"},
]


class ColumnMap(BaseModel):
    field: Role = Field(
        description="What the column holds: system, prompt (user turn), completion (assistant "
        "turn), text, chosen or rejected."
    )
    column: str = Field(description="The column (CSV header, JSON key, Parquet column) to read it from.")


class PrepareRequest(BaseModel):
    path: InputPath = Field(description="Input: .csv, .tsv, .json (array or object of arrays), .jsonl or .parquet.")
    out: OutputPath = Field(description="The JSONL file to write (a new file; the input is never changed).")
    to: FormatName = Field("openai_chat", description="Output format.")
    input_type: Literal["csv", "tsv", "json", "jsonl", "parquet"] | None = Field(
        None, description="Input file type; default: from the extension."
    )
    from_format: FormatName | None = Field(
        None, description="Format of the input rows when they already are a chat format; default: detected per row."
    )
    mapping: list[ColumnMap] | None = Field(
        None, description="Column mapping, e.g. prompt=question, completion=answer."
    )
    mapping_file: InputPath | None = Field(None, description="JSON or YAML file {field: column} instead of mapping.")
    system: str | None = Field(None, description="System prompt to put in every example that has none.")
    target: str | None = Field(None, description="Training target whose rules the output is validated against.")
    validate_output: bool = Field(True, description="Validate the written file (validate_jsonl) on the way out.")


class Dropped(BaseModel):
    what: str
    examples: int
    first_row: int


class Skipped(BaseModel):
    row: int
    reason: str


class PrepareResult(BaseModel):
    out: str
    to: str
    rows: int
    written: int
    skipped: list[Skipped]
    skipped_total: int
    dropped: list[Dropped]
    lossless: bool
    validation_ok: bool | None = None
    validation_errors: int | None = None
    validation_report: str | None = None


def _rows(path: Path, kind: str, shown: str) -> Iterator[tuple[int, Any]]:
    if kind in ("csv", "tsv"):
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle, delimiter="\t" if kind == "tsv" else ",")
                if not reader.fieldnames:
                    raise ToolError("empty_input", f"{shown} has no header row", "the first row must name the columns")
                for row in reader:
                    yield reader.line_num, row
        except UnicodeDecodeError as exc:
            raise ToolError(
                "wrong_encoding", f"{shown} is not UTF-8 (byte {exc.start})", "re-save it as UTF-8"
            ) from None
        except csv.Error as exc:
            raise ToolError("bad_csv", f"{shown}: {exc}", "check quoting in the CSV") from None
    elif kind == "jsonl":
        from tools.data.jsonl import parse, read_lines

        for line in read_lines(path):
            if line.text is None:
                yield line.number, ToolError("bad_line", line.detail)
            elif not line.blank:
                obj, err = parse(line)
                yield line.number, obj if err is None else ToolError("invalid_json", err)
    elif kind == "json":
        try:
            data = json.loads(path.read_text("utf-8-sig"))
        except (UnicodeDecodeError, RecursionError, ValueError) as exc:
            why = (
                exc if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) else "nested too deeply or too long"
            )
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
    elif kind == "parquet":
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


def _mapping(req: PrepareRequest) -> dict[str, str] | None:
    if req.mapping:
        return {m.field: m.column for m in req.mapping}
    if req.mapping_file:
        path = current().input_file(req.mapping_file)
        import yaml

        try:
            data = yaml.safe_load(path.read_text("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ToolError(
                "bad_mapping", f"{req.mapping_file}: not valid JSON/YAML ({exc})", "write field: column"
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ToolError(
                "bad_mapping", f"{req.mapping_file}: must map fields to column names", "e.g. prompt: question"
            )
        bad = set(data) - set(Role.__args__)  # type: ignore[attr-defined]
        if bad:
            raise ToolError(
                "bad_mapping",
                f"{req.mapping_file}: unknown field(s) {sorted(bad)}",
                "fields: system, prompt, completion, text, chosen, rejected",
            )
        return {str(k): str(v) for k, v in data.items()}
    return None


def _cell(row: dict[str, Any], column: str, where: str) -> Any:
    if column not in row:
        raise KeyError(f"{where}: no column {column!r} (columns: {', '.join(list(map(str, row))[:10])})")
    value = row[column]
    return "" if value is None else value


def _from_mapping(row: dict[str, Any], mapping: dict[str, str], where: str) -> Conversation:
    def text(field: str) -> str:
        value = _cell(row, mapping[field], where)
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    if "text" in mapping and "prompt" not in mapping:
        return Conversation(text=text("text"))
    msgs = []
    if "system" in mapping and text("system"):
        msgs.append(Message("system", text("system")))
    if "prompt" in mapping:
        msgs.append(Message("user", text("prompt")))
    if "completion" in mapping:
        msgs.append(Message("assistant", text("completion")))
    elif "chosen" in mapping:
        msgs.append(Message("assistant", text("chosen")))
    conv = Conversation(msgs)
    if "rejected" in mapping:
        conv.rejected = [Message("assistant", text("rejected"))]
    return conv


@tool(effect="write", stage="data")
def prepare_data(req: PrepareRequest) -> PrepareResult:
    """Convert a dataset (CSV, TSV, JSON, JSONL or Parquet rows, or any supported chat format) into
    training JSONL in the format a provider or trainer wants (OpenAI chat, Bedrock Nova or Haiku,
    Vertex Gemini, prompt/completion, text, TRL preference, Alpaca, ShareGPT), with an optional
    column mapping and system prompt. Lists what the output format could not hold, and validates
    the result.

    Use it to get raw data into shape or to move a dataset from one provider's format to another.
    The input file is never changed. It does not deduplicate or split (use validate_jsonl and
    split_dataset)."""
    ws = current()
    src = ws.input_file(req.path)
    dest = ws.output_file(req.out, inputs=(src,))
    shown = ws.relative(src)
    kind = req.input_type or {
        ".csv": "csv",
        ".tsv": "tsv",
        ".json": "json",
        ".parquet": "parquet",
        ".pq": "parquet",
    }.get(src.suffix.lower(), "jsonl")
    if kind == "jsonl":
        from tools.data.jsonl import sniff

        sniff(src, shown)
    mapping = _mapping(req)
    rows = written = 0
    skipped: list[Skipped] = []
    skipped_total = 0
    dropped: Counter[str] = Counter()
    first_row: dict[str, int] = {}
    with atomic_writer(dest) as out:
        for number, row in _rows(src, kind, shown):
            rows += 1
            where = f"{shown} {'line' if kind in ('jsonl', 'csv', 'tsv') else 'row'} {number}"
            reason = None
            conv = None
            if isinstance(row, ToolError):
                reason = row.message
            elif not isinstance(row, dict):
                reason = f"not an object ({type(row).__name__})"
            else:
                try:
                    if mapping:
                        conv = _from_mapping(row, mapping, where)
                    else:
                        fmt = req.from_format or detect(row)
                        if fmt is None:
                            guess = next((g for g in _GUESSES if all(c in row for c in g.values())), None)
                            if guess is None:
                                raise KeyError(
                                    f"{where}: no known format or column names (columns: "
                                    f"{', '.join(list(map(str, row))[:10])})"
                                )
                            conv = _from_mapping(row, guess, where)
                        else:
                            conv = normalise(row, fmt)
                except KeyError as exc:
                    if rows == 1 or (mapping is None and not written and rows <= 1):
                        raise ToolError(
                            "bad_mapping",
                            str(exc.args[0]),
                            "give --map prompt=COLUMN,completion=COLUMN (fields: system, prompt, "
                            "completion, text, chosen, rejected)",
                        ) from None
                    reason = str(exc.args[0]).split(": ", 1)[-1]
            if conv is None:
                skipped_total += 1
                if len(skipped) < 100:
                    skipped.append(Skipped(row=number, reason=reason or "unusable row"))
                continue
            if req.system and conv.text is None and conv.system is None:
                conv.messages.insert(0, Message("system", req.system))
            obj, lost = render(conv, req.to)
            for what in lost:
                dropped[what] += 1
                first_row.setdefault(what, number)
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            written += 1
    if rows == 0:
        raise ToolError("empty_input", f"{shown} has no rows", "check the file")
    result = PrepareResult(
        out=ws.relative(dest),
        to=req.to,
        rows=rows,
        written=written,
        skipped=skipped,
        skipped_total=skipped_total,
        dropped=[Dropped(what=w, examples=n, first_row=first_row[w]) for w, n in dropped.most_common()],
        lossless=not dropped,
    )
    if req.validate_output and written:
        from tools.validate.models import ValidateRequest
        from tools.validate.validate_jsonl import validate_jsonl

        report = dest.with_name(dest.name + ".validation.json")
        check = validate_jsonl(
            ValidateRequest(
                paths=[ws.relative(dest)], format=req.to, target=req.target, report=ws.relative(report), max_findings=5
            )
        )
        result.validation_ok = check.ok
        result.validation_errors = sum(c.count for c in check.counts if c.severity == "error")
        result.validation_report = check.report_markdown
    return result
