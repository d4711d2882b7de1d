from __future__ import annotations

import copy
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from tests.support.schema_rules import TOOL_NAME, violations
from tools.core import registry
from tools.core.schemas import (
    ANTHROPIC_MAX_STRICT_UNIONS,
    SchemaError,
    anthropic_tools,
    count_unions,
    mcp_tool,
    openai_chat_tool,
    openai_responses_tool,
    portable_schema,
)


class Split(BaseModel):
    train: float = Field(0.8, ge=0, le=1)
    seed: int | None = None


class Tricky(BaseModel):
    """A model with every construct the raw pydantic schema gets wrong for strict mode."""

    mode: Literal["fast", "full"]
    count: int = Field(ge=1, description="how many")
    epochs: int = Field(3, ge=1, le=10)
    note: str | None = None
    split: Split | None = None
    splits: list[Split] = Field(default_factory=list, max_length=4)
    email: str = Field("a@b.c", pattern=r"^.+@.+$")


class WithDict(BaseModel):
    tags: dict[str, str] = {}


class Node(BaseModel):
    children: list[Node] = []


def test_tricky_model_converts_to_a_clean_schema() -> None:
    schema = portable_schema(Tricky)
    assert violations(schema) == []
    props = schema["properties"]
    assert schema["required"] == list(props)
    assert props["mode"]["enum"] == ["fast", "full"]
    assert "minimum 1" in props["count"]["description"]
    assert "default 3" in props["epochs"]["description"]
    assert {"type": "null"} in props["note"]["anyOf"]
    nested = props["split"]["anyOf"][0]
    assert nested["additionalProperties"] is False and nested["required"] == ["train", "seed"]
    assert props["splits"]["anyOf"][0]["items"]["additionalProperties"] is False


@pytest.mark.parametrize("model, words", [(WithDict, "free-form"), (Node, "refers to itself")])
def test_unportable_models_are_refused(model: type[BaseModel], words: str) -> None:
    with pytest.raises(SchemaError, match=words):
        portable_schema(model)


def test_the_checker_catches_each_rule() -> None:
    good = portable_schema(Tricky)
    broken = copy.deepcopy(good)
    broken["properties"]["count"]["minimum"] = 1
    broken["properties"]["split"]["anyOf"][0]["additionalProperties"] = True
    broken["required"].remove("note")
    broken["properties"]["mode"]["enum"] = ["Fast", "fast"]
    found = "\n".join(violations(broken))
    for expected in (
        "forbidden keyword 'minimum'",
        "additionalProperties must be false",
        "every property must be required",
        "differ only in case",
    ):
        assert expected in found


def test_every_registered_tool_has_a_portable_schema() -> None:
    specs = registry.all_tools()
    assert specs, "the registry lists no tools"
    for spec in specs:
        assert TOOL_NAME.match(spec.name), spec.name
        assert spec.description and len(spec.description) > 40, f"{spec.name}: describe what and when"
        assert spec.effect in registry.EFFECTS
        schema = portable_schema(spec.input_model)
        assert violations(schema) == [], f"{spec.name}: {violations(schema)}"


def test_sdk_helpers_leave_the_schema_as_it_is() -> None:
    """Anthropic's and OpenAI's own strict transforms find nothing left to change."""
    from anthropic import transform_schema
    from openai.lib._pydantic import _ensure_strict_json_schema

    for spec in registry.all_tools():
        schema = portable_schema(spec.input_model)
        assert _ensure_strict_json_schema(copy.deepcopy(schema), path=(), root=schema) == schema
        transformed = transform_schema(copy.deepcopy(schema))
        assert set(transformed["properties"]) == set(schema["properties"])
        assert transformed["additionalProperties"] is False
    schema = portable_schema(Tricky)
    assert _ensure_strict_json_schema(copy.deepcopy(schema), path=(), root=schema) == schema


def test_adapters_render_each_api_shape() -> None:
    spec = registry.get("audit_log")
    chat = openai_chat_tool(spec)
    assert chat["type"] == "function" and chat["function"]["strict"] is True
    assert chat["function"]["parameters"]["additionalProperties"] is False
    responses = openai_responses_tool(spec)
    assert responses["name"] == "audit_log" and responses["strict"] is True and "function" not in responses
    mcp = mcp_tool(spec)
    assert mcp["inputSchema"] == chat["function"]["parameters"]
    assert mcp["annotations"]["readOnlyHint"] is True
    (anthropic,) = anthropic_tools([spec])
    assert anthropic["input_schema"] == chat["function"]["parameters"] and anthropic["strict"] is True


def test_anthropic_strict_stays_inside_the_union_budget() -> None:
    specs = [
        registry.Tool(
            name=f"t{i}",
            func=lambda r: r,
            input_model=Tricky,
            output_model=Tricky,
            effect="read",
            duration="seconds",
            stage="reference",
            destructive=False,
            description="x" * 50,
        )
        for i in range(8)
    ]
    rendered = anthropic_tools(specs)
    strict_unions = sum(count_unions(t["input_schema"]) for t in rendered if t["strict"])
    assert strict_unions <= ANTHROPIC_MAX_STRICT_UNIONS
    assert any(t["strict"] for t in rendered) and not all(t["strict"] for t in rendered)


def test_nulls_for_defaulted_fields_fall_back_to_the_default() -> None:
    cleaned = registry.apply_defaults(Tricky, {"mode": "fast", "count": 2, "epochs": None, "note": None})
    model = Tricky.model_validate(cleaned)
    assert model.epochs == 3 and model.note is None
