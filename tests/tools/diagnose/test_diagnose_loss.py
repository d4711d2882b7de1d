"""diagnose_loss: readers, findings, real public logs, malformed input, CLI, plot."""

from __future__ import annotations

import json
import math
import shutil
import struct
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent.parent.parent
REAL = REPO / "tests" / "data" / "logs" / "real"
sys.path.insert(0, str(REPO))

from benchmarks.bench_diagnose import evaluate  # noqa: E402
from benchmarks.curves import CLASSES, FORMATS, labelled_curves, write_log  # noqa: E402


def diagnose(ws: Workspace, path: str, **kw: object) -> dict:
    return registry.call("diagnose_loss", {"path": path, **kw}, workspace=ws).model_dump()


def kinds(result: dict) -> set[str]:
    return {f["kind"] for f in result["findings"]}


def state(history: list[dict], **top: object) -> str:
    return json.dumps(
        {"global_step": history[-1].get("step", 0) if history else 0, "log_history": history, **top}, indent=2
    )


def healthy_history(n: int = 40, *, eval_every: int = 0) -> list[dict]:
    rows: list[dict] = []
    for i in range(n):
        loss = 0.8 + 1.4 * math.exp(-i / 10) + (0.02 if i % 3 == 0 else -0.01)
        rows.append(
            {
                "epoch": round((i + 1) / n, 3),
                "grad_norm": 0.5,
                "learning_rate": 2e-4,
                "loss": round(loss, 4),
                "step": (i + 1) * 10,
            }
        )
        if eval_every and (i + 1) % eval_every == 0:
            rows.append({"epoch": round((i + 1) / n, 3), "eval_loss": round(loss * 1.05, 4), "step": (i + 1) * 10})
    return rows


# ---------------------------------------------------------------- synthetic labelled curves


def test_labelled_set_is_large_and_deterministic() -> None:
    curves = labelled_curves()
    assert len(curves) >= 60
    assert len({c.label for c in curves}) >= 7
    assert {"healthy", "noisy_healthy"} <= {c.label for c in curves}
    assert [c.rows for c in curves[:5]] == [c.rows for c in labelled_curves()[:5]]


