"""Near-duplicates and near leakage for validate_jsonl: MinHash LSH candidates (tools/data/neardup.py) confirmed by
exact Jaccard on re-read texts, grouped by union-find; crowded buckets (templated data) become one finding."""

from __future__ import annotations

from typing import Any

from tools.data.formats import Conversation, normalise
from tools.validate.models import Finding
from tools.validate.plain_chat import read_plain_chat
from tools.validate.scan import FileState, ScanRun, dup_text, fmt_lines, lines_of


def _chunks(items: Any, size: int) -> Any:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _ShingleReader:
    """Shingle sets of examples by record index, re-read from their files in offset order and shingled in batches
    (memory holds one chunk of candidate pairs' texts)."""

    def __init__(self, recs: Any, files: list[FileState], n: int) -> None:
        self.files, self.n = files, n
        self.offsets, self.file_col = recs["offset"], recs["file"]
        self.handles: dict[int, Any] = {}

    def __enter__(self) -> _ShingleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles.values():
            handle.close()

    def _text(self, i: int) -> str:
        from tools.data.jsonl import Line, parse

        fi = int(self.file_col[i])
        fs = self.files[fi]
        handle = self.handles.get(fi)
        if handle is None:
            handle = self.handles[fi] = fs.path.open("rb")
        handle.seek(int(self.offsets[i]))
        text = handle.readline().decode("utf-8", "replace").lstrip("\ufeff")
        obj, _ = parse(Line(0, 0, text))
        if not isinstance(obj, dict):
            return dup_text(Conversation())
        plain = read_plain_chat(obj, fs.target, []) if fs.fmt == "openai_chat" else None
        return dup_text(plain[0] if plain is not None else normalise(obj, fs.fmt or "openai_chat"))

    def sets(self, wanted: set[int]) -> dict[int, Any]:
        from tools.data.neardup import shingle_sets

        order = sorted(wanted, key=lambda i: (int(self.file_col[i]), int(self.offsets[i])))
        out: dict[int, Any] = {}
        for start in range(0, len(order), 512):  # the batch's temporaries are ~25 bytes per character
            part = order[start : start + 512]
            out.update(zip(part, shingle_sets([self._text(i) for i in part], self.n), strict=True))
        return out


# Forking per batch of pairs costs more than it saves at the 2,048-pair batches the search confirms (measured on
# the templated 200k file: 2 workers took 2.5x the wall time of 1), so only a much larger batch is split.
_PARALLEL_MIN_PAIRS = 16384


