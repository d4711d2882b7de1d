"""Raw fact files before validation: review ages from a file's ``expiry`` list, and rows that refer to a row
of another file instead of repeating it.

Two things are settled here, on the parsed YAML, so that the loaders and ``facts check`` see the same rows:

- ``expiry`` (a list at the top of a file): each entry names a ``section`` (a list key, at any depth:
  ``training``, ``offers``, ``models``...) and the ``days`` its rows may be relied on, counted by ``clock``.
  Rows without their own ``review_days`` / ``clock`` get them. A top-level ``review_days`` does the same for
  every row of the file not covered by an expiry entry.
- ``from`` (in a row): ``{file: training, section: hyperparameters, match: {method: any, name: epochs},
  field: default}`` takes ``value`` and the provenance (source, dates, basis, review age) from that row, so a
  default has one home and the other file points at it.

Nothing here imports the rest of the package; the reader of other files is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PROVENANCE = ("source", "checked", "source_date", "as_of", "basis", "review_days", "clock")


class ResolveError(ValueError):
    """A reference or expiry entry that cannot be applied; the message names the row."""


def _rows_under(node: Any, key: str) -> list[dict[str, Any]]:
    """Every dict in a list stored under ``key`` anywhere in ``node``."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for k, value in node.items():
            if k == key and isinstance(value, list):
                found.extend(v for v in value if isinstance(v, dict))
            found.extend(_rows_under(value, key))
    elif isinstance(node, list):
        for value in node:
            found.extend(_rows_under(value, key))
    return found


def _all_rows(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "source" in node or "as_of" in node or "checked" in node:
            found.append(node)
        for value in node.values():
            found.extend(_all_rows(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_all_rows(value))
    return found


def apply_expiry(raw: Any) -> Any:
    """Give rows the review age and clock of their section's expiry entry (in place; returns ``raw``)."""
    if not isinstance(raw, dict):
        return raw
    for entry in raw.get("expiry") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("section"), str):
            raise ResolveError(f"expiry entry {entry!r}: needs section and days")
        for row in _rows_under({k: v for k, v in raw.items() if k != "expiry"}, entry["section"]):
            row.setdefault("review_days", entry.get("days"))
            row.setdefault("clock", entry.get("clock", "source_date"))
    file_days = raw.get("review_days")
    if isinstance(file_days, int):
        for row in _all_rows({k: v for k, v in raw.items() if k != "expiry"}):
            row.setdefault("review_days", file_days)
    return raw


def _matches(row: dict[str, Any], match: dict[str, Any]) -> bool:
    return all(row.get(k) == v for k, v in match.items())


def resolve_refs(raw: Any, read: Callable[[str], Any], label: str) -> Any:
    """Replace every row's ``from`` by the referred row's value and provenance (in place; returns ``raw``).

    ``read(name)`` returns another file's parsed YAML with its expiry applied. A row may keep its own ``why``;
    without one it gets the referred row's note.
    """
    for row in _ref_rows(raw):
        ref = row.pop("from")
        if not isinstance(ref, dict) or not {"file", "section", "match", "field"} <= set(ref):
            raise ResolveError(f"{label}: `from` in {row.get('name', row)!r} needs file, section, match and field")
        target_raw = read(str(ref["file"]))
        rows = [r for r in (target_raw or {}).get(ref["section"], []) if isinstance(r, dict)]
        hits = [r for r in rows if _matches(r, ref["match"])]
        if len(hits) != 1:
            raise ResolveError(
                f"{label}: {row.get('name', '?')} refers to {ref['file']}.yaml {ref['section']} {ref['match']}, "
                f"which matches {len(hits)} rows (need exactly one)"
            )
        target = hits[0]
        if ref["field"] not in target:
            raise ResolveError(f"{label}: {ref['file']}.yaml row {ref['match']} has no field {ref['field']!r}")
        row["value"] = target[ref["field"]]
        for key in PROVENANCE:
            if key in target:
                row[key] = target[key]
        row.setdefault("why", target.get("note") or f"{ref['file']}.yaml {ref['section']} {ref['match']}")
    return raw


def _ref_rows(node: Any) -> list[dict[str, Any]]:
    """Rows that refer to another file's row."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "from" in node:
            found.append(node)
        for value in node.values():
            found.extend(_ref_rows(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_ref_rows(value))
    return found
