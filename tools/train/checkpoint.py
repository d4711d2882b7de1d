"""Checkpoints, the adapter and merged weights of a local run.

The Trainer writes ``checkpoint-<step>/`` (adapter weights, optimizer, scheduler, RNG states, and
``trainer_state.json`` last); a checkpoint counts as complete once that file is there, so one a kill cut short is
never resumed from (it is removed first). The adapter and merged weights are written to a temporary folder and
renamed, so a killed run never leaves half of one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from tools.core.workspace import write_text_atomic

CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def complete_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first."""
    found = []
    for p in folder.glob("checkpoint-*"):
        m = CHECKPOINT.fullmatch(p.name)
        if m and p.is_dir() and (p / "trainer_state.json").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def drop_incomplete(folder: Path) -> list[str]:
    """Remove checkpoint folders a kill left without their trainer_state.json; their names."""
    done = {p for _, p in complete_checkpoints(folder)}
    gone = []
    for p in folder.glob("checkpoint-*"):
        if p.is_dir() and p not in done:
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p.name)
    return gone


def trim_metrics(metrics: Path, step: int) -> int:
    """Keep the metrics.jsonl rows up to ``step`` (the checkpoint resumed from): one row per step after a resume.
    Returns how many rows were dropped."""
    if not metrics.is_file():
        return 0
    kept, dropped = [], 0
    for line in metrics.read_text("utf-8").splitlines():
        try:
            row_step = int(json.loads(line).get("step", 0))
        except (ValueError, TypeError, AttributeError):
            dropped += 1
            continue
        if row_step <= step:
            kept.append(line)
        else:
            dropped += 1
    write_text_atomic(metrics, "".join(k + "\n" for k in kept))
    return dropped


def replace_folder(tmp: Path, final: Path) -> None:
    """Put the finished ``tmp`` folder in the place of ``final`` (rename: atomic on one file system)."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def merge(base: Any, adapter: Path, tokenizer: Any, final: Path) -> Path:
    """Base weights + adapter -> ``final`` (a full-precision base; never onto a 4-bit one)."""
    from peft import PeftModel

    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    tmp = final.parent / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    replace_folder(tmp, final)
    return final


__all__ = ["complete_checkpoints", "drop_incomplete", "merge", "replace_folder", "trim_metrics"]
