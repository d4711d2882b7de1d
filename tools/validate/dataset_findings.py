"""Dataset-level findings of validate_jsonl (duplicates, near-duplicates, leakage, contradictions,
outliers, refusals, system prompts), token statistics, and the JSON and markdown report."""

from __future__ import annotations

import json
from typing import Any

from tools.data.formats import Conversation, normalise
from tools.validate.models import (
    CodeCount,
    Distribution,
    FileSummary,
    Finding,
    TokenStats,
    ValidateRequest,
    ValidateResult,
)
from tools.validate.plain_chat import read_plain_chat
from tools.validate.scan import FileState, ScanRun, dup_text, lines_of

_SEV_ORDER = {"error": 0, "warning": 1, "info": 2}


def _equal_groups(column: Any, *, skip_zero: bool = False, part_rows: int = 100_000) -> Any:
    """Index arrays of rows with equal values (groups of 2 or more) in a uint64 hash column.

    Rows are processed in partitions by the top bits of the hash, so the temporaries of the sort stay
    small whatever the number of rows (memory flat in the file size)."""
    import numpy as np

    parts = 1
    while parts * part_rows < len(column) and parts < 1024:
        parts *= 2
    shift = np.uint64(64 - parts.bit_length() + 1) if parts > 1 else None
    for p in range(parts):
        if shift is None:
            idx = np.flatnonzero(column != 0) if skip_zero else np.arange(len(column))
        else:
            idx = np.flatnonzero((column >> shift) == np.uint64(p))
            if skip_zero:
                idx = idx[column[idx] != 0]
        if len(idx) < 2:
            continue
        values = column[idx]
        order = np.argsort(values, kind="stable")
        sv = values[order]
        bounds = np.flatnonzero(np.concatenate(([True], sv[1:] != sv[:-1], [True])))
        for i in np.flatnonzero(np.diff(bounds) > 1):
            yield idx[order[bounds[i] : bounds[i + 1]]]


def _fmt_lines(pairs: list[tuple[str, int]], multi: bool, limit: int = 12) -> str:
    shown = [f"{f}:{n}" if multi else str(n) for f, n in pairs[:limit]]
    more = f" (+{len(pairs) - limit} more)" if len(pairs) > limit else ""
    return ", ".join(shown) + more


class _Out:
    """The dataset findings being gathered; ``add`` takes (file, line) pairs and keeps the first 1000 lines."""

    def __init__(self, files: list[FileState]) -> None:
        self.items: list[Finding] = []
        self.multi = len(files) > 1
        self.first = files[0].shown if len(files) == 1 else "(all files)"

    def add(self, code: str, severity: str, message: str, pairs: list[tuple[str, int]] | None = None) -> None:
        file = pairs[0][0] if pairs and not self.multi else self.first
        self.items.append(
            Finding(
                code=code,
                severity=severity,  # type: ignore[arg-type]
                file=file,
                line=pairs[0][1] if pairs else None,
                message=message,
                lines=[n for _, n in pairs[:1000]] if pairs else None,
            )
        )


def dataset_findings(
    run: ScanRun, files: list[FileState], recs: Any, F: Any, limit: int | None, near: bool, content: Any
) -> list[Finding]:
    """Every finding about the dataset as a whole (duplicates, leakage, contradictions, outliers, near-duplicates,
    refusals, system prompts and the content checks), from the records and tallies of the scan."""
    from tools.validate import content_findings

    out = _Out(files)
    dup_of: dict[int, int] = {}
    if len(recs):
        dup_of = _exact(run, files, recs, out)
        _contradictions(run, files, recs, out)
        _lengths(files, recs, F, out)
        content_findings.repeated_answers(
            recs, content, lambda g: lines_of(recs, g, files), out.multi, _equal_groups, out.add
        )
    if near and len(recs) > 1:
        out.items += _near_duplicates(run, recs, files, F, dup_of, out.multi)
    _answers(run, F, out)
    _system_prompts(run, out)
    if run.content is not None:
        content_findings.findings(run.content.tallies, content, out.multi, out.add)
    return out.items


