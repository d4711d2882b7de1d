"""The plain-chat fast path gives exactly what the general path (detect + normalise + check_line) gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tools.data.format_rules import check_line
from tools.data.formats import detect, facts, normalise
from tools.validate.plain_chat import read_plain_chat

_ROLES = st.sampled_from(["system", "user", "assistant", "tool", "developer", "model", "", "User"])
_CONTENT = st.one_of(
    st.sampled_from(["hi", "  ", "", "Answer: 42", "As an AI language model, no"]),
    st.text(max_size=8),
    st.none(),
    st.integers(),
    st.just([{"type": "text", "text": "x"}]),
)
_MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": _ROLES, "content": _CONTENT}),
    st.fixed_dictionaries(
        {"role": _ROLES, "content": _CONTENT}, optional={"weight": st.sampled_from([0, 1, 2]), "name": st.just("x")}
    ),
    st.dictionaries(st.sampled_from(["role", "content", "extra"]), st.sampled_from(["user", "x", 1])),
    st.sampled_from([None, "user", 3]),
)
_LINE = st.one_of(
    st.fixed_dictionaries({"messages": st.lists(_MESSAGE, max_size=6)}),
    st.fixed_dictionaries(
        {"messages": st.lists(_MESSAGE, max_size=4)}, optional={"tools": st.just([]), "extra": st.just(1)}
    ),
    st.fixed_dictionaries({"messages": st.sampled_from([None, "text", {}, []])}),
)
_TARGETS = [t for t in facts().targets if "openai_chat" in t.formats]


@settings(max_examples=600, deadline=None)
@given(_LINE, st.sampled_from(_TARGETS))
def test_fast_path_agrees_with_the_general_path(obj: dict[str, Any], target: Any) -> None:
    reserved = facts().nova_reserved.strings
    plain = read_plain_chat(obj, target, reserved)
    if plain is None:
        return
    conv, issues = plain
    assert detect(obj) == "openai_chat"
    assert normalise(obj, "openai_chat") == conv
    assert check_line(obj, "openai_chat", target, normalise(obj, "openai_chat"), reserved) == issues


def test_typical_lines_take_the_fast_path_and_keep_their_findings() -> None:
    target = facts().default_target("openai_chat")
    reserved = facts().nova_reserved.strings
    good = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
        ]
    }
    ends_with_user = {"messages": good["messages"] + [{"role": "user", "content": "and 3+3?"}]}
    assert read_plain_chat(good, target, reserved) is not None
    _, issues = read_plain_chat(ends_with_user, target, reserved) or (None, None)
    assert issues and issues[0][0] == "missing_final_assistant"
    with_weight = {"messages": good["messages"][:2] + [{"role": "assistant", "content": "4", "weight": 1}]}
    assert read_plain_chat(with_weight, target, reserved) is None  # the general path owns weights
