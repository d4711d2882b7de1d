"""diagnose_loss knows the run (issue 18 item 4): fp16 skipped steps are not frozen weights, collapse needs the
eval loss, advice reads the run's config and model kind, MLflow logs are read, the plot's axes follow the data."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace

REAL = Path(__file__).resolve().parents[2] / "data" / "logs" / "real"
WHISPER = "hf_p4p4n1ck_whisper_large_v2_ja_fp16_trainer_state.json"
DEEPSPEED = "deepspeed_seekpoint_hellodeepspeed_bert_fp16_console.log"
LAW = "hf_aaghaazkhan_law_llm_trainer_state.json"
MLFLOW = "mlflow_swahili_stt_metrics_loss"


def diagnose(ws: Workspace, path: str, **kw: object) -> dict:
    return registry.call("diagnose_loss", {"path": path, **kw}, workspace=ws).model_dump()


def by_kind(result: dict) -> dict[str, dict]:
    return {f["kind"]: f for f in result["findings"]}


def state(history: list[dict], **top: object) -> str:
    return json.dumps({"global_step": history[-1]["step"], "log_history": history, **top}, indent=2)


def falling(n: int = 40, *, grad: float = 0.8, eval_every: int = 0, end: float = 0.1) -> list[dict]:
    """A run whose loss falls from 2.0 towards ``end`` (90 % with the default)."""
    rows: list[dict] = []
    for i in range(n):
        loss = end + (2.0 - end) * math.exp(-i / (n / 5)) + (0.01 if i % 2 else -0.01)
        rows.append(
            {"epoch": (i + 1) / n, "grad_norm": grad, "learning_rate": 2e-4, "loss": round(loss, 4), "step": i + 1}
        )
        if eval_every and (i + 1) % eval_every == 0:
            rows.append({"epoch": (i + 1) / n, "eval_loss": round(loss * 1.1 + 0.05, 4), "step": i + 1})
    return rows


# ---------------------------------------------------------------- real fp16 runs and a healthy run


def test_real_fp16_runs_have_no_frozen_weights_and_no_severe_finding(ws: Workspace) -> None:
    for name in (WHISPER, DEEPSPEED):
        shutil.copy(REAL / name, ws.root / name)
        r = diagnose(ws, name)
        found = by_kind(r)
        assert "grad_vanish" not in found and "divergence" not in found, r["findings"]
        assert not [f for f in r["findings"] if f["severity"] == "severe"], r["findings"]
        assert found["skipped_steps"]["severity"] == "info"
    ds = by_kind(diagnose(ws, DEEPSPEED))["skipped_steps"]
    assert "skipped 17 optimizer steps" in ds["summary"] and "4294967296 to 32768" in ds["summary"]
    whisper = diagnose(ws, WHISPER)
    skip = by_kind(whisper)["skipped_steps"]
    assert "4 scheduler step(s) short" in skip["summary"] and "8.89e-09" in skip["summary"]


def test_real_whisper_run_is_judged_by_its_own_checkpoint_metric(ws: Workspace) -> None:
    shutil.copy(REAL / WHISPER, ws.root / WHISPER)
    r = diagnose(ws, WHISPER)
    best = r["best_checkpoint"]
    assert (best["step"], best["metric"], best["value"]) == (3000, "eval_wer", pytest.approx(0.7431560204762965))
    assert best["eval_loss"] == pytest.approx(0.3937181532382965) and "best_model_checkpoint" in best["chosen_by"]
    found = by_kind(r)
    over = found["overfitting"]
    assert over["severity"] == "warning" and "eval_wer kept improving" in over["summary"]
    assert any("step 3000 (eval_wer 0.7432)" in c for c in over["changes"])
    assert found["collapse"]["severity"] == "info" and "eval loss rises" in found["collapse"]["summary"]
    assert r["model_kind"] == "speech"
    gap = found["train_eval_gap"]
    assert not any("chat template" in c for c in gap["changes"])
    assert any("chat template" in c and "speech" in c for c in gap["not_advised"])


def test_real_healthy_run_is_healthy_with_its_best_checkpoint_at_the_last_eval(ws: Workspace) -> None:
    shutil.copy(REAL / LAW, ws.root / LAW)
    r = diagnose(ws, LAW)
    assert r["verdict"] == "healthy", r["findings"]
    best = r["best_checkpoint"]
    assert best["step"] == 600 and best["is_last_eval"] and best["eval_loss"] == pytest.approx(0.303802490234375)
    assert "(the last evaluation)" in r["headline"]
    assert [f["kind"] for f in r["findings"]] == ["too_short"]  # 6 train points: trend checks skipped, said as info


# ---------------------------------------------------------------- fp16 skips on hand-made HF logs


def test_zero_grad_norm_on_skipped_steps_is_not_frozen_weights(ws: Workspace) -> None:
    hist = falling(40)
    for i in (3, 4, 11, 30):  # overflow-skipped steps, one late
        hist[i]["grad_norm"] = 0.0
    (ws.root / "trainer_state.json").write_text(state(hist))
    r = diagnose(ws, "trainer_state.json")
    found = by_kind(r)
    assert "grad_vanish" not in found
    assert found["skipped_steps"]["severity"] == "warning"  # step 31 is in the second half of the run
    assert "4 logged steps have grad_norm 0.0, inf or NaN" in found["skipped_steps"]["summary"]
    assert "fell 9" in found["skipped_steps"]["summary"]


def test_isolated_inf_grad_norm_is_a_skip_not_divergence(ws: Workspace) -> None:
    hist = falling(40)
    hist[2]["grad_norm"] = float("inf")
    hist[5]["grad_norm"] = float("nan")
    (ws.root / "trainer_state.json").write_text(state(hist))
    r = diagnose(ws, "trainer_state.json")
    found = by_kind(r)
    assert "divergence" not in found and found["skipped_steps"]["severity"] == "info"
    assert r["verdict"] == "healthy"


def test_frozen_weights_are_still_found(ws: Workspace) -> None:
    hist = [
        {"grad_norm": 0.0, "learning_rate": 2e-4, "loss": 2.0 + (0.01 if i % 2 else 0), "step": i} for i in range(1, 41)
    ]
    (ws.root / "trainer_state.json").write_text(state(hist))
    found = by_kind(diagnose(ws, "trainer_state.json"))
    assert found["grad_vanish"]["severity"] == "severe" and "skipped_steps" not in found


# ---------------------------------------------------------------- collapse needs the eval loss to agree


def _collapsing(eval_values: list[float] | None) -> list[dict]:
    hist = [{"grad_norm": 0.5, "loss": round(2.0 * math.exp(-i / 5) + 0.0002, 5), "step": i + 1} for i in range(60)]
    if eval_values:
        for k, v in enumerate(eval_values):
            hist.append({"eval_loss": v, "step": (k + 1) * 10})
        hist.sort(key=lambda r: (r["step"], "eval_loss" in r))
    return hist


@pytest.mark.parametrize(
    ("evals", "severity", "says"),
    [
        (None, "warning", "no eval loss was logged"),  # severe by the train loss alone, lowered
        ([1.2, 0.9, 0.8, 0.75, 0.74, 0.73], "info", "does not agree"),
        ([0.02, 0.008, 0.004, 0.002, 0.001, 0.0008], "severe", "near zero too"),
    ],
)
def test_collapse_is_judged_against_the_eval_loss(
    ws: Workspace, evals: list[float] | None, severity: str, says: str
) -> None:
    (ws.root / "trainer_state.json").write_text(state(_collapsing(evals)))
    r = diagnose(ws, "trainer_state.json")
    collapse = by_kind(r)["collapse"]
    assert collapse["severity"] == severity and says in collapse["summary"]


# ---------------------------------------------------------------- advice reads the run's config


def _hf_output(ws: Workspace, *, model_type: str, lora_dropout: float, precision: str) -> Path:
    pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from transformers import TrainingArguments

    out = ws.root / "out"
    out.mkdir()
    hist = falling(60, eval_every=6)
    for row in hist:
        if "eval_loss" in row and row["step"] > 24:
            row["eval_loss"] = round(0.6 + 0.05 * (row["step"] - 24) / 6, 4)  # eval loss rises after step 24
    (out / "trainer_state.json").write_text(state(hist))
    args = TrainingArguments(
        output_dir=str(out),
        bf16=precision == "bf16",
        fp16=False,
        max_grad_norm=1.0,
        weight_decay=0.05,
        report_to=[],
        use_cpu=True,
    )
    torch.save(args, out / "training_args.bin")
    (out / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "r": 16, "lora_alpha": 32, "lora_dropout": lora_dropout, "task_type": None})
    )
    arch = {"whisper": "WhisperForConditionalGeneration", "llama": "LlamaForCausalLM"}[model_type]
    (out / "config.json").write_text(json.dumps({"model_type": model_type, "architectures": [arch]}))
    return out


def test_no_advice_to_set_what_is_already_set(ws: Workspace) -> None:
    _hf_output(ws, model_type="llama", lora_dropout=0.05, precision="bf16")
    r = diagnose(ws, "out")
    config = {c["name"]: (c["value"], c["source"]) for c in r["run_config"]}
    assert config["lora_dropout"] == ("0.05", "adapter_config.json")
    assert config["max_grad_norm"] == ("1.0", "training_args.bin") and config["precision"][0] == "bf16"
    full = json.loads((ws.root / r["report_json"]).read_text())
    over = next(f for f in full["findings"] if f["kind"] == "overfitting")
    advised = " ".join(over["changes"])
    assert "lora_dropout" not in advised and "weight_decay" not in advised and "lora_r 8-32" not in advised
    left = " ".join(over["not_advised"])
    assert "lora_dropout is 0.05 (adapter_config.json)" in left and "weight_decay is 0.05 (training_args.bin)" in left
    assert r["model_kind"] == "causal_lm"


def test_advice_kept_when_the_setting_differs(ws: Workspace) -> None:
    _hf_output(ws, model_type="llama", lora_dropout=0.0, precision="fp32")
    r = diagnose(ws, "out")
    full = json.loads((ws.root / r["report_json"]).read_text())  # the returned findings keep 3 changes each
    over = next(f for f in full["findings"] if f["kind"] == "overfitting")
    assert any("lora_dropout 0.05" in c for c in over["changes"])
    assert any("weight_decay is 0.05 (training_args.bin)" in c for c in over["not_advised"])


def test_our_run_folder_config_is_read(ws: Workspace) -> None:
    run = ws.root / "runs" / "r1"
    run.mkdir(parents=True)
    plan = {"base_model": "Qwen/Qwen2.5-0.5B", "lora_dropout": 0.1, "max_grad_norm": 0.3, "precision": "auto"}
    (run / "config.json").write_text(json.dumps({"run_id": "r1", "plan": plan}))
    rows = falling(40)
    for row in rows[25:]:
        row["grad_norm"] = 400.0  # exploding late
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    r = diagnose(ws, "runs/r1")
    explode = by_kind(r)["grad_explode"]
    assert not any("max_grad_norm" in c for c in explode["changes"])
    assert any("max_grad_norm is 0.3 (config.json (run plan))" in c for c in explode["not_advised"])
    assert any("bf16" in c for c in explode["changes"])  # precision "auto" is not known, so the advice stays
    assert r["model_kind"] == "causal_lm"


def test_training_args_bin_is_read_without_running_it(tmp_path: Path) -> None:
    import os
    import pickle

    from tools.diagnose.safe_pickle import read_training_args

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    (tmp_path / "training_args.bin").write_bytes(pickle.dumps(Evil()))
    assert read_training_args(tmp_path / "training_args.bin") is None and not marker.exists()
    (tmp_path / "junk.bin").write_bytes(b"\x00not a pickle")
    assert read_training_args(tmp_path / "junk.bin") is None


# ---------------------------------------------------------------- MLflow


def _mlflow_run(ws: Workspace) -> Path:
    run = ws.root / "mlruns" / "1" / "ed05f9cd599442fe9a0c9222184710b8"
    (run / "metrics").mkdir(parents=True)
    (run / "params").mkdir()
    (run / "meta.yaml").write_text("run_id: ed05f9cd599442fe9a0c9222184710b8\nstatus: 3\n")
    shutil.copy(REAL / MLFLOW, run / "metrics" / "loss")
    return run


def test_real_mlflow_metric_file_in_its_run_folder(ws: Workspace) -> None:
    run = _mlflow_run(ws)
    (run / "params" / "model_type").write_text("wav2vec2")
    (run / "params" / "learning_rate").write_text("0.0003")
    for target in (
        "mlruns/1/ed05f9cd599442fe9a0c9222184710b8",
        "mlruns/1/ed05f9cd599442fe9a0c9222184710b8/metrics/loss",
    ):
        r = diagnose(ws, target)
        assert r["format"] == "mlflow_file_store" and r["verdict"] == "healthy", r["findings"]
        loss = next(s for s in r["series"] if s["name"] == "loss")
        assert (loss["points"], loss["first"], loss["last"]) == (
            10,
            pytest.approx(332.6841735839844),
            pytest.approx(234.7978057861328),
        )
        assert (r["first_step"], r["last_step"]) == (0, 9)
        assert r["model_kind"] == "speech"
        assert {"name": "learning_rate", "value": "0.0003", "source": "MLflow params"} in r["run_config"]


def test_mlflow_run_with_eval_loss_and_hf_summary(ws: Workspace) -> None:
    run = _mlflow_run(ws)
    ts = 1_700_000_000_000
    (run / "metrics" / "eval_loss").write_text("".join(f"{ts + s} {300 - 6 * s} {s}\n" for s in range(0, 10, 2)))
    (run / "metrics" / "train_loss").write_text(f"{ts + 99} 251.0 9\n")  # HF's end-of-run average, not a step
    r = diagnose(ws, "mlruns/1/ed05f9cd599442fe9a0c9222184710b8")
    names = {s["name"]: s for s in r["series"]}
    assert names["eval_loss"]["points"] == 5 and names["loss"]["last"] == pytest.approx(234.7978057861328)


def _ui_csv(quoted: bool) -> str:
    rows = [["Run", "Run ID", "metric", "step", "timestamp", "value"]]
    for run, uuid, scale in (("old-run", "uuid-1", 1.5), ("lora-r16", "uuid-2", 1.0)):
        for step in range(1, 41):
            loss = scale * (0.5 + 2.0 * math.exp(-step / 8))
            rows.append([run, uuid, "loss", str(step), str(1000 * step), f"{loss:.5f}"])
            if step % 8 == 0:
                rows.append([run, uuid, "eval_loss", str(step), str(1000 * step), f"{loss * 1.1:.5f}"])
        rows.append([run, uuid, "reward_margin", "40", "40000", "-0.25"])
    if not quoted:
        return "\n".join(",".join(r) for r in rows) + "\n"
    cell = lambda v: '"' + (f"'{v}" if v[:1] in "=+-@" else v).replace('"', '""') + '"'  # noqa: E731
    return "\n".join(",".join(cell(v) for v in r) for r in rows) + "\n"


@pytest.mark.parametrize("quoted", [True, False])
def test_mlflow_ui_metric_history_csv(ws: Workspace, quoted: bool) -> None:
    (ws.root / "history.csv").write_text(_ui_csv(quoted))
    r = diagnose(ws, "history.csv")
    assert r["format"] == "mlflow_ui_csv" and r["verdict"] == "healthy"
    names = {s["name"]: s for s in r["series"]}
    assert names["loss"]["points"] == 40 and names["eval_loss"]["points"] == 5
    assert names["loss"]["last"] == pytest.approx(0.5 + 2.0 * math.exp(-5), abs=1e-4)  # the last run, lora-r16
    assert any("2 runs in one export" in n for n in r["notes"])
    full = json.loads((ws.root / r["report_json"]).read_text())
    assert full["data"]["reward_margin"]["values"] == [-0.25]  # the formula guard ' is removed


def test_mlflow_runs_table_is_refused_with_the_right_export_named(ws: Workspace) -> None:
    header = "Start Time,Duration,Run ID,Name,Source Type,Source Name,User,Status,lr,loss,eval_loss\n"
    (ws.root / "runs.csv").write_text(
        header + "2026-01-01 10:00:00,1.0h,abc,r1,LOCAL,train.py,me,FINISHED,2e-4,0.4,0.5\n"
    )
    with pytest.raises(ToolError) as info:
        diagnose(ws, "runs.csv")
    assert info.value.code == "log_format_unknown" and "runs table" in info.value.message
    assert "metric's history" in info.value.hint


# ---------------------------------------------------------------- the plot


def test_plot_axes_are_set_by_the_data_not_the_markers(ws: Workspace) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from tools.diagnose.logs import read_log
    from tools.diagnose.models import Evidence, Finding
    from tools.diagnose.plot import figure
    from tools.diagnose.series import build_curves

    hist = falling(40, eval_every=8)
    (ws.root / "trainer_state.json").write_text(state(hist))
    curves = build_curves(read_log(ws.root / "trainer_state.json"))
    far = Finding(
        kind="grad_explode",
        severity="severe",
        title="t",
        summary="s",
        evidence=[Evidence(step=20, value=450.0, what="grad_norm", series="grad_norm")],
        causes=[],
        changes=[],
        source="x",
    )
    odd = far.model_copy(update={"kind": "spikes", "evidence": [Evidence(step=10, value=1e6, what="x", series="loss")]})
    bare = figure(curves, [], None, title="t")
    marked = figure(curves, [far, odd], None, title="t")
    try:
        assert marked.axes[0].get_ylim() == bare.axes[0].get_ylim()
        assert marked.axes[0].get_ylim()[1] < 5  # neither 450 (a grad_norm) nor 1e6 stretch the loss axis
        assert marked.axes[2].get_ylim() == bare.axes[2].get_ylim()
        loss_marks = [ln for ln in marked.axes[0].lines if ln.get_marker() == "x"]
        assert loss_marks == []
    finally:
        plt.close(bare)
        plt.close(marked)


def test_real_fp16_plot_is_written(ws: Workspace) -> None:
    pytest.importorskip("matplotlib")
    shutil.copy(REAL / WHISPER, ws.root / WHISPER)
    r = diagnose(ws, WHISPER, plot="whisper.png")
    assert (ws.root / "whisper.png").read_bytes()[:4] == b"\x89PNG"
    report = (ws.root / r["report_md"]).read_text()
    assert "model kind: speech" in report and "**Not advised for this run**" in report
    assert "chosen by best_model_checkpoint" in report


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'{"loss": ' + b"9" * 5000 + b", " + b'"step": 1}\n', "number too long"),
        (b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    ],
)
def test_json_the_parser_refuses_is_a_clear_error(ws: Workspace, content: bytes, says: str) -> None:
    (ws.root / "log.jsonl").write_bytes(content)
    with pytest.raises(ToolError) as info:
        diagnose(ws, "log.jsonl")
    assert info.value.code == "log_invalid_json" and says in info.value.message


def test_the_best_checkpoint_reads_by_the_metric_that_chose_it(ws: Workspace) -> None:
    """The real Whisper run keeps its best checkpoint by WER; with the eval loss taken out of its log the best step
    has no eval loss at all, and the demo's section and the CLI used to print "eval loss None"."""
    from skill.report import render

    state = json.loads((REAL / WHISPER).read_text("utf-8"))
    for row in state["log_history"]:
        row.pop("eval_loss", None)
    (ws.root / "no_loss.json").write_text(json.dumps(state))
    shutil.copy(REAL / WHISPER, ws.root / WHISPER)
    for name, loss in ((WHISPER, ", eval loss 0.3937"), ("no_loss.json", "")):
        r = diagnose(ws, name)
        assert r["best_checkpoint"]["metric"] == "eval_wer"
        assert (r["best_checkpoint"]["eval_loss"] is None) == (name == "no_loss.json")
        section = render("diagnose_loss", r)
        assert f"best checkpoint: step 3000 (eval_wer 0.7432{loss}, epoch " in section.body
        assert "None" not in section.body and section.title == "Loss curve diagnosis"
