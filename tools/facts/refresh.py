"""Proposes updates to per-token inference prices and serving end dates from LiteLLM's price map.

LiteLLM ships ``model_prices_and_context_window_backup.json`` inside its package: USD *per token*
(``input_cost_per_token``, ``cache_read_input_token_cost``, ``output_cost_per_token``, with ``_batches``
variants) and ``deprecation_date`` for base models and ``ft:<snapshot>`` fine-tuned models. It is read from the
installed distribution (``pip install 'finetune-skill[facts]'``) through :mod:`importlib.metadata`, without
importing litellm (whose import fetches a remote copy); we never keep a copy of it.

It has no training, hosting or storage fees, so only the ``inference`` rows of pricing.yaml that name a
``litellm_ft_key`` or ``litellm_base_key`` are touched. LiteLLM is a secondary source: a row a provider's own
page supports (``basis: primary``) is never changed, only reported, and a change that
``negative_facts.yaml`` forbids (a per-token price for a fine-tune that can only run on a dedicated
deployment, say) is refused and reported. The edit is textual (comments and layout stay), the result is
validated before anything is written, and the change comes back as a unified diff for review.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from tools import knowledge
from tools.core.errors import ToolError

PER_MILLION = 1_000_000
DISTRIBUTION = "litellm"
PRICE_MAP = "litellm/model_prices_and_context_window_backup.json"

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
    source: str = ""
    changes: list[Change] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    kept_primary: list[str] = field(default_factory=list)
    missing_keys: list[str] = field(default_factory=list)
    unlisted_ft_keys: list[str] = field(default_factory=list)
    serving_mismatches: list[str] = field(default_factory=list)


def installed_price_map() -> tuple[Path, str]:
    """(path of the price map inside the installed litellm package, its version); litellm is not imported."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ToolError(
            "litellm_missing",
            "the litellm package is not installed, so there is no price map to read",
            "pip install 'finetune-skill[facts]' (or give --litellm with a copy of the map)",
        ) from None
    path = Path(str(dist.locate_file(PRICE_MAP)))
    if not path.is_file():
        raise ToolError(
            "litellm_missing",
            f"litellm {dist.version} has no {PRICE_MAP}",
            "install a litellm release that ships the price map (1.110 does)",
        )
    return path, dist.version


def source_url(version: str) -> str:
    return f"https://pypi.org/project/litellm/{version}/"


