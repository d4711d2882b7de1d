"""split_dataset: deterministic train/validation/test split that keeps near-duplicates together."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import Workspace, current, sha256_file
from tools.data.formats import detect_file, facts
from tools.split.fileset import FileSet
from tools.split.groups import Examples, assign, check_ratios, degenerate, read_examples
from tools.split.models import SPLITS, SplitPart, SplitRequest, SplitResult
from tools.split.runs_used import used_by, used_files


def _outputs(ws: Workspace, req: SplitRequest, src: Path, count: int) -> tuple[list[Path], Path]:
    stem = src.name[:-6] if src.name.endswith(".jsonl") else src.stem
    given = [req.train_out, req.val_out, req.test_out][:count]
    outs = [
        ws.output_file(o, inputs=(src,)) if o else ws.output_file(src.with_name(f"{stem}.{name}.jsonl"), inputs=(src,))
        for o, name in zip(given, SPLITS, strict=False)
    ]
    manifest = ws.output_file(req.manifest or src.with_name(f"{stem}.split.json"), inputs=(src,), what="manifest")
    if len({p for p in outs} | {manifest}) != len(outs) + 1:
        raise ToolError("output_is_input", "split outputs and the manifest must be distinct files", "give other names")
    return outs, manifest


def _check_runs(ws: Workspace, outs: list[Path], force: bool) -> None:
    """Refuse to replace a file a training run used (its config.json names the file and its sha256)."""
    used = used_files(ws)
    for path in outs:
        hit = used_by(path, used)
        if hit is None or force:
            continue
        run, same = hit
        state = "still holds the data it trained on" if same else "is the file it trained on (changed since)"
        raise ToolError(
            "output_used_by_run",
            f"{ws.relative(path)} {state}: run {run.run_id} (runs/{run.run_id}/config.json, {run.role}); replacing "
            "it would leave that run without the data it was trained on",
            "write the new split under other names (--train-out, --val-out, --test-out), or pass --force to replace it",
        )


def _stratify_error(ex: Examples, field: str) -> ToolError:
    first = ", ".join(map(str, ex.missing_stratum[:5]))
    return ToolError(
        "stratify_field_missing",
        f"--stratify {field!r}: the field is missing or null on {len(ex.missing_stratum)} of {len(ex.lines)} "
        f"lines (first: line {first})",
        "add the field to every line, stratify by a field every line has, or drop --stratify",
    )


@tool(effect="write", stage="data", destructive=True)
def split_dataset(req: SplitRequest) -> SplitResult:
    """Split a JSONL dataset into train, validation and test files, deterministically (same seed, same
    split), keeping exact and near-duplicates in the same split so nothing leaks, optionally
    stratified by a field. Writes the split files and a manifest with counts and content hashes as one set
    (the manifest last, so an interrupted run never leaves new files mixed with old ones).

    Refuses degenerate splits: shares that do not sum to 1, a split that would be empty or one group of
    near-duplicates, and a stratify field some lines lack. Will not replace split files that a training run
    used unless force is given. Use it after validate_jsonl and deduplication, before training; default
    shares are 80/10/10. It does not remove duplicates (it only keeps them together) and does not change
    the input file."""
    from tools.data.neardup import MinHasher

    ws = current()
    src = ws.input_file(req.path)
    shares = check_ratios(req.ratios or [0.8, 0.1, 0.1])
    names = SPLITS[: len(shares)]
    outs, manifest_path = _outputs(ws, req, src, len(shares))
    fmt = req.format or detect_file(src)
    if fmt is None:
        raise ToolError(
            "unknown_format",
            f"no supported format matches the lines of {ws.relative(src)}",
            "run finetune validate on it first",
        )
    q = facts().quality
    near = (
        (MinHasher(q.minhash_bands, q.minhash_rows, q.shingle_chars), q.near_dup_threshold, q.shingle_chars)
        if req.group_near_duplicates
        else None
    )
    ex = read_examples(src, fmt, req.stratify, near)
    if not ex.lines:
        raise ToolError("no_examples", f"{ws.relative(src)} has no usable examples", "run finetune validate on it")
    if req.stratify and ex.missing_stratum:
        raise _stratify_error(ex, req.stratify)
    assignment = assign(ex, shares, req.seed)
    problem = degenerate(ex, assignment, names, shares)
    if problem is not None:
        raise problem
    _check_runs(ws, outs, req.force)
    source_sha = sha256_file(src)
    with FileSet(ws.root, outs, manifest_path) as files:
        replaced = [ws.relative(p) for p in files.existing()]
        parts = _write_parts(ws, src, files, outs, names, ex, assignment, req.stratify is not None)
        result = SplitResult(
            parts=parts,
            examples=len(ex.lines),
            groups=len(set(ex.group_of)),
            grouped_examples=sum(len(g) for g in ex.multi),
            skipped_lines=ex.skipped[:100],
            seed=req.seed,
            manifest=ws.relative(manifest_path),
            replaced=replaced,
            leftovers_removed=files.stale,
        )
        manifest = {
            "source": ws.relative(src),
            "source_sha256": source_sha,
            "format": fmt,
            "ratios": shares,
            "seed": req.seed,
            "stratify": req.stratify,
            "near_duplicate_threshold": q.near_dup_threshold if near else None,
            **result.model_dump(exclude={"manifest", "replaced", "leftovers_removed"}),
        }
        files.commit((json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    return result


def _write_parts(
    ws: Workspace,
    src: Path,
    files: FileSet,
    outs: list[Path],
    names: tuple[str, ...],
    ex: Examples,
    assignment: list[int],
    stratified: bool,
) -> list[SplitPart]:
    """Copy every usable line, byte for byte, into the temporary file of its split; the parts' counts and hashes."""
    import contextlib

    split_of_line = dict(zip(ex.lines, assignment, strict=True))
    stratum_of_line = dict(zip(ex.lines, ex.strata, strict=True))
    digests = [hashlib.sha256() for _ in outs]
    whole = [hashlib.sha256() for _ in outs]
    counts = [0] * len(outs)
    strata: list[set[str]] = [set() for _ in outs]
    groups: list[set[int]] = [set() for _ in outs]
    index = {ln: i for i, ln in enumerate(ex.lines)}
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(files.open(p)) for p in outs]
        with src.open("rb") as raw_in:
            for number, raw in enumerate(raw_in, start=1):
                k = split_of_line.get(number)
                if k is None:
                    continue
                body = raw.rstrip(b"\r\n")
                if number == 1 and body.startswith(b"\xef\xbb\xbf"):
                    body = body[3:]
                handles[k].write(body + b"\n")
                whole[k].update(body + b"\n")
                digests[k].update(hashlib.sha256(body).digest())
                counts[k] += 1
                strata[k].add(stratum_of_line[number])
                groups[k].add(ex.group_of[index[number]])
    return [
        SplitPart(
            split=name,
            path=ws.relative(path),
            examples=counts[k],
            groups=len(groups[k]),
            sha256=whole[k].hexdigest(),
            content_sha256=digests[k].hexdigest(),
            strata=sorted(strata[k]) if stratified else None,
        )
        for k, (name, path) in enumerate(zip(names, outs, strict=True))
    ]


__all__ = ["SplitPart", "SplitRequest", "SplitResult", "split_dataset"]
