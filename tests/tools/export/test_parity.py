"""The parity check names what broke: a merged export with its EOS, its chat template or its weights changed is
compared with the run's adapter on its base, and the check fails with the right likely cause."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.export_run import TrainedRun, export
from tools.export.checks import ParityJob, check_merged, golden_prompts
from tools.export.source import load_tokenizer, open_run

pytestmark = pytest.mark.slow


def _merged_copy(trained: TrainedRun, tmp_path: Path) -> Path:
    folder = trained.ws.root / "exports" / "merged"
    if not folder.is_dir():
        export(trained, "merged", out_dir="exports/merged")
    copy = tmp_path / "merged"
    shutil.copytree(folder, copy)
    return copy


def _check(trained: TrainedRun, folder: Path) -> object:
    src = open_run(trained.ws, trained.run_id)
    tok = load_tokenizer(src)
    goldens, _ = golden_prompts(trained.ws, src, None, 3)
    job = ParityJob(src, tok, goldens, 12, "exact", folder / "parity.jsonl")
    return check_merged(job, folder, "fp32")


def test_an_unchanged_copy_passes(trained: TrainedRun, tmp_path: Path) -> None:
    report = _check(trained, _merged_copy(trained, tmp_path))
    assert report.verdict == "pass" and report.likely_cause is None


def test_a_lost_eos_fails_and_is_named(trained: TrainedRun, tmp_path: Path) -> None:
    folder = _merged_copy(trained, tmp_path)
    gen = json.loads((folder / "generation_config.json").read_text())
    gen["eos_token_id"] = 256  # <|endoftext|>, not the <|im_end|> the run's answers end with
    (folder / "generation_config.json").write_text(json.dumps(gen))
    report = _check(trained, folder)
    assert report.verdict == "fail" and report.likely_cause == "eos" and report.stop_tokens_match is False
    assert "likely cause: eos" in report.message


def test_a_changed_template_fails_and_is_named(trained: TrainedRun, tmp_path: Path) -> None:
    folder = _merged_copy(trained, tmp_path)
    template = (folder / "chat_template.jinja").read_text()
    assert "'<|im_start|>'" in template
    (folder / "chat_template.jinja").write_text(template.replace("'<|im_start|>'", "'<|im_start|> '"))
    report = _check(trained, folder)
    assert report.verdict == "fail" and report.likely_cause == "template" and report.template_matches is False


def test_changed_weights_fail_as_precision_with_the_divergence(trained: TrainedRun, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    folder = _merged_copy(trained, tmp_path)
    weights = load_file(str(folder / "model.safetensors"))
    torch.manual_seed(0)
    head = weights["lm_head.weight"]
    weights["lm_head.weight"] = head + 0.5 * torch.randn_like(head)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    report = _check(trained, folder)
    assert report.verdict == "fail" and report.likely_cause == "precision"
    assert report.template_matches and report.stop_tokens_match
    div = report.first_divergence
    assert div is not None and div.reference_token != div.artefact_token and div.reference_margin is not None
    assert report.token_agreement < 1 and report.exact_prompts < report.prompts
