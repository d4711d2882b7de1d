"""prepare_data: CSV/TSV/JSON/JSONL/Parquet rows -> training JSONL in any supported format."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import atomic_writer, current
from tools.data.formats import Conversation, Message, detect, normalise, render
from tools.prepare.fields import (
    ROLES,
    empty_reason,
    map_roles,
    mapped_columns,
    odd_roles,
    unread_columns,
    unread_keys,
)
from tools.prepare.models import (
    ColumnMap,
    Dropped,
    DroppedField,
    Field_,
    PrepareRequest,
    PrepareResult,
    RoleMap,
    Skipped,
)
from tools.prepare.readers import EXTRA_CELLS, Dialect, dialect, kind_of, rows

_GUESSES: list[dict[str, str]] = [
    {"prompt": "prompt", "completion": "completion"},
    {"prompt": "question", "completion": "answer"},
    {"prompt": "input", "completion": "output"},
    {"prompt": "query", "completion": "response"},
    {"prompt": "instruction", "completion": "response"},
    {"prompt": "user", "completion": "assistant"},
]
_SKIPPED_KEPT = 100


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
        bad = set(data) - set(Field_.__args__)  # type: ignore[attr-defined]
        if bad:
            raise ToolError(
                "bad_mapping",
                f"{req.mapping_file}: unknown field(s) {sorted(bad)}",
                "fields: system, prompt, completion, text, chosen, rejected",
            )
        return {str(k): str(v) for k, v in data.items()}
    return None


def _roles(given: list[RoleMap] | None) -> dict[str, str]:
    names: dict[str, str] = {}
    for r in given or []:
        if r.name in names and names[r.name] != r.role:
            raise ToolError(
                "bad_roles", f"role {r.name!r} is mapped twice ({names[r.name]} and {r.role})", "map each name once"
            )
        names[r.name] = r.role
    return names


def _cell(row: dict[str, Any], column: str, where: str) -> Any:
    if column not in row:
        cols = [str(c) for c in row if c != EXTRA_CELLS]
        hint = next((f"; the header looks {d!r}-separated" for d in ";\t|," if any(d in c for c in cols)), "")
        raise KeyError(f"{where}: no column {column!r} (columns: {', '.join(cols[:10])}){hint}")
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


def _read_row(
    row: dict[str, Any], req: PrepareRequest, mapping: dict[str, str] | None, roles: dict[str, str], where: str
) -> tuple[Conversation, set[str]]:
    """The conversation of one row and the fields of it that the conversation does not carry."""
    if mapping:
        return _from_mapping(row, mapping, where), unread_columns(row, mapped_columns(mapping))
    fmt = req.from_format or detect(row)
    if fmt is None:
        guess = next((g for g in _GUESSES if all(c in row for c in g.values())), None)
        if guess is None:
            raise KeyError(f"{where}: no known format or column names (columns: {', '.join(list(map(str, row))[:10])})")
        return _from_mapping(row, guess, where), unread_columns(row, mapped_columns(guess))
    return normalise(map_roles(row, roles), fmt), unread_keys(row, fmt)


class _Tally:
    """What was skipped, left out and dropped, row by row."""

    def __init__(self) -> None:
        self.skipped: list[Skipped] = []
        self.skipped_total = 0
        self.dropped: Counter[str] = Counter()
        self.dropped_first: dict[str, int] = {}
        self.fields: Counter[str] = Counter()
        self.fields_first: dict[str, int] = {}
        self.odd: Counter[str] = Counter()
        self.odd_first: dict[str, int] = {}

    def skip(self, number: int, reason: str) -> None:
        self.skipped_total += 1
        if len(self.skipped) < _SKIPPED_KEPT:
            self.skipped.append(Skipped(row=number, reason=reason))

    def note(self, counter: Counter[str], first: dict[str, int], names: Any, number: int) -> None:
        for name in names:
            counter[name] += 1
            first.setdefault(name, number)


def _unknown_roles(tally: _Tally, shown: str, unit: str) -> ToolError:
    listed = ", ".join(f"{r!r} ({n}x, first on {unit} {tally.odd_first[r]})" for r, n in tally.odd.most_common(5))
    example = ",".join(f"{r}=ROLE" for r in list(tally.odd)[:3])
    return ToolError(
        "unknown_role",
        f"{shown}: role names that are not {', '.join(ROLES)}: {listed}",
        f"map each to system, user, assistant or tool: --roles {example} (or roles=[{{name, role}}])",
    )


@tool(effect="write", stage="data")
def prepare_data(req: PrepareRequest) -> PrepareResult:
    """Convert a dataset (CSV, TSV, JSON, JSONL or Parquet rows, or any supported chat format) into
    training JSONL in the format a provider or trainer wants (OpenAI chat, Bedrock Nova or Haiku,
    Vertex Gemini, prompt/completion, text, TRL preference, Alpaca, ShareGPT), with an optional
    column mapping, role-name mapping and system prompt. CSV separators are sniffed (or given).
    Lists every input column or key it left out, every row it skipped (empty prompt or answer, bad
    line) with its line number, and what the output format could not hold; says "lossless" only
    when none of these happened. Validates the result.

    Use it to get raw data into shape or to move a dataset from one provider's format to another.
    The input file is never changed. It does not deduplicate or split (use validate_jsonl and
    split_dataset)."""
    ws = current()
    src = ws.input_file(req.path)
    dest = ws.output_file(req.out, inputs=(src,))
    shown = ws.relative(src)
    kind = kind_of(src, req.input_type)
    dia: Dialect | None = dialect(src, kind, req.delimiter, shown) if kind in ("csv", "tsv") else None
    if kind == "jsonl":
        from tools.data.jsonl import sniff

        sniff(src, shown)
    mapping = _mapping(req)
    roles = _roles(req.roles)
    unit = "line" if kind in ("jsonl", "csv", "tsv") else "row"
    convert = _Converter(req, mapping, roles)
    tally = convert.tally
    total = written = 0
    with atomic_writer(dest) as out:
        for number, row in rows(src, kind, shown, dia):
            total += 1
            conv, reason = convert(row, number, f"{shown} {unit} {number}")
            if conv is None:
                tally.skip(number, reason or "unusable row")
                continue
            if req.system and conv.text is None and conv.system is None:
                conv.messages.insert(0, Message("system", req.system))
            obj, lost = render(conv, req.to)
            tally.note(tally.dropped, tally.dropped_first, lost, number)
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            written += 1
        if total == 0:
            raise ToolError("empty_input", f"{shown} has no rows", "check the file")
        if tally.odd:
            raise _unknown_roles(tally, shown, unit)
    result = _result(req, ws.relative(dest), total, written, unit, dia, tally)
    if req.validate_output and written:
        _validate(result, dest, req)
    return result


class _Converter:
    """Turns rows into conversations for one request, noting left-out fields and odd roles in the tally."""

    def __init__(self, req: PrepareRequest, mapping: dict[str, str] | None, roles: dict[str, str]) -> None:
        self.req, self.mapping, self.roles = req, mapping, roles
        self.tally = _Tally()
        self.seen = 0

    def __call__(self, row: Any, number: int, where: str) -> tuple[Conversation | None, str | None]:
        """The row's conversation, or None and why it is skipped."""
        self.seen += 1
        if isinstance(row, ToolError):
            return None, row.message
        if not isinstance(row, dict):
            return None, f"not an object ({type(row).__name__})"
        try:
            conv, unread = _read_row(row, self.req, self.mapping, self.roles, where)
        except KeyError as exc:
            if self.seen == 1:
                raise ToolError(
                    "bad_mapping",
                    str(exc.args[0]),
                    "give --map prompt=COLUMN,completion=COLUMN (fields: system, prompt, completion, text, chosen, "
                    "rejected); for another separator give --delimiter",
                ) from None
            return None, str(exc.args[0]).split(": ", 1)[-1]
        odd = sorted(set(odd_roles(conv)))
        if "?" in odd:
            return None, "a message is not a JSON object"
        if odd:
            self.tally.note(self.tally.odd, self.tally.odd_first, odd, number)
            return None, f"role(s) {', '.join(odd)} not mapped"
        reason = empty_reason(conv)
        if reason is not None:
            return None, reason
        self.tally.note(self.tally.fields, self.tally.fields_first, sorted(unread), number)
        return conv, None


