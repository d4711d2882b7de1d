"""What diagnose_loss knows about the run beyond its curves: its settings and the kind of model it trains.

Settings are read, first source wins, from: our run folder's ``config.json`` (the training plan); HF Trainer's
``training_args.bin`` (read without unpickling code, :mod:`tools.diagnose.safe_pickle`) or a
``training_args.json``/``.yaml``; a PEFT ``adapter_config.json``; the top of ``trainer_state.json``; the
hyperparameter list of an HF model card (``README.md``); MLflow ``params/``; and what the log itself printed
(DeepSpeed prints its config). The model kind comes from the model's ``config.json``, the adapter's task
type, model names, and the eval metrics in the log (``eval_wer`` means speech recognition), matched against
``model_kinds`` in ``reference/data/diagnose.yaml``. Advice uses both: nothing is advised that is already set,
and nothing that does not apply to the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.diagnose.facts import DiagnoseFacts, ModelKind, facts
from tools.diagnose.rows import Parsed

_ALIASES = {
    "learning_rate": "learning_rate",
    "lr": "learning_rate",
    "lora_dropout": "lora_dropout",
    "lora_r": "lora_r",
    "lora_rank": "lora_r",
    "lora_alpha": "lora_alpha",
    "weight_decay": "weight_decay",
    "max_grad_norm": "max_grad_norm",
    "warmup_ratio": "warmup_ratio",
    "warmup_steps": "warmup_steps",
    "lr_scheduler_warmup_steps": "warmup_steps",
    "load_best_model_at_end": "load_best_model_at_end",
    "metric_for_best_model": "metric_for_best_model",
    "greater_is_better": "greater_is_better",
    "early_stopping_patience": "early_stopping_patience",
    "logging_steps": "logging_steps",
    "eval_steps": "eval_steps",
    "max_steps": "max_steps",
    "training_steps": "max_steps",
    "num_train_epochs": "num_train_epochs",
    "num_epochs": "num_train_epochs",
    "logging_nan_inf_filter": "logging_nan_inf_filter",
    "lr_scheduler_type": "lr_scheduler_type",
    "lr_scheduler": "lr_scheduler_type",
    "gradient_accumulation_steps": "gradient_accumulation_steps",
    "per_device_train_batch_size": "per_device_train_batch_size",
    "train_batch_size": "train_batch_size",
    "packing": "packing",
    "sample_packing": "packing",
    "fp16": "fp16",
    "bf16": "bf16",
    "precision": "precision",
    "mixed_precision_training": "mixed_precision_training",
}
_HYPER = re.compile(r"^\s*[-*]\s*([A-Za-z_][\w ]*?)\s*:\s*(.+?)\s*$")
_BASE_IN_CARD = re.compile(r"fine-tuned version of \[([^\]]+)\]")


@dataclass
class RunInfo:
    """The run's settings (normalised names) with the file each came from, and its model kind."""

    settings: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    model_kind: str | None = None
    kind_source: str | None = None

    def add(self, raw: dict[str, Any], source: str) -> None:
        for key, value in raw.items():
            name = _ALIASES.get(str(key).strip().lower())
            if name is None or name in self.settings:
                continue
            value = _coerce(value)
            if value is None or value == "":
                continue
            self.settings[name] = value
            self.sources[name] = source
        self._precision(source)

    def _precision(self, source: str) -> None:
        if "precision" in self.settings:
            if str(self.settings["precision"]).lower() == "auto":  # our plan's "auto" is decided at launch
                del self.settings["precision"]
            return
        fp16, bf16 = self.settings.get("fp16"), self.settings.get("bf16")
        amp = str(self.settings.get("mixed_precision_training", "")).lower()
        if fp16 is True or "native amp" in amp or amp.startswith("apex"):
            value = "fp16"
        elif bf16 is True:
            value = "bf16"
        elif fp16 is False and bf16 is False:
            value = "fp32"
        else:
            return
        self.settings["precision"] = value
        self.sources["precision"] = self.sources.get("fp16") or self.sources.get("mixed_precision_training") or source

    def set_kind(self, kind: str | None, source: str) -> None:
        if kind and self.model_kind is None:
            self.model_kind, self.kind_source = kind, source

    def get(self, name: str) -> Any:
        return self.settings.get(name)


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        low = text.lower()
        if low in {"true", "false"}:
            return low == "true"
        if low in {"none", "null", ""}:
            return None
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            return text
    if isinstance(value, (bool, int, float)):
        return value
    return None


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _yaml(path: Path) -> dict[str, Any] | None:
    import yaml

    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _folders(log: Path, parsed: Parsed) -> list[Path]:
    folder = log if log.is_dir() else parsed.path.parent
    out = [folder]
    if folder.name.startswith("checkpoint-") or folder.name == "metrics":
        out.append(folder.parent)
    if parsed.path.parent not in out:
        out.append(parsed.path.parent)
    return out


def _kind_from_model_config(cfg: dict[str, Any], known: DiagnoseFacts) -> str | None:
    model_type = str(cfg.get("model_type", "")).lower()
    arches = [str(a) for a in cfg.get("architectures") or [] if isinstance(a, str)]
    for row in known.model_kinds:
        if model_type and model_type in row.model_types:
            return row.kind
    for row in known.model_kinds:
        if any(a.endswith(suffix) for a in arches for suffix in row.architecture_suffixes):
            return row.kind
    return None