def _exact(run: ScanRun, files: list[FileState], recs: Any, out: _Out) -> dict[int, int]:
    """Exact duplicates and exact leakage; returns each duplicate's first copy (by record index)."""
    groups = sorted(_equal_groups(recs["full"]), key=lambda g: int(g[0]))
    file_col = recs["file"]
    leak = [g for g in groups if len(set(file_col[g].tolist())) > 1]
    inner = [g for g in groups if len(set(file_col[g].tolist())) == 1]
    dup_of: dict[int, int] = {}
    for g in groups:
        for j in g[1:]:
            dup_of[int(j)] = int(g[0])
    run.keep_groups("duplicate", inner, recs, files)
    run.keep_groups("leakage_exact", leak, recs, files)
    if inner:
        listing = "; ".join(_fmt_lines(lines_of(recs, g, files), out.multi, 6) for g in inner[:8])
        out.add(
            "duplicate",
            "warning",
            f"{sum(len(g) - 1 for g in inner)} exact duplicate examples in {len(inner)} groups "
            f"(lines {listing}{' ...' if len(inner) > 8 else ''}); keep one of each",
            [p for g in inner for p in lines_of(recs, g, files)],
        )
    if leak:
        listing = "; ".join(_fmt_lines(lines_of(recs, g, files), True, 6) for g in leak[:8])
        out.add(
            "leakage_exact",
            "error",
            f"{len(leak)} examples appear in more than one file ({listing}); evaluation would be inflated",
            [p for g in leak for p in lines_of(recs, g, files)],
        )
    return dup_of


def _contradictions(run: ScanRun, files: list[FileState], recs: Any, out: _Out) -> None:
    """The same prompt with different answers."""
    import numpy as np

    answer_col = recs["answer"]
    contra = sorted(
        (np.sort(g) for g in _equal_groups(recs["prompt"], skip_zero=True) if len(set(answer_col[g].tolist())) > 1),
        key=lambda g: int(g[0]),
    )
    run.keep_groups("contradiction", contra, recs, files)
    if contra:
        listing = "; ".join(_fmt_lines(lines_of(recs, g, files), out.multi, 6) for g in contra[:8])
        out.add(
            "contradiction",
            "warning",
            f"{len(contra)} prompts appear with different answers (lines {listing}); "
            "make the answers consistent or keep the best one",
            [p for g in contra for p in lines_of(recs, g, files)],
        )


def _lengths(files: list[FileState], recs: Any, F: Any, out: _Out) -> None:
    """Length outliers and the share of tokens that train."""
    import numpy as np

    totals = recs["total"]
    if len(recs) >= 20:
        med = float(np.median(totals))
        p99 = float(np.percentile(totals, 99))
        mult = F.quality.outlier_median_multiple
        big = np.flatnonzero((totals > p99) & (totals > mult * max(med, 1.0)))
        if len(big):
            big = big[np.argsort(-totals[big])]
            out.add(
                "length_outlier",
                "info",
                f"{len(big)} examples are over {mult:g}x the median length ({med:.0f} tokens) and above p99 "
                f"(lines {_fmt_lines(lines_of(recs, big, files), out.multi)}); check they are intended",
                lines_of(recs, big, files),
            )
    asst_share = float(recs["asst"].sum()) / max(float(totals.sum()), 1.0)
    if asst_share < F.quality.min_assistant_share:
        out.add(
            "low_assistant_share",
            "warning",
            f"only {asst_share:.1%} of tokens are assistant tokens that train; most of the cost is prompt",
        )


