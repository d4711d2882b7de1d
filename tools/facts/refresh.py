"""Proposes updates to per-token inference prices and deprecation dates from LiteLLM's price map.

LiteLLM's ``model_prices_and_context_window.json`` (research/providers-costs-eval.md section 2.1) carries
per-token USD prices (``input_cost_per_token``, ``cache_read_input_token_cost``, ``output_cost_per_token``,
with ``_batches`` variants) and ``deprecation_date`` for base models and ``ft:<snapshot>`` fine-tuned
models. It has no training, hosting or storage fees, so only the ``inference`` rows of pricing.yaml are
touched - and only those that name a ``litellm_ft_key`` or ``litellm_base_key``.

The edit is textual (comments and layout stay as they are), the result is validated with the pricing
model before anything is written, and the change is returned as a unified diff for review.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from tools import knowledge
from tools.core.errors import ToolError

LITELLM_URL = "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
PER_MILLION = 1_000_000

FT_FIELDS = {  # pricing.yaml field -> LiteLLM key (before the tier suffix)
    "ft_input": "input_cost_per_token",
    "ft_cached_input": "cache_read_input_token_cost",
    "ft_output": "output_cost_per_token",
}
BASE_FIELDS = {
    "base_input": "input_cost_per_token",
    "base_cached_input": "cache_read_input_token_cost",
    "base_output": "output_cost_per_token",
}


@dataclass
class Change:
    row: str
    field: str
    old: Any
    new: Any


@dataclass
class RefreshResult:
    new_text: str
    diff: str
    changes: list[Change] = field(default_factory=list)
    missing_keys: list[str] = field(default_factory=list)
    unlisted_ft_keys: list[str] = field(default_factory=list)
    serving_mismatches: list[str] = field(default_factory=list)


def load_litellm(where: str) -> dict[str, Any]:
    """Read the price map from a file path or an http(s) URL."""
    try:
        if where.startswith(("https://", "http://")):
            with urllib.request.urlopen(where, timeout=30) as resp:  # noqa: S310 - user-given URL, read only
                text = resp.read().decode("utf-8")
        else:
            text = Path(where).read_text("utf-8")
    except OSError as exc:
        raise ToolError(
            "litellm_unreadable",
            f"cannot read {where}: {exc}",
            "give a local copy of model_prices_and_context_window.json or its raw GitHub URL",
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(
            "litellm_not_json",
            f"{where}: not JSON (line {exc.lineno}: {exc.msg})",
            "give LiteLLM's model_prices_and_context_window.json",
        ) from None
    if not isinstance(data, dict) or not any(isinstance(v, dict) and "litellm_provider" in v for v in data.values()):
        raise ToolError(
            "litellm_schema",
            f"{where}: does not look like LiteLLM's price map (no litellm_provider keys)",
            "give LiteLLM's model_prices_and_context_window.json",
        )
    return data


def _per_million(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(float(value) * PER_MILLION, 6)
    return None


def _fmt(value: float) -> str:
    whole, _, frac = f"{value:.6f}".rstrip("0").partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, int | float) and isinstance(new, int | float):
        return not math.isclose(float(old), float(new), rel_tol=1e-9, abs_tol=1e-9)
    return old != new


def _section_blocks(lines: list[str], section: str) -> list[tuple[int, int]]:
    """(start, end) line ranges of the list items of a top-level ``section:`` in block style."""
    try:
        start = lines.index(f"{section}:\n") if f"{section}:\n" in lines else lines.index(f"{section}:")
    except ValueError:
        raise ToolError(
            "pricing_layout", f"pricing.yaml has no top-level `{section}:` line", "keep the section headers at column 0"
        ) from None
    end = len(lines)
    for i in range(start + 1, len(lines)):
        if lines[i].strip() and not lines[i].startswith((" ", "#")):
            end = i
            break
    items = [i for i in range(start + 1, end) if re.match(r"^  - ", lines[i])]
    return [(s, items[k + 1] if k + 1 < len(items) else end) for k, s in enumerate(items)]


def _set_field(lines: list[str], start: int, end: int, name: str, value: str) -> None:
    """Set ``name: value`` inside one block-style list item (lines[start:end]), adding it if absent."""
    pattern = re.compile(rf"^(  - |    ){re.escape(name)}:\s*(.*?)\s*(#.*)?$")
    for i in range(start, end):
        m = pattern.match(lines[i].rstrip("\n"))
        if m:
            if m.group(2) != value:
                lines[i] = f"{m.group(1)}{name}: {value}\n"
            return
    for i in range(start, end):  # insert before `source:` to keep the provenance lines last
        if re.match(r"^(  - |    )source:", lines[i]):
            lines.insert(i, f"    {name}: {value}\n")
            return
    lines.insert(end, f"    {name}: {value}\n")


def refresh_pricing(
    litellm: dict[str, Any],
    pricing_path: Path,
    on: date,
    source_url: str = LITELLM_URL,
    providers_path: Path | None = None,
) -> RefreshResult:
    """Compute the updated pricing.yaml text and its diff; write nothing."""
    old_text = pricing_path.read_text("utf-8")
    parsed = knowledge.validate_facts(yaml.safe_load(old_text), knowledge.PricingFile, pricing_path.name)
    lines = old_text.splitlines(keepends=True)
    blocks = _section_blocks(lines, "inference")
    if len(blocks) != len(parsed.inference):
        raise ToolError(
            "pricing_layout",
            f"pricing.yaml inference: {len(parsed.inference)} rows but {len(blocks)} block-style items",
            "write inference rows in block style (one `key: value` per line)",
        )
    result = RefreshResult(new_text=old_text, diff="")
    # Edit from the last block up so earlier line numbers stay valid when a line is inserted.
    for row, (start, end) in reversed(list(zip(parsed.inference, blocks, strict=True))):
        label = f"{row.provider} / {row.model} / {row.tier}"
        updates: dict[str, Any] = {}
        deprecation: str | None = None
        for key, fields, suffix in (
            (row.litellm_ft_key, FT_FIELDS, row.litellm_price_suffix),
            (row.litellm_base_key, BASE_FIELDS, ""),
        ):
            if not key:
                continue
            entry = litellm.get(key)
            if not isinstance(entry, dict):
                result.missing_keys.append(f"{label}: {key}")
                continue
            for name, litellm_key in fields.items():
                new = _per_million(entry.get(litellm_key + suffix))
                if new is not None and _differs(getattr(row, name), new):
                    updates[name] = new
            if deprecation is None and isinstance(entry.get("deprecation_date"), str):
                deprecation = entry["deprecation_date"]
        if deprecation:
            try:
                new_until = date.fromisoformat(deprecation)
            except ValueError:
                new_until = None
            if new_until is not None and row.available_until != new_until:
                updates["available_until"] = new_until
        if not updates:
            continue
        for name, value in sorted(updates.items()):
            old = getattr(row, name)
            result.changes.append(Change(label, name, old, value))
            _set_field(lines, start, end, name, value.isoformat() if isinstance(value, date) else _fmt(value))
            end = next((i for i in range(start + 1, len(lines)) if re.match(r"^  - |^\S", lines[i])), len(lines))
        _set_field(lines, start, end, "source", source_url)
        _set_field(lines, start, end, "as_of", on.isoformat())
    result.changes.reverse()
    new_text = "".join(lines)
    knowledge.validate_facts(yaml.safe_load(new_text), knowledge.PricingFile, f"{pricing_path.name} (refreshed)")
    result.new_text = new_text
    result.diff = "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"a/reference/data/{pricing_path.name}",
            tofile=f"b/reference/data/{pricing_path.name}",
        )
    )

    known = {r.litellm_ft_key for r in parsed.inference if r.litellm_ft_key}
    result.unlisted_ft_keys = sorted(k for k in litellm if k.startswith("ft:") and k.count(":") <= 1 and k not in known)
    if providers_path is not None and providers_path.is_file():
        prov = knowledge.validate_facts(
            yaml.safe_load(providers_path.read_text("utf-8")), knowledge.ProvidersFile, providers_path.name
        )
        for p in prov.providers:
            if p.id != "openai":
                continue
            for m in p.models:
                entry = litellm.get(f"ft:{m.id}")
                dep = entry.get("deprecation_date") if isinstance(entry, dict) else None
                if isinstance(dep, str) and m.serving_until is not None and dep != m.serving_until.isoformat():
                    result.serving_mismatches.append(
                        f"providers.yaml {p.id}/{m.id}: serving_until {m.serving_until} but LiteLLM says {dep}"
                    )
    return result