def load_litellm(path: Path) -> dict[str, Any]:
    """Read a LiteLLM price map (JSON); errors name the file and line."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ToolError(
            "litellm_unreadable",
            f"cannot read {path}: {exc.strerror or exc}",
            "give a readable copy of model_prices_and_context_window.json, or install litellm",
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(
            "litellm_not_json",
            f"{path}: not JSON (line {exc.lineno}: {exc.msg})",
            "give LiteLLM's model_prices_and_context_window.json",
        ) from None
    if not isinstance(data, dict) or not any(isinstance(v, dict) and "litellm_provider" in v for v in data.values()):
        raise ToolError(
            "litellm_schema",
            f"{path}: does not look like LiteLLM's price map (no litellm_provider keys)",
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


def _proposed(row: knowledge.InferencePrice, litellm: dict[str, Any], missing: list[str]) -> dict[str, Any]:
    """The fields LiteLLM would change in one inference row (prices per 1M tokens, serving end date)."""
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
            missing.append(f"{label}: {key}")
            continue
        for name, litellm_key in fields.items():
            new = _per_million(entry.get(litellm_key + suffix))
            if new is not None and _differs(getattr(row, name), new):
                updates[name] = new
        if deprecation is None and isinstance(entry.get("deprecation_date"), str):
            deprecation = entry["deprecation_date"]
    try:
        new_until = date.fromisoformat(deprecation) if deprecation else None
    except ValueError:
        new_until = None
    if new_until is not None and row.serving_until != new_until:
        updates["serving_until"] = new_until
    return updates


def _blocked(
    row: knowledge.InferencePrice, updates: dict[str, Any], negative: knowledge.NegativeFactsFile | None
) -> list[str]:
    if negative is None:
        return []
    trial = {**row.model_dump(mode="json"), **{k: str(v) if isinstance(v, date) else v for k, v in updates.items()}}
    return knowledge.violations(negative, {"pricing": {"inference": [trial]}})


def _apply(
    parsed: knowledge.PricingFile,
    lines: list[str],
    litellm: dict[str, Any],
    on: date,
    source: str,
    result: RefreshResult,
    negative: knowledge.NegativeFactsFile | None,
) -> None:
    blocks = _section_blocks(lines, "inference")
    if len(blocks) != len(parsed.inference):
        raise ToolError(
            "pricing_layout",
            f"pricing.yaml inference: {len(parsed.inference)} rows but {len(blocks)} block-style items",
            "write inference rows in block style (one `key: value` per line)",
        )
    # Edit from the last block up so earlier line numbers stay valid when a line is inserted.
    for row, (start, end) in reversed(list(zip(parsed.inference, blocks, strict=True))):
        label = f"{row.provider} / {row.model} / {row.tier}"
        updates = _proposed(row, litellm, result.missing_keys)
        if not updates:
            continue
        said = ", ".join(f"{k} {getattr(row, k)} -> {v}" for k, v in sorted(updates.items()))
        if row.basis == "primary":
            result.kept_primary.append(f"{label}: LiteLLM says {said}; kept (the row cites the provider's own page)")
            continue
        refused = _blocked(row, updates, negative)
        if refused:
            result.blocked.extend(refused)
            continue
        for name, value in sorted(updates.items()):
            result.changes.append(Change(label, name, getattr(row, name), value))
            _set_field(lines, start, end, name, value.isoformat() if isinstance(value, date) else _fmt(value))
            end = next((i for i in range(start + 1, len(lines)) if re.match(r"^  - |^\S", lines[i])), len(lines))
        _set_field(lines, start, end, "source", source)
        _set_field(lines, start, end, "checked", on.isoformat())
    result.changes.reverse()


def _serving_mismatches(litellm: dict[str, Any], providers_path: Path) -> list[str]:
    """OpenAI models whose serving end in providers.yaml differs from LiteLLM's ``ft:`` deprecation date."""
    prov = knowledge.load_facts_file(providers_path, knowledge.ProvidersFile)
    out = []
    for p in prov.providers:
        if p.id != "openai":
            continue
        for m in p.models:
            entry = litellm.get(f"ft:{m.id}")
            dep = entry.get("deprecation_date") if isinstance(entry, dict) else None
            until = m.known_serving_until()
            if isinstance(dep, str) and until is not None and dep != until.isoformat():
                out.append(f"providers.yaml {p.id}/{m.id}: serving_until {until} but LiteLLM says {dep}")
    return out


def refresh_pricing(
    litellm: dict[str, Any],
    pricing_path: Path,
    on: date,
    source: str = "https://pypi.org/project/litellm/",
    providers_path: Path | None = None,
    negative: knowledge.NegativeFactsFile | None = None,
) -> RefreshResult:
    """Compute the updated pricing.yaml text and its diff; write nothing."""
    old_text = pricing_path.read_text("utf-8")
    parsed = knowledge.load_facts_file(pricing_path, knowledge.PricingFile)
    lines = old_text.splitlines(keepends=True)
    result = RefreshResult(new_text=old_text, diff="", source=source)
    _apply(parsed, lines, litellm, on, source, result, negative)
    new_text = "".join(lines)
    raw = knowledge.prepare_raw(yaml.safe_load(new_text), f"{pricing_path.name} (refreshed)", pricing_path.parent)
    knowledge.validate_facts(raw, knowledge.PricingFile, f"{pricing_path.name} (refreshed)")
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
        result.serving_mismatches = _serving_mismatches(litellm, providers_path)
    return result