def _answers(run: ScanRun, F: Any, out: _Out) -> None:
    """Refusals and very short answers."""
    if run.refusal_count:
        share = run.refusal_count / max(run.assistant_turns, 1)
        sev = "warning" if share > F.refusals.max_share else "info"
        out.add(
            "refusal",
            sev,
            f"{run.refusal_count} assistant turns ({share:.1%}) are refusals or AI boilerplate "
            f"(lines {_fmt_lines(run.refusals, out.multi)}); "
            + (
                "above the " + f"{F.refusals.max_share:.0%} share that teaches the model to refuse"
                if sev == "warning"
                else "keep them only if the model should answer that way"
            ),
            run.refusals,
        )
    if run.short_count:
        out.add(
            "short_assistant",
            "warning",
            f"{run.short_count} assistant turns have fewer than {F.quality.min_assistant_tokens} tokens "
            f"(lines {_fmt_lines(run.short, out.multi)})",
            run.short,
        )


def _system_prompts(run: ScanRun, out: _Out) -> None:
    distinct = len(run.systems)
    with_sys = sum(e[0] for e in run.systems.values())
    if not (distinct > 1 or (distinct == 1 and run.no_system[0])) or distinct > 20:
        return
    ranked = sorted(run.systems.values(), key=lambda e: -e[0])
    parts = [f"{e[0]} use prompt #{k + 1} ({e[2]} chars, first at line {e[1][0][1]})" for k, e in enumerate(ranked[:4])]
    if run.no_system[0]:
        parts.append(f"{run.no_system[0]} have none (lines {_fmt_lines(run.no_system[1], out.multi)})")
    rare = [p for e in ranked[1:] for p in e[1]] + run.no_system[1]
    out.add(
        "inconsistent_system_prompt",
        "warning",
        f"{distinct} different system prompts across {with_sys + run.no_system[0]} examples: "
        + "; ".join(parts)
        + ". Train with the system prompt you will use at inference.",
        rare,
    )


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


