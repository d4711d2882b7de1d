"""The neutral document: one presentation per result, rendered as markdown and in the terminal."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from skill.console import show_document
from tests.conftest import REPO
from tests.support.documents import assert_document_renders
from tools.core import registry
from tools.core.document import (
    Bullets,
    Document,
    Finding,
    Findings,
    Pairs,
    Table,
    Text,
    cell,
    to_markdown,
)
from tools.core.workspace import Workspace
from tools.decide.checklist import ChecklistAnswers

DOC = Document(
    title="Check",
    status="problems",
    headline="2 findings in [data.jsonl]",
    blocks=[
        Text(text="Read 3 lines."),
        Table(title="counts", headers=["code", "n", "share", "ok"], rows=[["dup|key", 1200, 0.25, True]]),
        Pairs(items=[("examples", 3)]),
        Findings(items=[Finding(severity="error", where="data.jsonl:2", code="bad", message="[red]x")], total=5),
        Bullets(items=["one"]),
    ],
    files=["reports/check.md"],
)


def test_markdown_carries_every_block() -> None:
    text = to_markdown(DOC)
    assert text.startswith("## Check\n")
    assert "| dup\\|key | 1,200 | 0.25 | yes |" in text
    assert "- **error** `data.jsonl:2` (bad): [red]x" in text and "4 more in the full report" in text
    assert "- examples: 3" in text and "- one" in text and "`reports/check.md`" in text


def test_the_terminal_shows_the_same_document_with_markup_escaped() -> None:
    buffer = io.StringIO()
    show_document(DOC, Console(file=buffer, width=120, color_system=None))
    out = buffer.getvalue()
    assert "2 findings in [data.jsonl]" in out and "[red]x" in out and "1,200" in out and "reports/check.md" in out


def test_cells_never_print_scientific_notation_for_plain_numbers() -> None:
    assert [cell(x) for x in (12345.0, 157.3, 0.000123, 1234567.8)] == ["12,345", "157.3", "0.000123", "1,234,568"]


# ---------------------------------------------------------------- every result with a document, from a real run

ANSWERS = REPO / "examples" / "answers.yaml"
REAL = REPO / "tests" / "data"


def _copy(ws: Workspace, source: Path, name: str) -> str:
    shutil.copy(source, ws.root / name)
    return name


def _answers() -> dict[str, Any]:
    data = yaml.safe_load(ANSWERS.read_text("utf-8"))
    return {k: v for k, v in data.items() if k in ChecklistAnswers.model_fields}


def _after_a_call(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    registry.call("record_answers", _answers(), workspace=ws)
    return args


def _examples(ws: Workspace) -> None:
    _copy(ws, REPO / "examples" / "train.jsonl", "train.jsonl")
    _copy(ws, REPO / "examples" / "eval.jsonl", "eval.jsonl")


def _eval_predictions(ws: Workspace) -> dict[str, Any]:
    """The example eval set against two prediction files: its own answers, and only their first lines."""
    _examples(ws)
    answers = [
        json.loads(line)["messages"][-1]["content"] for line in (ws.root / "eval.jsonl").read_text("utf-8").splitlines()
    ]
    for name, outputs in (("full.jsonl", answers), ("first_line.jsonl", [a.split("\n")[0] for a in answers])):
        (ws.root / name).write_text("".join(json.dumps({"prediction": o}) + "\n" for o in outputs), "utf-8")
    return {
        "data": "eval.jsonl",
        "candidate": {"predictions": "full.jsonl"},
        "baseline": {"predictions": "first_line.jsonl"},
        "train_data": "train.jsonl",
        "contains": ["Juniper Support"],
        "out_dir": "eval_out",
    }


RUNS: dict[str, Callable[[Workspace], dict[str, Any]]] = {
    "record_answers": lambda ws: _answers(),
    "decide_fit": lambda ws: _answers(),
    "prepare_data": lambda ws: {
        "path": _copy(ws, REAL / "datasets" / "bushir1_lsw_firm_booking_training_data.jsonl", "rows.jsonl"),
        "out": "rows.alpaca.jsonl",
        "to": "alpaca",
    },
    "split_dataset": lambda ws: {"path": _copy(ws, REPO / "examples" / "train.jsonl", "train.jsonl")},
    "validate_jsonl": lambda ws: _examples(ws) or {"paths": ["train.jsonl", "eval.jsonl"], "max_findings": 5},
    "scan_pii": lambda ws: (
        _examples(ws) or {"path": "train.jsonl", "redact": "train.redacted.jsonl", "max_findings": 5}
    ),
    "check_compliance": lambda ws: {"regimes": ["gdpr"], "residency": "eu"},
    "select_provider": lambda ws: {"privacy": "eu_personal_data", "training_tokens": 200_000},
    "estimate_cost": lambda ws: _examples(ws) or {"dataset": "train.jsonl", "monthly_requests": 150_000},
    "configure_training": lambda ws: _examples(ws) or {"dataset": "train.jsonl", "out_dir": "config"},
    "diagnose_loss": lambda ws: {
        "path": _copy(
            ws, REAL / "logs" / "real" / "hf_p4p4n1ck_whisper_large_v2_ja_fp16_trainer_state.json", "trainer_state.json"
        )
    },
    "run_eval": _eval_predictions,
    "facts_check": lambda ws: {"today": "2026-12-04"},
    "audit_log": lambda ws: _after_a_call(ws, {"action": "show"}),
    "audit_report": lambda ws: _after_a_call(ws, {"out": "audit.md"}),
    "launch_lora": lambda ws: _examples(ws) or {"data": "train.jsonl", "model": "tiny-random-llama", "preview": True},
    "run_status": lambda ws: {},
    "write_launch_recipe": lambda ws: (
        _examples(ws)
        or {"kind": "slurm", "data": "train.jsonl", "run_name": "big-run", "nodes": 2, "processes_per_node": 8}
        | {"shared_dir": "/shared"}
    ),
}
SLOW = {"scan_pii"}
RUN_ELSEWHERE = {
    "stop_run": "tests/tools/train/test_launch_lora.py (needs a running run)",
    "resume_run": "tests/tools/train/test_launch_lora.py (needs a stopped run)",
    **{
        name: "tests/tools/migrate/test_chain.py (needs the stub OpenAI organisation)"
        for name in ("openai_inventory", "record_golden_outputs", "choose_replacement", "migration_report")
    },
    "export_model": "tests/tools/export/test_export_model.py (needs a trained run)",
    "try_run": "tests/tools/export/test_try_run.py (needs a trained run)",
    "push_to_hub": "tests/tools/export/test_push_to_hub.py (needs the stub Hub)",
    "launch_provider_job": "tests/tools/jobs/test_provider_jobs.py (needs the provider stub)",
    "provider_job_status": "tests/tools/jobs/test_provider_jobs.py (needs the provider stub)",
}


def test_every_result_with_a_document_has_a_real_run_here() -> None:
    with_documents = {t.name for t in registry.all_tools() if hasattr(t.output_model, "document")}
    assert with_documents == set(RUNS) | set(RUN_ELSEWHERE)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(RUNS)])
def test_every_result_renders_its_document_from_a_real_run(ws: Workspace, name: str) -> None:
    assert_document_renders(ws, name, registry.call(name, RUNS[name](ws), workspace=ws))
