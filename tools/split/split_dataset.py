"""split_dataset: deterministic train/validation/test split that keeps near-duplicates together."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field

from tools.core.errors import ToolError
from tools.core.fields import InputPath, OutputPath
from tools.core.registry import tool
from tools.core.workspace import atomic_writer, current, sha256_file
from tools.data.formats import FormatName, detect_file, facts, normalise

SPLITS = ("train", "val", "test")


class SplitRequest(BaseModel):
    path: InputPath = Field(description="The JSONL dataset to split (it is not changed).")
    ratios: list[float] | None = Field(
        None,
        description="Shares of train, validation and test; default [0.8, 0.1, 0.1]. Two values mean no test split.",
    )
    seed: int = Field(0, description="Seed; the same seed and file always give the same split.")
    stratify: str | None = Field(
        None,
        description="Top-level field (dotted path allowed, e.g. meta.task) to "
        "stratify by, so each split keeps its mix.",
    )
    group_near_duplicates: bool = Field(True, description="Keep each group of near-duplicates in one split.")
    format: FormatName | None = Field(None, description="Force the line format instead of detecting it.")
    train_out: OutputPath | None = Field(None, description="Default: <name>.train.jsonl beside the input.")
    val_out: OutputPath | None = Field(None, description="Default: <name>.val.jsonl beside the input.")
    test_out: OutputPath | None = Field(None, description="Default: <name>.test.jsonl beside the input.")
    manifest: OutputPath | None = Field(None, description="Default: <name>.split.json beside the input.")


class SplitPart(BaseModel):
    split: str
    path: str
    examples: int
    sha256: str
    content_sha256: str
    strata: list[str] | None = None


class SplitResult(BaseModel):
    parts: list[SplitPart]
    examples: int
    groups: int
    grouped_examples: int
    skipped_lines: list[int]
    seed: int
    manifest: str


def _get(obj: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


@tool(effect="write", stage="data")
def split_dataset(req: SplitRequest) -> SplitResult:
    """Split a JSONL dataset into train, validation and test files, deterministically (same seed, same
    split), keeping exact and near-duplicates in the same split so nothing leaks, optionally
    stratified by a field. Writes the split files and a manifest with counts and content hashes.

    Use it after validate_jsonl and deduplication, before training; default shares are 80/10/10. It
    does not remove duplicates (it only keeps them together) and does not change the input file."""
    import numpy as np

    from tools.data.jsonl import parse, read_lines
    from tools.data.neardup import MinHasher, UnionFind, candidate_pairs, jaccard, shingles
    from tools.validate.scan import conversation_key, dup_text, text_hash

    ws = current()
    src = ws.input_file(req.path)
    ratios = req.ratios or [0.8, 0.1, 0.1]
    if len(ratios) not in (2, 3) or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ToolError(
            "bad_ratios", f"ratios {ratios} must be 2 or 3 non-negative shares", "e.g. [0.8, 0.1, 0.1] or [0.9, 0.1]"
        )
    shares = [r / sum(ratios) for r in ratios]
    names = SPLITS[: len(shares)]
    fmt = req.format or detect_file(src)
    if fmt is None:
        raise ToolError(
            "unknown_format",
            f"no supported format matches the lines of {ws.relative(src)}",
            "run finetune validate on it first",
        )
    q = facts().quality
    hasher = MinHasher(q.minhash_bands, q.minhash_rows, q.shingle_chars) if req.group_near_duplicates else None

    lines: list[int] = []
    full: list[int] = []
    strata: list[str] = []
    texts: list[str] = []
    keys: list[Any] = []
    skipped: list[int] = []
    for line in read_lines(src):
        if line.text is None or line.blank:
            if line.text is None:
                skipped.append(line.number)
            continue
        obj, err = parse(line)
        if err is not None or not isinstance(obj, dict):
            skipped.append(line.number)
            continue
        conv = normalise(obj, fmt)
        lines.append(line.number)
        full.append(text_hash(conversation_key(conv.messages) + (conv.text or "")))
        strata.append(str(_get(obj, req.stratify)) if req.stratify else "")
        if hasher is not None:
            texts.append(dup_text(conv))
            if len(texts) >= 2000:
                keys.append(hasher.keys(texts))
                texts = []
    if hasher is not None and texts:
        keys.append(hasher.keys(texts))
    n = len(lines)
    if n == 0:
        raise ToolError("no_examples", f"{ws.relative(src)} has no usable examples", "run finetune validate on it")

    uf = UnionFind()
    first_of: dict[int, int] = {}
    for i, h in enumerate(full):
        if h in first_of:
            uf.union(first_of[h], i)
        else:
            first_of[h] = i
    if hasher is not None and n > 1:
        allkeys = np.concatenate(keys)
        ids = np.arange(n)
        mask = allkeys[:, 0] != 0
        cache: dict[int, Any] = {}
        by_line = {ln: i for i, ln in enumerate(lines)}
        needed: set[int] = set()
        pairs = list(candidate_pairs(allkeys[mask], ids[mask]))
        for a, b in pairs:
            needed.update((a, b))
        if needed:
            for line in read_lines(src):
                i = by_line.get(line.number)
                if i is None or i not in needed or line.text is None:
                    continue
                obj, err = parse(line)
                if err is None and isinstance(obj, dict):
                    cache[i] = shingles(dup_text(normalise(obj, fmt)), q.shingle_chars)
        for a, b in pairs:
            if a in cache and b in cache and jaccard(cache[a], cache[b]) >= q.near_dup_threshold:
                uf.union(a, b)
    group_of = np.arange(n)
    multi = uf.groups()
    for g in multi:
        group_of[g] = g[0]

    # assign whole groups, in a seeded order, to the split furthest below its share (per stratum)
    assignment = np.zeros(n, dtype=np.int8)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(int(group_of[i]), []).append(i)
    by_stratum: dict[str, list[int]] = {}
    for root in members:
        by_stratum.setdefault(strata[root], []).append(root)
    for stratum in sorted(by_stratum):
        roots = sorted(by_stratum[stratum], key=lambda r: hashlib.sha256(f"{req.seed}:{full[r]}".encode()).digest())
        total = sum(len(members[r]) for r in roots)
        counts = [0] * len(shares)
        for r in roots:
            size = len(members[r])
            deficit = [shares[k] * total - counts[k] for k in range(len(shares))]
            k = max(range(len(shares)), key=lambda j: (deficit[j], -j))
            counts[k] += size
            assignment[members[r]] = k

    split_of_line = dict(zip(lines, assignment.tolist(), strict=True))
    stem = src.name[:-6] if src.name.endswith(".jsonl") else src.stem
    outs_raw = [req.train_out, req.val_out, req.test_out][: len(shares)]
    outs = [
        ws.output_file(o, inputs=(src,)) if o else src.with_name(f"{stem}.{nm}.jsonl")
        for o, nm in zip(outs_raw, names, strict=True)
    ]
    if len({p.resolve() for p in outs} | {src.resolve()}) != len(outs) + 1:
        raise ToolError("output_is_input", "split outputs must be distinct new files", "give different names")
    import contextlib

    parts: list[SplitPart] = []
    digests = [hashlib.sha256() for _ in outs]
    counts = [0] * len(outs)
    strata_seen: list[set[str]] = [set() for _ in outs]
    stratum_of_line = dict(zip(lines, strata, strict=True))
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(atomic_writer(p, "wb", None)) for p in outs]
        with src.open("rb") as raw_in:
            for number, raw in enumerate(raw_in, start=1):
                k = split_of_line.get(number)
                if k is None:
                    continue
                body = raw.rstrip(b"\r\n")
                if number == 1 and body.startswith(b"\xef\xbb\xbf"):
                    body = body[3:]
                files[k].write(body + b"\n")
                digests[k].update(hashlib.sha256(body).digest())
                counts[k] += 1
                strata_seen[k].add(stratum_of_line[number])
    for nm, p, c, d, st in zip(names, outs, counts, digests, strata_seen, strict=True):
        parts.append(
            SplitPart(
                split=nm,
                path=ws.relative(p),
                examples=c,
                sha256=sha256_file(p),
                content_sha256=d.hexdigest(),
                strata=sorted(st) if req.stratify else None,
            )
        )
    manifest_path = ws.output_file(req.manifest, inputs=(src,)) if req.manifest else src.with_name(f"{stem}.split.json")
    result = SplitResult(
        parts=parts,
        examples=n,
        groups=len(members),
        grouped_examples=sum(len(g) for g in multi),
        skipped_lines=skipped[:100],
        seed=req.seed,
        manifest=ws.relative(manifest_path),
    )
    manifest = {
        "source": ws.relative(src),
        "source_sha256": sha256_file(src),
        "format": fmt,
        "ratios": shares,
        "seed": req.seed,
        "stratify": req.stratify,
        "near_duplicate_threshold": q.near_dup_threshold if hasher else None,
        **result.model_dump(exclude={"manifest"}),
    }
    with atomic_writer(manifest_path) as out:
        json.dump(manifest, out, indent=2)
    return result