def _near_duplicates(
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
            f"{size:,} share a band key, e.g. lines {_fmt_lines(pairs, multi, 4)} (similarity {spread} between them)"
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


def _dist(values: Any) -> Distribution:
    import numpy as np

    return Distribution(
        min=int(values.min()),
        median=float(np.median(values)),
        p95=float(np.percentile(values, 95)),
        max=int(values.max()),
        mean=round(float(values.mean()), 1),
    )


def token_stats(recs: Any, counter: Any, limit: int | None) -> TokenStats | None:
    if not len(recs):
        return None
    total, asst, billed = recs["total"], recs["asst"], recs["billed"]
    return TokenStats(
        method=counter.method,
        approximate=counter.approximate,
        examples=len(recs),
        total=_dist(total),
        assistant=_dist(asst),
        billed=_dist(billed),
        billed_sum=int(billed.astype("int64").sum() if not limit else billed.clip(max=limit).astype("int64").sum()),
        assistant_share=round(float(asst.sum()) / max(float(total.sum()), 1.0), 4),
        limit=limit,
        over_limit=int((billed > limit).sum()) if limit else 0,
    )


def finish_findings(
    run: ScanRun,
    files: list[FileState],
    dataset: list[Finding],
    tokens: TokenStats | None,
    spool_name: str,
    req: ValidateRequest,
    ws: Any,
    notes: list[str] | None = None,
) -> ValidateResult:
    from tools.core.workspace import atomic_writer

    for f in dataset:
        run.counts[(f.code, f.severity)] += 1
    counts = sorted(
        (CodeCount(code=c, severity=s, count=n) for (c, s), n in run.counts.items()),  # type: ignore[arg-type]
        key=lambda c: (_SEV_ORDER[c.severity], -c.count, c.code),
    )
    ranked = sorted(dataset + run.kept, key=lambda f: (_SEV_ORDER[f.severity], f.line is not None, f.file, f.line or 0))
    errors = sum(c.count for c in counts if c.severity == "error")
    summaries = [
        FileSummary(
            path=fs.shown,
            format=fs.fmt,
            target=fs.target.id,
            lines=fs.lines,
            examples=fs.examples,
            errors=sum(n for (c, s), n in fs.counts.items() if s == "error"),
            warnings=sum(n for (c, s), n in fs.counts.items() if s == "warning"),
        )
        for fs in files
    ]
    for f in dataset:
        for s in summaries:
            if f.file == s.path or f.file == "(all files)":
                if f.severity == "error":
                    s.errors += 1
                elif f.severity == "warning":
                    s.warnings += 1
    if req.report:
        report = ws.output_file(req.report, inputs=tuple(fs.path for fs in files))
    else:
        report = ws.state_dir / "reports" / f"{files[0].path.stem}.validation.json"
    md_path = report.with_suffix(".md")
    head = {
        "ok": errors == 0,
        "files": [s.model_dump() for s in summaries],
        "counts": [c.model_dump() for c in counts],
        "tokens": tokens.model_dump() if tokens else None,
        "notes": notes or [],
        "dataset_findings": [f.model_dump() for f in dataset],
        "groups": run.groups,
    }
    total_findings = sum(run.counts.values())
    with atomic_writer(report) as out:
        body = json.dumps(head, indent=1)
        out.write(body[:-2] + ',\n "line_findings": [\n')
        with open(spool_name, encoding="utf-8") as spool:
            first = True
            for row in spool:
                out.write(("" if first else ",\n") + row.rstrip("\n"))
                first = False
        out.write("\n ]\n}\n")
    with atomic_writer(md_path) as md:
        md.write(_markdown(summaries, counts, tokens, dataset, spool_name, notes or []))
    return ValidateResult(
        ok=errors == 0,
        files=summaries,
        counts=counts,
        findings=ranked[: req.max_findings],
        findings_total=total_findings,
        tokens=tokens,
        report_json=ws.relative(report),
        report_markdown=ws.relative(md_path),
        notes=notes or [],
    )


def _markdown(
    files: list[FileSummary],
    counts: list[CodeCount],
    tokens: TokenStats | None,
    dataset: list[Finding],
    spool_name: str,
    notes: list[str],
    limit: int = 500,
) -> str:
    lines = ["# Dataset validation report", ""]
    if notes:
        lines += [f"- {note}" for note in notes] + [""]
    lines += ["| file | format | target | lines | examples | errors | warnings |", "|---|---|---|---|---|---|---|"]
    lines += [
        f"| {f.path} | {f.format} | {f.target} | {f.lines} | {f.examples} | {f.errors} | {f.warnings} |" for f in files
    ]
    if tokens:
        approx = " (approximate: not the model's own tokenizer)" if tokens.approximate else ""
        lines += [
            "",
            f"## Tokens ({tokens.method}{approx})",
            "",
            "| per example | min | median | p95 | max |",
            "|---|---|---|---|---|",
        ]
        for name in ("total", "assistant", "billed"):
            d = getattr(tokens, name)
            lines.append(f"| {name} | {d.min} | {d.median:g} | {d.p95:g} | {d.max} |")
        lines += [
            "",
            f"Billed tokens per epoch: {tokens.billed_sum:,}; assistant share {tokens.assistant_share:.1%}"
            + (f"; {tokens.over_limit} over the {tokens.limit:,}-token limit" if tokens.limit else ""),
        ]
    lines += ["", "## Counts", "", "| code | severity | count |", "|---|---|---|"]
    lines += [f"| {c.code} | {c.severity} | {c.count} |" for c in counts]
    if dataset:
        lines += ["", "## Dataset findings", ""]
        lines += [f"- **{f.code}** ({f.severity}): {f.message}" for f in dataset]
    lines += ["", "## Line findings", ""]
    with open(spool_name, encoding="utf-8") as spool:
        for k, row in enumerate(spool):
            if k >= limit:
                lines.append("- ... see the JSON report for the rest")
                break
            f = json.loads(row)
            lines.append(f"- {f['file']}:{f['line'] or '-'} **{f['code']}** ({f['severity']}): {f['message']}")
    return "\n".join(lines) + "\n"
