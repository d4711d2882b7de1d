"""The checklist walk (prompts/steps.yaml): the steps every surface presents in the same order."""

from __future__ import annotations

from functools import cache

import yaml
from pydantic import BaseModel

from tools.core import registry
from tools.core.resources import prompts_dir


class Step(BaseModel):
    name: str
    title: str
    reference: str
    argument: str
    body: str

    @property
    def tools(self) -> list[str]:
        """The registered tools that declare this step as their stage, in workflow order."""
        return [t.name for t in registry.by_stage(self.name)]

    def available_tools(self) -> list[str]:
        return self.tools

    def instructions(self, argument_value: str | None = None) -> str:
        """The step as a prompt: what to do, with which tool (or from which reference file)."""
        lines = [f"# {self.title}", "", " ".join(self.body.split()), ""]
        tools = self.available_tools()
        if tools:
            lines.append(
                "Use the finetune-skill tools "
                + ", ".join(f"`{t}`" for t in tools)
                + f"; read `{self.reference}` when you need the background."
            )
        else:
            lines.append(f"The tool for this step is not available in this version; work from `{self.reference}`.")
        if argument_value:
            lines += ["", f"{self.argument}: {argument_value}"]
        return "\n".join(lines)


class Walk(BaseModel):
    steps: list[Step]

    def get(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)


@cache
def walk() -> Walk:
    """The steps of prompts/steps.yaml; their order must be the registry's stage order."""
    loaded = Walk.model_validate(yaml.safe_load((prompts_dir() / "steps.yaml").read_text("utf-8")))
    order = [s.name for s in loaded.steps]
    if order != [s for s in registry.STAGES if s in order] or not set(order) <= set(registry.STAGES):
        raise ValueError(
            f"prompts/steps.yaml: steps {order} must be stages of tools.core.registry.STAGES, in that order"
        )
    return loaded