def _kind_from_name(name: str, rows: list[ModelKind]) -> str | None:
    low = name.lower()
    return next((row.kind for row in rows if any(h in low for h in row.name_hints)), None)


def _read_folder(info: RunInfo, folder: Path, known: DiagnoseFacts) -> None:
    config = _json(folder / "config.json")
    if config and isinstance(config.get("plan"), dict):
        info.add(config["plan"], "config.json (run plan)")
        info.set_kind("causal_lm", "config.json (launch_lora trains causal LMs)")
    elif config and ("model_type" in config or "architectures" in config):
        info.set_kind(_kind_from_model_config(config, known), "config.json (model_type/architectures)")
    if (folder / "training_args.bin").is_file():
        from tools.diagnose.safe_pickle import read_training_args

        args = read_training_args(folder / "training_args.bin")
        if args:
            info.add(args, "training_args.bin")
    for name in ("training_args.json", "training_args.yaml", "train_args.yaml"):
        data = (_json if name.endswith(".json") else _yaml)(folder / name) if (folder / name).is_file() else None
        if data:
            info.add(data, name)
    adapter = _json(folder / "adapter_config.json")
    if adapter:
        info.add({"lora_dropout": adapter.get("lora_dropout"), "lora_r": adapter.get("r")}, "adapter_config.json")
        info.add({"lora_alpha": adapter.get("lora_alpha")}, "adapter_config.json")
        task = str(adapter.get("task_type") or "")
        info.set_kind(
            next((r.kind for r in known.model_kinds if task and task in r.peft_task_types), None),
            "adapter_config.json (task_type)",
        )
        base = adapter.get("base_model_name_or_path")
        if isinstance(base, str):
            info.set_kind(_kind_from_name(base, known.model_kinds), "adapter_config.json (base model name)")
    card = folder / "README.md"
    if card.is_file():
        _read_card(info, card, "README.md (model card)", known)


def _read_card(info: RunInfo, card: Path, source: str, known: DiagnoseFacts) -> None:
    try:
        text = card.read_text("utf-8", errors="replace")
    except OSError:
        return
    head, _, rest = text.partition("### Training hyperparameters")
    hyper: dict[str, Any] = {}
    for line in rest.splitlines()[1:40]:
        if line.startswith("#"):
            break
        m = _HYPER.match(line)
        if m:
            hyper[m.group(1).strip().replace(" ", "_")] = m.group(2)
    info.add(hyper, source)
    low = text.lower()
    for row in known.model_kinds:
        if any(tag in low for tag in row.pipeline_tags):
            info.set_kind(row.kind, f"{source}: task")
    base = _BASE_IN_CARD.search(head)
    if base:
        info.set_kind(_kind_from_name(base.group(1), known.model_kinds), f"{source}: base model {base.group(1)}")


def _read_trainer_state(info: RunInfo, parsed: Parsed) -> None:
    top = parsed.meta.get("trainer_state")
    if not isinstance(top, dict):
        return
    info.add(
        {k: top.get(k) for k in ("logging_steps", "eval_steps", "max_steps", "num_train_epochs")}, "trainer_state.json"
    )
    callbacks = top.get("stateful_callbacks")
    early = callbacks.get("EarlyStoppingCallback") if isinstance(callbacks, dict) else None
    if isinstance(early, dict) and isinstance(early.get("args"), dict):
        info.add({"early_stopping_patience": early["args"].get("early_stopping_patience")}, "trainer_state.json")


def _read_mlflow(info: RunInfo, run: Path, known: DiagnoseFacts) -> None:
    params = run / "params"
    if not params.is_dir():
        return
    values: dict[str, Any] = {}
    for p in sorted(params.iterdir()):
        if p.is_file() and p.stat().st_size < 4096:
            values[p.name] = p.read_text("utf-8", errors="replace").strip()
    info.add(values, "MLflow params")
    model_type = values.get("model_type")
    arches = values.get("architectures")
    cfg = {"model_type": model_type or "", "architectures": re.findall(r"[A-Za-z0-9_]+", arches or "")}
    info.set_kind(_kind_from_model_config(cfg, known), "MLflow params (model_type/architectures)")


def read_run_info(log: Path, parsed: Parsed, metric_names: list[str]) -> RunInfo:
    """Settings and model kind of the run whose log is ``log`` (a file or the folder it was picked from)."""
    known = facts()
    info = RunInfo()
    for folder in _folders(log, parsed):
        _read_folder(info, folder, known)
    _read_trainer_state(info, parsed)
    run = parsed.meta.get("mlflow_run")
    if isinstance(run, Path):
        _read_mlflow(info, run, known)
    if parsed.format == "model_card_table":
        _read_card(info, parsed.path, f"{parsed.path.name} (model card)", known)
    printed = parsed.meta.get("printed_config")
    if isinstance(printed, dict):
        info.add(printed, f"{parsed.path.name} (printed config)")
    names = {n.lower().removeprefix("eval_").removeprefix("eval/") for n in metric_names}
    for row in known.model_kinds:
        hit = sorted(names & set(row.metrics))
        if hit and row.kind == "speech":
            info.set_kind(row.kind, f"the log's eval metric {hit[0]}")
    info.settings.setdefault("eval_logged", "eval_loss" in metric_names)
    info.sources.setdefault("eval_logged", "the log")
    return info
