"""Writes configure_training's plan file and exports into the output folder (atomically, never over an input)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools import knowledge
from tools.configure import exports as cx
from tools.configure.models import ConfigRequest, ExportFile
from tools.core.errors import ToolError
from tools.core.workspace import Workspace, sha256_file, write_text_atomic
from tools.plan import plan_math as pm
from tools.plan.training_plan import TrainingPlan

FILES = {
    "trl_python": "trl_sft.py",
    "trl_yaml": "trl_sft.yaml",
    "axolotl": "axolotl.yaml",
    "llamafactory": "llamafactory.yaml",
    "unsloth": "unsloth_train.py",
    "together_job": "together_job.json",
    "openai_job": "openai_job_legacy.json",
}


def _openai_model(req: ConfigRequest) -> tuple[str, knowledge.Provider]:
    prov = knowledge.providers().provider("openai")
    today = knowledge.today()
    if req.provider_model and pm.match_model_id([m.id for m in prov.models], req.provider_model):
        return pm.match_model_id([m.id for m in prov.models], req.provider_model) or "", prov
    live = [m for m in prov.models if "sft" in m.methods and (prov.model_until(m) or today) > today]
    if not live:
        raise ToolError(
            "no_openai_model", "no OpenAI model takes new fine-tuning jobs any more", "leave openai_job out of exports"
        )
    return live[0].id, prov


def _trl(view: cx.PlanView, plan: TrainingPlan | None) -> dict[str, Any]:
    """The TRL keys: for a LoRA/QLoRA plan the very ones launch_lora trains with (tools.plan.trl_config)."""
    if plan is None:
        return cx.trl_config(view)
    from tools.plan.trl_config import trl_config

    gpu = view.bf16
    return trl_config(
        plan,
        objective="sft",
        dataset=view.dataset,
        output_dir=view.output_dir,
        precision="bf16" if gpu else "fp32",
        device="cuda" if gpu else "cpu",
        has_eval=plan.eval_fraction > 0,
        for_run=False,
    )


def write_exports(
    ws: Workspace, out_dir: Path, view: cx.PlanView, plan: TrainingPlan | None, req: ConfigRequest, examples: int | None
) -> tuple[list[ExportFile], str | None, list[str]]:
    if out_dir.exists() and not out_dir.is_dir():
        raise ToolError("out_dir_is_file", f"out_dir {ws.relative(out_dir)!r} is a file", "give a folder name")
    inputs = tuple(p for p in (ws.input_file(req.dataset),) if req.dataset) if req.dataset else ()
    written: list[ExportFile] = []
    warnings: list[str] = []

    def put(kind: str, name: str, text: str, note: str | None = None, legacy: bool = False) -> str:
        target = ws.output_file(out_dir / name, inputs=inputs, what=f"{kind} export")
        write_text_atomic(target, text)
        rel = ws.relative(target)
        written.append(ExportFile(kind=kind, path=rel, sha256=sha256_file(target), note=note, legacy=legacy))
        return rel

    plan_file = None
    if plan is not None:
        plan_file = put(
            "launch_lora_plan",
            "plan.json",
            plan.model_dump_json(indent=2) + "\n",
            "launch_lora(plan_file=...) trains exactly this plan",
        )
    kinds = req.exports or list(FILES)
    for kind in kinds:
        name = FILES[kind]
        if kind == "trl_python":
            put(kind, name, cx.trl_python(view, _trl(view, plan)), "TRL SFTConfig + peft LoraConfig; needs trl, peft")
        elif kind == "trl_yaml":
            note = (
                "for `trl sft --config trl_sft.yaml`; launch_lora trains with the same keys (runs/<id>/trl_config.yaml)"
            )
            put(kind, name, cx.dump_yaml(_trl(view, plan)), note)
        elif kind == "axolotl":
            put(kind, name, cx.dump_yaml(cx.axolotl(view)), "for `axolotl train axolotl.yaml`")
        elif kind == "llamafactory":
            template = cx.llamafactory_template(view.base_model)
            put(
                kind,
                name,
                cx.dump_yaml(cx.llamafactory(view)),
                "for `llamafactory-cli train llamafactory.yaml`; register the dataset with "
                "llamafactory_dataset_info.json",
            )
            put(
                "llamafactory_dataset_info",
                "llamafactory_dataset_info.json",
                cx.dump_json(cx.llamafactory_dataset_info(view.dataset)),
                "merge into LLaMA-Factory's data/dataset_info.json",
            )
            if template is None:
                warnings.append(
                    f"LLaMA-Factory template for {view.base_model!r} unknown: set `template` to the model's"
                )
        elif kind == "unsloth":
            if view.method == "full":
                warnings.append("unsloth export skipped: the script is written for LoRA/QLoRA")
                continue
            put(kind, name, cx.unsloth(view), "needs unsloth on a CUDA GPU")
        elif kind == "together_job":
            model = req.provider_model or view.base_model
            note = (
                "POST https://api.together.xyz/v1/fine-tunes after uploading the file; "
                "check the model is in Together's catalog"
            )
            put(kind, name, cx.dump_json(cx.together_job(view, model)), note)
        elif kind == "openai_job":
            model, prov = _openai_model(req)
            epochs: int | str = pm.openai_auto_epochs(examples)[0] if examples else "auto"
            put(
                kind,
                name,
                cx.dump_json(cx.openai_job(view, model, epochs)),
                f"no new {prov.name} jobs after {prov.available_until} (see the notices)",
                legacy=True,
            )
            warnings.append(
                f"LEGACY: {prov.name} takes no new fine-tuning jobs after {prov.available_until}; "
                f"{prov.until_note or ''}".strip()
            )
    return written, plan_file, warnings