def test_labelled_accuracy_at_least_90_percent_and_no_severe_on_healthy() -> None:
    r = evaluate()
    assert r["right"] / r["total"] >= 0.9, r["wrong"]
    assert r["healthy_severe"] == []
    for label, oks in r["per_class"].items():
        assert sum(oks) / len(oks) >= 0.7, (label, r["wrong"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_writer_format_reads_back(ws: Workspace, fmt: str) -> None:
    curve = next(c for c in labelled_curves() if c.label == "overfitting")
    path = write_log(curve, ws.root / fmt, fmt)
    result = diagnose(ws, str(path.relative_to(ws.root)))
    assert "overfitting" in kinds(result)
    loss = next(s for s in result["series"] if s["name"] == "loss")
    assert loss["points"] == sum(1 for r in curve.rows if "loss" in r)


# ---------------------------------------------------------------- real public logs

REAL_EXPECT = {
    "hf_one-eyed-warrior_trainer_state.json": ("hf_trainer_state", "healthy", set()),
    "hf_aa-n_qwen3_summary_only_trainer_state.json": ("hf_trainer_state", "too_short", {"too_short"}),
    "hf_trl_dheena731_tinyllama_trainer_state.json": ("hf_trainer_state", "healthy", set()),
    "llamafactory_rameyjm7_duplicated_trainer_log.jsonl": ("llamafactory_trainer_log", "healthy", set()),
    "llamafactory_sygoat_mistral_trainer_log.jsonl": ("llamafactory_trainer_log", "healthy", set()),
    "llamafactory_suzushi_luojiu_trainer_log.jsonl": ("llamafactory_trainer_log", "healthy", set()),
    "openai_cookbook_drone_results.csv": ("openai_results_csv", "problems", {"collapse"}),
    "openai_historygpt_step_metrics.csv": ("openai_results_csv", "healthy", set()),
    "openai_jobgpt_step_metrics.csv": ("openai_results_csv", "healthy", set()),
    "hf_quality_lrqa_chance_plateau_trainer_state.json": ("hf_trainer_state", "problems", {"plateau"}),
    "azure_openai_job_events.json": ("openai_job_events", "problems", {"overfitting", "too_short"}),
    "model_card_whisper_sudanese_medium_README.md": ("model_card_table", "problems", {"overfitting", "too_short"}),
    "model_card_whisper_dpv_5_epochs_README.md": ("model_card_table", "too_short", {"too_short"}),
    "hf_p4p4n1ck_whisper_large_v2_ja_fp16_trainer_state.json": (
        "hf_trainer_state",
        "problems",
        {"overfitting", "skipped_steps"},
    ),
    "deepspeed_seekpoint_hellodeepspeed_bert_fp16_console.log": ("deepspeed_console", "healthy", {"skipped_steps"}),
    "hf_aaghaazkhan_law_llm_trainer_state.json": ("hf_trainer_state", "healthy", set()),
    "mlflow_swahili_stt_metrics_loss": ("mlflow_metric_file", "healthy", set()),
}


def test_real_logs_are_all_listed_with_sources() -> None:
    files = {p.name for p in REAL.iterdir() if p.name != "SOURCES.md"}
    assert files == set(REAL_EXPECT)
    sources = (REAL / "SOURCES.md").read_text("utf-8")
    for name in files:
        assert name in sources


@pytest.mark.parametrize("name", sorted(REAL_EXPECT))
def test_real_log(ws: Workspace, name: str) -> None:
    shutil.copy(REAL / name, ws.root / name)
    fmt, verdict, expected = REAL_EXPECT[name]
    result = diagnose(ws, name)
    assert result["format"] == fmt
    assert result["verdict"] == verdict, result["findings"]
    assert expected <= kinds(result), result["findings"]
    if verdict == "healthy":
        assert not [f for f in result["findings"] if f["severity"] != "info"]
    assert (ws.root / result["report_md"]).is_file() and (ws.root / result["report_json"]).is_file()


def test_real_details(ws: Workspace) -> None:
    for name in REAL_EXPECT:
        shutil.copy(REAL / name, ws.root / name)
    dup = diagnose(ws, "llamafactory_rameyjm7_duplicated_trainer_log.jsonl")
    assert any("logged twice" in n for n in dup["notes"])
    summary = diagnose(ws, "hf_aa-n_qwen3_summary_only_trainer_state.json")
    assert any("logging_steps (996) is larger than max_steps (768)" in n for n in summary["notes"])
    card = diagnose(ws, "model_card_whisper_sudanese_medium_README.md")
    assert card["best_checkpoint"]["step"] == 1000
    assert card["best_checkpoint"]["eval_loss"] == pytest.approx(0.9354)
    events = diagnose(ws, "azure_openai_job_events.json")
    assert events["first_step"] == 50 and events["last_step"] == 100  # newest-first events are sorted
    assert events["best_checkpoint"]["eval_loss"] == pytest.approx(1.4184704051298254)  # full_valid_loss
    openai = diagnose(ws, "openai_cookbook_drone_results.csv")
    assert not any("not numbers" in n for n in openai["notes"])  # empty valid_loss cells are just missing
    chance = diagnose(ws, "hf_quality_lrqa_chance_plateau_trainer_state.json")
    plateau = next(f for f in chance["findings"] if f["kind"] == "plateau")
    assert "ln 4" in plateau["summary"] and "schedule" not in kinds(chance)  # warm-up judged on global_step
    noisy = diagnose(ws, "openai_historygpt_step_metrics.csv")
    assert any("one batch" in n for n in noisy["notes"])
    tiny = diagnose(ws, "hf_trl_dheena731_tinyllama_trainer_state.json")
    assert tiny["best_checkpoint"]["step"] == 600


# ---------------------------------------------------------------- findings on hand-made logs


def test_overfitting_best_checkpoint_and_early_stopping(ws: Workspace) -> None:
    hist = healthy_history(60)
    for i, step in enumerate(range(60, 601, 60)):
        ev = [1.6, 1.4, 1.3, 1.25, 1.28, 1.33, 1.38, 1.42, 1.47, 1.52][i]
        hist.append({"epoch": step / 600, "eval_loss": ev, "step": step})
    hist.sort(key=lambda r: (r["step"], "eval_loss" in r))
    (ws.root / "trainer_state.json").write_text(state(hist))
    r = diagnose(ws, "trainer_state.json")
    over = next(f for f in r["findings"] if f["kind"] == "overfitting")
    assert over["severity"] == "severe"
    assert r["best_checkpoint"]["step"] == 240 and r["best_checkpoint"]["early_stop_step"] == 360
    assert r["best_checkpoint"]["steps_saved"] == 240
    assert any("step 240" in c for c in over["changes"])
    assert all("{" not in c for c in over["changes"] + over["causes"])


def test_nan_loss_and_grad_norm(ws: Workspace) -> None:
    hist = healthy_history(20)
    hist[12]["grad_norm"] = float("inf")
    hist[13]["loss"] = float("nan")
    hist[13]["grad_norm"] = float("nan")
    (ws.root / "trainer_state.json").write_text(state(hist))
    r = diagnose(ws, "trainer_state.json")
    div = next(f for f in r["findings"] if f["kind"] == "divergence")
    assert div["severity"] == "severe" and "backward" in div["summary"]
    assert r["verdict"] == "problems"


def test_hidden_nan_zero_loss(ws: Workspace) -> None:
    hist = healthy_history(20)
    for row in hist[10:]:
        row["loss"] = 0.0
    (ws.root / "trainer_state.json").write_text(state(hist))
    r = diagnose(ws, "trainer_state.json")
    assert "hidden_nan" in kinds(r) and "collapse" not in kinds(r)


def test_console_log_with_progress_bars_and_summary(ws: Workspace) -> None:
    lines = ["***** Running training *****"]
    for k, row in enumerate(healthy_history(30, eval_every=10)):
        d = {k: v for k, v in row.items() if k != "step"}
        lines.append(f" 40%|####      | {k}/40 [00:12<00:18]{d!r}\r" if k % 2 else repr(d))
    lines.append("{'train_runtime': 12.3, 'train_samples_per_second': 3.4, 'train_loss': 1.2, 'epoch': 1.0}")
    (ws.root / "train.log").write_text("\n".join(lines) + "\n")
    r = diagnose(ws, "train.log")
    assert r["format"] == "console" and r["step_unit"] == "log point"
    assert r["series"][0]["points"] == 30 and r["verdict"] == "healthy"


def test_torchtune_and_openai_legacy_and_tensorboard_csv(ws: Workspace) -> None:
    tt = [
        f"Step {i} | loss:{2.0 * math.exp(-i / 15) + 0.7:.4f} lr:2e-05 tokens_per_second_per_gpu:1500.0"
        for i in range(1, 41)
    ]
    (ws.root / "log_1700000000.txt").write_text("\n".join(tt) + "\n")
    assert diagnose(ws, "log_1700000000.txt")["format"] == "torchtune_log"
    legacy = [
        "step,elapsed_tokens,elapsed_examples,training_loss,training_sequence_accuracy,training_token_accuracy,"
        "validation_loss,validation_sequence_accuracy,validation_token_accuracy"
    ]
    legacy += [f"{i},{i * 100},{i},{1.5 * math.exp(-i / 12) + 0.3:.4f},0.1,0.5,-1,-1,-1" for i in range(1, 31)]
    (ws.root / "results.csv").write_text("\n".join(legacy) + "\n")
    r = diagnose(ws, "results.csv")
    assert r["format"] == "openai_results_csv_legacy" and r["verdict"] == "healthy"
    tb = ["Wall time,Step,Value"] + [f"1698314503.5,{i},{1.8 * math.exp(-i / 9) + 0.6:.5f}" for i in range(1, 26)]
    (ws.root / "run-train-tag-train_loss.csv").write_text("\n".join(tb) + "\n")
    assert diagnose(ws, "run-train-tag-train_loss.csv")["format"] == "tensorboard_csv"


def test_wandb_export_with_two_runs(ws: Workspace) -> None:
    rows = ["Step,run-a - train/loss,run-a - train/loss__MIN,run-a - train/loss__MAX,run-b - train/loss"]
    rows += [f"{i},{2.0 - i * 0.01:.3f},,,{2.5 - i * 0.02:.3f}" for i in range(1, 31)]
    (ws.root / "wandb_export.csv").write_text("\n".join(rows) + "\n")
    r = diagnose(ws, "wandb_export.csv")
    assert r["format"] == "wandb_csv" and any("2 runs" in n for n in r["notes"])
    assert r["series"][0]["first"] == pytest.approx(2.48)


def _record(data: bytes) -> bytes:
    return struct.pack("<Q", len(data)) + b"\0" * 4 + data + b"\0" * 4


def _field(num: int, wire: int, payload: bytes) -> bytes:
    key = bytes([(num << 3) | wire])
    if wire == 2:
        return key + bytes([len(payload)]) + payload
    return key + payload


def test_tensorboard_events_file(ws: Workspace) -> None:
    blob = _record(_field(3, 2, b"brain.Event:2"))
    for step in range(1, 21):
        loss = 1.5 * math.exp(-step / 8) + 0.5
        value = _field(1, 2, b"train/loss") + _field(2, 5, struct.pack("<f", loss))
        lr = _field(1, 2, b"train/learning_rate") + _field(2, 5, struct.pack("<f", 1e-4))
        summary = _field(1, 2, value) + _field(1, 2, lr)
        event = _field(1, 1, struct.pack("<d", 1.7e9)) + _field(2, 0, bytes([step])) + _field(5, 2, summary)
        blob += _record(event)
    run = ws.root / "out" / "runs" / "Nov24"
    run.mkdir(parents=True)
    (run / "events.out.tfevents.1700000000.host").write_bytes(blob + b"\x10\x00")  # cut-off tail
    r = diagnose(ws, "out")
    assert r["format"] == "tensorboard_events" and r["series"][0]["points"] == 20
    assert any("cut-off" in n for n in r["notes"])


def test_checkpoint_folder_picks_newest_state_and_run_folder(ws: Workspace) -> None:
    out = ws.root / "output"
    for step in (100, 300, 200):
        ck = out / f"checkpoint-{step}"
        ck.mkdir(parents=True)
        hist = healthy_history(step // 10)
        ck.joinpath("trainer_state.json").write_text(state(hist, global_step=step))
    r = diagnose(ws, "output")
    assert r["path"] == "output/checkpoint-300/trainer_state.json" and r["last_step"] == 300
    assert (out / "diagnosis.md").is_file()
    run = ws.root / "runs" / "r1"
    run.mkdir(parents=True)
    lines = [json.dumps({**row, "tokens_per_s": 900.0}) for row in healthy_history(25)]
    (run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 260, "loss": 0.9')  # live: last line cut
    r = diagnose(ws, "runs/r1")
    assert r["format"] == "run_metrics_jsonl" and any("cut off" in n for n in r["notes"])


def test_missing_steps_and_mixed_train_eval_lines(ws: Workspace) -> None:
    hist = [r for r in healthy_history(40, eval_every=5) if not 150 <= r["step"] <= 250]
    (ws.root / "trainer_state.json").write_text(state(hist))
    r = diagnose(ws, "trainer_state.json")
    assert any("nothing between step 140 and 260" in n for n in r["notes"])
    assert {s["name"] for s in r["series"]} >= {"loss", "eval_loss"}


def test_resume_and_several_runs(ws: Workspace) -> None:
    a = healthy_history(20)
    resumed = [dict(r) for r in a[10:]]  # a resume from step 110 repeats steps 110..200
    lines = [json.dumps(r) for r in a + resumed]
    (ws.root / "resumed.jsonl").write_text("\n".join(lines) + "\n")
    r = diagnose(ws, "resumed.jsonl")
    assert any("restarts 1 time" in n for n in r["notes"]) and r["series"][0]["points"] == 20
    two = [json.dumps(r) for r in healthy_history(15) + healthy_history(25)]
    (ws.root / "two.jsonl").write_text("\n".join(two) + "\n")
    r = diagnose(ws, "two.jsonl")
    assert any("2 runs" in n for n in r["notes"]) and r["series"][0]["points"] == 25


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "name, content, code",
    [
        ("empty.json", "", "log_empty"),
        ("blank.log", "\n\n  \n", "log_empty"),
        ("truncated.json", '{\n  "log_history": [\n    {"loss": 1.0, "step": 1},\n', "log_invalid_json"),
        ("broken.jsonl", "{not json\nneither\n", "log_invalid_json"),
        ("strings.jsonl", '{"step": 1, "loss": "high"}\n{"step": 2, "loss": "low"}\n', "log_bad_values"),
        ("prose.txt", "hello, this is not a log\nat all\n", "log_format_unknown"),
        ("binary.bin", "\x00\x01\x02garbage", "log_format_unknown"),
        ("other.json", '{"model": "x", "layers": 3}', "log_format_unknown"),
    ],
)
def test_malformed_logs_give_clear_errors(ws: Workspace, name: str, content: str, code: str) -> None:
    (ws.root / name).write_text(content)
    with pytest.raises(ToolError) as exc:
        diagnose(ws, name)
    assert exc.value.code == code
    assert name in exc.value.message and exc.value.hint


def test_truncated_json_names_line(ws: Workspace) -> None:
    (ws.root / "trainer_state.json").write_text(state(healthy_history(5))[:-40])
    with pytest.raises(ToolError) as exc:
        diagnose(ws, "trainer_state.json")
    assert "line" in exc.value.message and exc.value.code == "log_invalid_json"


@pytest.mark.parametrize(
    "history",
    [
        [{"loss": 1.2, "step": 1}],
        [{"loss": float("nan"), "grad_norm": float("nan"), "step": s} for s in range(1, 30)],
        [],
    ],
)
def test_too_short_or_all_nan_never_crash(ws: Workspace, history: list[dict]) -> None:
    (ws.root / "trainer_state.json").write_text(state(history))
    r = diagnose(ws, "trainer_state.json")
    assert "too_short" in kinds(r)
    if history and math.isnan(history[0]["loss"]):
        assert r["verdict"] == "problems" and "divergence" in kinds(r)
    else:
        assert r["verdict"] == "too_short"


def test_string_numbers_are_read_and_bad_ones_noted(ws: Workspace) -> None:
    rows = [{"current_steps": i, "loss": f"{2.0 - i * 0.03:.3f}", "lr": "2e-4", "epoch": i / 30} for i in range(1, 31)]
    rows[5]["loss"] = "oops"
    (ws.root / "trainer_log.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    r = diagnose(ws, "trainer_log.jsonl")
    assert r["series"][0]["points"] == 29
    assert any("line 6" in n for n in r["notes"])


def test_bounded_output(ws: Workspace) -> None:
    curve = next(c for c in labelled_curves() if c.label == "spikes")
    path = write_log(curve, ws.root / "s", "trainer_state")
    r = registry.call("diagnose_loss", {"path": str(path.relative_to(ws.root))}, workspace=ws)
    assert len(r.model_dump_json()) < 8000
    full = json.loads((ws.root / r.report_md).with_suffix(".json").read_text())
    assert "data" in full and len(full["data"]["loss"]["values"]) == len(full["data"]["loss"]["steps"])


def test_outputs_stay_in_workspace_and_never_overwrite_input(ws: Workspace) -> None:
    (ws.root / "trainer_state.json").write_text(state(healthy_history()))
    with pytest.raises(ToolError) as exc:
        diagnose(ws, "trainer_state.json", report="trainer_state.json")
    assert exc.value.code == "output_is_input"
    with pytest.raises(ToolError) as exc:
        diagnose(ws, "trainer_state.json", plot="../x.png")
    assert exc.value.code == "path_outside_workspace"


def test_schema_is_portable() -> None:
    from tools.core.schemas import portable_schema
    from tools.diagnose.models import DiagnoseLossRequest

    schema = portable_schema(DiagnoseLossRequest)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"path", "report", "plot"}


def test_thresholds_come_from_yaml() -> None:
    from tools.diagnose.facts import facts

    f = facts()
    for name, row in f.thresholds:
        assert row.source.startswith("http") and row.as_of, name
    used = {h for h in CLASSES.values() if h} | {"train_eval_gap", "grad_vanish", "schedule", "forgetting"}
    assert used <= {a.kind for a in f.advice}


# ---------------------------------------------------------------- plot and CLI


def test_plot(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    (ws.root / "trainer_state.json").write_text(state(healthy_history(40, eval_every=8)))
    pytest.importorskip("matplotlib")
    r = diagnose(ws, "trainer_state.json", plot="plots/loss.png")
    png = ws.root / "plots" / "loss.png"
    assert r["plot"] == "plots/loss.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plots/loss.png" in (ws.root / r["report_md"]).read_text()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ToolError) as exc:
        diagnose(ws, "trainer_state.json", plot="again.png")
    assert exc.value.code == "missing_extra" and "finetune-skill[plot]" in exc.value.hint


def test_cli_exit_codes(in_ws: Workspace) -> None:
    from skill.cli import app

    runner = CliRunner()
    (in_ws.root / "good.json").write_text(state(healthy_history()))
    res = runner.invoke(app, ["diagnose", "good.json"])
    assert res.exit_code == 0, res.output
    assert "healthy" in res.output
    shutil.copy(REAL / "model_card_whisper_sudanese_medium_README.md", in_ws.root / "card.md")
    res = runner.invoke(app, ["diagnose", "card.md", "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["findings"][0]["kind"] == "overfitting"
    (in_ws.root / "bad.json").write_text("{")
    res = runner.invoke(app, ["diagnose", "bad.json"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    res = runner.invoke(app, ["diagnose", "missing.json", "--json"])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"]["code"] == "file_not_found"