def _result(
    req: PrepareRequest, out: str, total: int, written: int, unit: str, dia: Dialect | None, tally: _Tally
) -> PrepareResult:
    dropped = [Dropped(what=w, examples=n, first_row=tally.dropped_first[w]) for w, n in tally.dropped.most_common()]
    fields = [DroppedField(field=f, rows=n, first_row=tally.fields_first[f]) for f, n in tally.fields.most_common()]
    return PrepareResult(
        out=out,
        to=req.to,
        rows=total,
        written=written,
        row_unit=unit,  # type: ignore[arg-type]
        delimiter=dia.describe() if dia else None,
        skipped=tally.skipped,
        skipped_total=tally.skipped_total,
        dropped=dropped,
        dropped_fields=fields,
        lossless=not dropped and not fields and tally.skipped_total == 0,
    )


def _validate(result: PrepareResult, dest: Path, req: PrepareRequest) -> None:
    from tools.validate.models import ValidateRequest
    from tools.validate.validate_jsonl import validate_jsonl

    ws = current()
    report = dest.with_name(dest.name + ".validation.json")
    check = validate_jsonl(
        ValidateRequest(
            paths=[ws.relative(dest)], format=req.to, target=req.target, report=ws.relative(report), max_findings=5
        )
    )
    result.validation_ok = check.ok
    result.validation_errors = sum(c.count for c in check.counts if c.severity == "error")
    result.validation_report = check.report_markdown


__all__ = ["ColumnMap", "PrepareRequest", "PrepareResult", "RoleMap", "prepare_data"]