def _confirm_pairs(
    pairs: list[tuple[int, int]], recs: Any, files: list[FileState], n: int, threshold: float
) -> list[tuple[int, int, float]]:
    """The candidate pairs whose exact shingle Jaccard reaches ``threshold``, with it; a large batch is split into
    one part per worker, the others confirmed by forked processes (each opens its own file handles)."""
    from tools.core.forked import fan_out, workers

    def confirm(part: list[tuple[int, int]]) -> list[tuple[int, int, float]]:
        from tools.data.neardup import jaccard

        with _ShingleReader(recs, files, n) as reader:
            sets = reader.sets({i for pair in part for i in pair})
        return [(a, b, sim) for a, b in part if (sim := jaccard(sets[a], sets[b])) >= threshold]

    parts = min(workers(), max(1, len(pairs) // _PARALLEL_MIN_PAIRS))
    if parts <= 1:
        return confirm(pairs)
    size = -(-len(pairs) // parts)
    cut = [pairs[k : k + size] for k in range(0, len(pairs), size)]
    mine, theirs = fan_out(
        lambda: confirm(cut[0]),
        [lambda part=part: confirm(part) for part in cut[1:]],
        tmp=recs.dir,
        what="confirming near-duplicate pairs",
    )
    return mine + [row for rows in theirs for row in rows]


class _Joined:
    """Union-find over confirmed pairs, with each example's most similar pair (within a file and across files)."""

    def __init__(self, file_col: Any) -> None:
        from tools.data.neardup import UnionFind

        self.uf = UnionFind()
        self.file_col = file_col
        self.best: dict[int, tuple[float, int, int]] = {}
        self.best_cross: dict[int, tuple[float, int, int]] = {}

    def join(self, a: int, b: int, sim: float) -> None:
        self.uf.union(a, b)
        table = self.best_cross if self.file_col[a] != self.file_col[b] else self.best
        for x in (a, b):
            if sim > table.get(x, (0.0, 0, 0))[0]:
                table[x] = (sim, a, b)


def near_duplicates(
    run: ScanRun, recs: Any, files: list[FileState], F: Any, dup_of: dict[int, int], multi: bool
) -> list[Finding]:
    """Near-duplicate groups and near leakage from MinHash LSH candidates confirmed by exact Jaccard.

    Candidate pairs already joined (directly or through others) or already rejected are not confirmed again, and a
    bucket too large to pair up marks its examples as crowded (templated data) instead of making pairs: near-linear
    work on low-diversity files, reported as one low_diversity finding."""
    import numpy as np

    from tools.data.neardup import Crowded, candidate_pairs_banded

    usable = recs.band(0) != 0
    if dup_of:
        usable[np.fromiter(dup_of, dtype=np.int64, count=len(dup_of))] = False
    idx = np.flatnonzero(usable)
    del usable
    if len(idx) < 2:
        return []
    q = F.quality
    prompts = recs["prompt"]
    joined = _Joined(recs["file"])
    crowded = Crowded(len(idx))
    rejected: set[tuple[int, int]] = set()
    find = joined.uf.find

    def fresh(pairs: Any) -> Any:
        for a, b in pairs:
            if (prompts[a] != 0 and prompts[a] == prompts[b]) or (a, b) in rejected or find(a) == find(b):
                continue  # a contradiction (same prompt), already judged, or already in one group
            yield a, b

    candidates = candidate_pairs_banded(lambda j: recs.band(j)[idx], recs.bands, idx, q.max_bucket, crowded, find=find)
    for chunk in _chunks(fresh(candidates), 2048):
        confirmed = _confirm_pairs(chunk, recs, files, q.shingle_chars, q.near_dup_threshold)
        for a, b, sim in confirmed:
            joined.join(a, b, sim)
        if len(rejected) < 2_000_000:
            rejected.update(set(chunk) - {(a, b) for a, b, _ in confirmed})
    out = _near_findings(run, recs, files, F, joined, multi)
    if crowded.count:
        out.append(_crowded_finding(recs, files, F, crowded, len(idx), multi))
    return out


def _near_findings(
    run: ScanRun, recs: Any, files: list[FileState], F: Any, joined: _Joined, multi: bool
) -> list[Finding]:
    threshold, n_sh = F.quality.near_dup_threshold, F.quality.shingle_chars
    best, best_cross = joined.best, joined.best_cross
    all_groups = joined.uf.groups()
    within = {tuple(g): max(best[i] for i in g if i in best) for g in all_groups if any(i in best for i in g)}
    across = {
        tuple(g): max(best_cross[i] for i in g if i in best_cross)
        for g in all_groups
        if any(i in best_cross for i in g)
    }
    inner = sorted((list(g) for g in within), key=lambda g: (-within[tuple(g)][0], g[0]))  # most similar first
    cross = sorted((list(g) for g in across), key=lambda g: (-across[tuple(g)][0], g[0]))

    def listing_of(gs: list[list[int]], many: bool, top: dict[tuple[int, ...], tuple[float, int, int]]) -> str:
        parts = []
        for g in gs[:8]:
            sim, a, b = top[tuple(g)]
            (fa, la), (fb, lb) = lines_of(recs, sorted((a, b)), files)
            pair = f"{fa}:{la}~{fb}:{lb}" if many else f"{la}~{lb}"
            parts.append(f"{pair} ({sim:.2f}" + (f", group of {len(g)})" if len(g) > 2 else ")"))
        return ", ".join(parts)

    out: list[Finding] = []
    run.keep_groups("near_duplicate", inner, recs, files)
    run.keep_groups("leakage_near", cross, recs, files)
    first = files[0].shown if len(files) == 1 else "(all files)"
    if inner:
        listing = listing_of(inner, multi, within)
        pairs = [p for g in inner for p in lines_of(recs, g, files)]
        out.append(
            Finding(
                code="near_duplicate",
                severity="warning",
                file=first,
                line=pairs[0][1],
                message=f"{len(inner)} groups of near-duplicates (similarity >= {threshold:g} on "
                f"{n_sh}-character shingles) covering {sum(len(g) for g in inner)} examples; "
                f"closest pairs: {listing}"
                f"{' ...' if len(inner) > 8 else ''}; "
                "they over-weight one example and leak across splits",
                lines=[n for _, n in pairs[:1000]],
            )
        )
    if cross:
        listing = listing_of(cross, True, across)
        pairs = [p for g in cross for p in lines_of(recs, g, files)]
        out.append(
            Finding(
                code="leakage_near",
                severity="warning",
                file="(all files)",
                line=pairs[0][1],
                message=f"{len(cross)} near-duplicate groups span more than one file; closest pairs: {listing}",
                lines=[n for _, n in pairs[:1000]],
            )
        )
    return out


def _crowded_finding(recs: Any, files: list[FileState], F: Any, crowded: Any, judged: int, multi: bool) -> Finding:
    """One finding for the examples in buckets too large to pair: what share, the largest groups, sampled
    similarities inside them."""
    q = F.quality
    parts = []
    shown_lines: list[tuple[str, int]] = []
    for size, members in crowded.largest[:4]:
        sample = [int(x) for x in members[:6]]
        sampled = list(zip(sample, sample[1:], strict=False))
        sims = [sim for _, _, sim in _confirm_pairs(sampled, recs, files, q.shingle_chars, 0.0)]
        pairs = lines_of(recs, sample, files)
        shown_lines += pairs
        spread = f"{min(sims):.2f}-{max(sims):.2f}" if sims else "n/a"
        parts.append(
            f"{size:,} share a band key, e.g. lines {fmt_lines(pairs, multi, 4)} (similarity {spread} between them)"
        )
    share = crowded.count / max(judged, 1)
    return Finding(
        code="low_diversity",
        severity="warning",
        file=files[0].shown if len(files) == 1 else "(all files)",
        line=shown_lines[0][1] if shown_lines else None,
        message=f"{crowded.count:,} of {judged:,} examples ({share:.0%}) sit in crowds of near-identical texts "
        f"(more than {q.max_bucket} in one MinHash bucket): {'; '.join(parts)}. The data looks generated from "
        "templates or a small vocabulary, so the model learns the template rather than the task; near-duplicates "
        "inside these crowds are not listed pair by pair. Vary the examples, or keep a few per template "
        "(--no-near-duplicates skips this search)",
        lines=[n for _, n in shown_lines],
    )
