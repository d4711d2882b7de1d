"""The examples of a dataset as groups (exact and near-duplicates together) and their assignment to splits."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError


@dataclass
class Examples:
    """The usable lines of a file: line number, content hash, stratum, and the group each belongs to."""

    lines: list[int] = field(default_factory=list)
    hashes: list[int] = field(default_factory=list)
    strata: list[str] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    missing_stratum: list[int] = field(default_factory=list)
    group_of: list[int] = field(default_factory=list)  # the first member's index, per example
    multi: list[list[int]] = field(default_factory=list)  # groups with more than one member

    def members(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i, g in enumerate(self.group_of):
            out.setdefault(g, []).append(i)
        return out


def field_value(obj: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def read_examples(src: Path, fmt: str, stratify: str | None, near: tuple[Any, float, int] | None) -> Examples:
    """Read every line of ``src``; ``near`` is (MinHasher, Jaccard threshold, shingle size) or None."""
    from tools.data.formats import normalise
    from tools.data.jsonl import parse, read_lines
    from tools.data.neardup import UnionFind
    from tools.validate.scan import conversation_key, dup_text, text_hash

    ex = Examples()
    texts: list[str] = []
    keys: list[Any] = []
    for line in read_lines(src):
        if line.text is None or line.blank:
            if line.text is None:
                ex.skipped.append(line.number)
            continue
        obj, err = parse(line)
        if err is not None or not isinstance(obj, dict):
            ex.skipped.append(line.number)
            continue
        conv = normalise(obj, fmt)
        ex.lines.append(line.number)
        ex.hashes.append(text_hash(conversation_key(conv.messages) + (conv.text or "")))
        value = field_value(obj, stratify) if stratify else ""
        if value is None:
            ex.missing_stratum.append(line.number)
        ex.strata.append(str(value))
        if near is not None:
            texts.append(dup_text(conv))
            if len(texts) >= 2000:
                keys.append(near[0].keys(texts))
                texts = []
    if near is not None and texts:
        keys.append(near[0].keys(texts))
    uf = UnionFind()
    first_of: dict[int, int] = {}
    for i, h in enumerate(ex.hashes):
        if h in first_of:
            uf.union(first_of[h], i)
        else:
            first_of[h] = i
    if near is not None and len(ex.lines) > 1:
        _join_near(src, fmt, ex, keys, near, uf)
    ex.group_of = list(range(len(ex.lines)))
    ex.multi = uf.groups()
    for g in ex.multi:
        for i in g:
            ex.group_of[i] = g[0]
    return ex


def _join_near(src: Path, fmt: str, ex: Examples, keys: list[Any], near: tuple[Any, float, int], uf: Any) -> None:
    """Union the MinHash candidate pairs whose exact shingle Jaccard reaches the threshold."""
    import numpy as np

    from tools.data.formats import facts, normalise
    from tools.data.jsonl import parse, read_lines
    from tools.data.neardup import candidate_pairs, jaccard, shingles
    from tools.validate.scan import dup_text

    _, threshold, width = near
    allkeys = np.concatenate(keys)
    ids = np.arange(len(ex.lines))
    mask = allkeys[:, 0] != 0
    pairs = list(candidate_pairs(allkeys[mask], ids[mask], facts().quality.max_bucket))
    needed = {i for pair in pairs for i in pair}
    by_line = {ln: i for i, ln in enumerate(ex.lines)}
    cache: dict[int, Any] = {}
    if needed:
        for line in read_lines(src):
            i = by_line.get(line.number)
            if i is None or i not in needed or line.text is None:
                continue
            obj, err = parse(line)
            if err is None and isinstance(obj, dict):
                cache[i] = shingles(dup_text(normalise(obj, fmt)), width)
    for a, b in pairs:
        if a in cache and b in cache and jaccard(cache[a], cache[b]) >= threshold:
            uf.union(a, b)


def assign(ex: Examples, shares: list[float], seed: int) -> list[int]:
    """The split index of every example: whole groups, in a seeded order, go to the split furthest below its
    share (per stratum); a group goes to a split it fits in when one has room, so large groups do not fill a
    small split on their own."""
    members = ex.members()
    assignment = [0] * len(ex.lines)
    by_stratum: dict[str, list[int]] = {}
    for root in members:
        by_stratum.setdefault(ex.strata[root], []).append(root)
    for stratum in sorted(by_stratum):
        roots = sorted(by_stratum[stratum], key=lambda r: hashlib.sha256(f"{seed}:{ex.hashes[r]}".encode()).digest())
        total = sum(len(members[r]) for r in roots)
        counts = [0] * len(shares)
        for r in roots:
            size = len(members[r])
            deficit = [shares[k] * total - counts[k] for k in range(len(shares))]
            room = [k for k in range(len(shares)) if deficit[k] >= size]
            k = max(room or range(len(shares)), key=lambda j: (deficit[j], -j))
            counts[k] += size
            for i in members[r]:
                assignment[i] = k
    return assignment


def check_ratios(ratios: list[float]) -> list[float]:
    if len(ratios) not in (2, 3):
        raise ToolError(
            "bad_ratios",
            f"ratios {ratios} must be 2 shares (train, validation) or 3 (train, validation, test)",
            "e.g. 0.8,0.1,0.1 or 0.9,0.1",
        )
    if any(r <= 0 for r in ratios):
        raise ToolError(
            "bad_ratios",
            f"ratios {ratios}: every share must be above 0 (a share of 0 makes an empty split)",
            "for no test split give two shares, e.g. 0.9,0.1",
        )
    total = sum(ratios)
    if abs(total - 1.0) > 1e-6:
        raise ToolError(
            "bad_ratios",
            f"ratios {ratios} sum to {total:g}, not 1",
            "give shares of the whole that sum to 1, e.g. 0.8,0.1,0.1",
        )
    return list(ratios)


def degenerate(ex: Examples, assignment: list[int], names: tuple[str, ...], shares: list[float]) -> ToolError | None:
    """An error when a split would be empty or one group of duplicates (an effective size of 1)."""
    groups: list[set[int]] = [set() for _ in names]
    sizes = [0] * len(names)
    for i, k in enumerate(assignment):
        groups[k].add(ex.group_of[i])
        sizes[k] += 1
    bad = [(names[k], sizes[k], len(groups[k])) for k in range(len(names)) if len(groups[k]) < 2]
    if not bad:
        return None
    total_groups = len(set(ex.group_of))
    needed = _groups_needed(shares)
    what = "; ".join(
        f"{name} would be empty"
        if size == 0
        else f"{name} would hold {size} example(s) in {g} group (an effective size of 1)"
        for name, size, g in bad
    )
    biggest = max((len(g) for g in ex.multi), default=1)
    note = f"; the largest near-duplicate group holds {biggest} examples" if biggest > 1 else ""
    fixes = [f"add examples (about {needed} groups are needed, there are {total_groups})"]
    if len(shares) == 3:
        fixes.append("give two splits (e.g. --ratios 0.8,0.2)")
    if biggest > 1:
        fixes.append("if the grouped lines are not really duplicates, split with --no-near-duplicate-groups")
    return ToolError(
        "degenerate_split",
        f"{what}: {len(ex.lines)} examples in {_plural(total_groups, 'group')}{note}; each split needs at least "
        f"2 groups (ratios {', '.join(f'{s:g}' for s in shares)})",
        "; or ".join(fixes),
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _groups_needed(shares: list[float]) -> int:
    """Groups so that the smallest share still gets 2 of them."""
    return math.ceil(2 / min(shares) - 1e-9)
