"""An Ollama Modelfile whose TEMPLATE and stop tokens are the run's training chat template, translated.

Ollama renders prompts with a Go text/template over ``.Messages`` (each with ``.Role`` and ``.Content``); the
run trained with a Jinja chat template. The translation does not parse Jinja: it renders the training template
for probe conversations whose contents are unique markers, reads off what the template writes before and after
each role's content and after the last turn (the generation prompt), and writes a Go template that wraps each
message the same way. Then it checks itself: the Go template's output, computed for several conversations,
must equal the Jinja template's output character for character. A template that does more than wrap each
message (a default system prompt, a system turn folded into the first user turn) fails that check and the
Modelfile is refused with the first difference, rather than written wrong.

A leading BOS token in the Jinja output is left out of the Go template: llama.cpp adds BOS itself when the
GGUF says so (``tokenizer.ggml.add_bos_token``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tools.core.errors import ToolError

Render = Callable[[list[dict[str, str]], bool], str]

_MARK = {"system": "QXSYSMARK", "user": "QXUSRMARK", "user2": "QXUSRTWOMARK", "assistant": "QXASTMARK"}
_PROBE_TEXT = ("What is 2 + 2?\nSay it {{ twice }}", 'It is "4".\n\tDone', "Be brief & exact.")


class NotPortable(Exception):
    """The chat template does something a per-message Go template cannot reproduce."""


@dataclass
class Wrapper:
    prefix: str
    suffix: str


@dataclass
class ChatFormat:
    """What the training template writes around each role's content, before a conversation that does not open
    with a system turn (``head``: a default system prompt), and after the last turn (the generation prompt)."""

    roles: dict[str, Wrapper]
    head: str
    generation_prompt: str
    bos: str | None
    closer: str = ""
    notes: list[str] = field(default_factory=list)

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The text the Go template produces for ``messages`` (BOS excluded), computed in Python."""
        opens_with_system = bool(messages) and messages[0]["role"] == "system" and "system" in self.roles
        out = [] if opens_with_system else [self.head]
        for m in messages:
            wrap = self.roles.get(m["role"])
            if wrap is not None:
                out.append(wrap.prefix + m["content"] + wrap.suffix)
        return "".join(out) + (self.generation_prompt if add_generation_prompt else self.closer)


def _split(text: str, mark: str, what: str) -> tuple[str, str]:
    if text.count(mark) != 1:
        raise NotPortable(f"the {what} content appears {text.count(mark)} times in the rendered template")
    before, after = text.split(mark)
    return before, after


def _strip_bos(text: str, bos: str | None) -> str:
    return text[len(bos) :] if bos and text.startswith(bos) else text


def _safe(render: Render, messages: list[dict[str, str]], gen: bool) -> str:
    try:
        return render(messages, gen)
    except Exception as exc:  # noqa: BLE001 - a template may raise on any conversation it does not accept
        raise NotPortable(f"the template refuses {[m['role'] for m in messages]}: {str(exc)[:160]}") from None


def _cut_prefix(text: str, prefix: str, what: str) -> str:
    if not text.startswith(prefix):
        raise NotPortable(what)
    return text[len(prefix) :]


def _cut_suffix(text: str, suffix: str, what: str) -> str:
    if not text.endswith(suffix):
        raise NotPortable(what)
    return text[: len(text) - len(suffix)]


def _closer(render: Render, bos: str | None, eos: str | None) -> str:
    """What a template appends after the last turn when no generation prompt is asked for (Phi-3 closes a
    finished conversation with EOS); Ollama always asks for the prompt, so it is never in the Go template."""
    u1 = {"role": "user", "content": _MARK["user"]}
    closed = _safe(render, [u1], False)
    if eos and closed.endswith(eos) and not _safe(render, [u1], True).startswith(closed):
        return eos
    return ""


def read_format(render: Render, bos_token: str | None, eos_token: str | None = None) -> ChatFormat:
    """The per-role wrappers of the template behind ``render``; NotPortable when it has none."""
    u1 = {"role": "user", "content": _MARK["user"]}
    a1 = {"role": "assistant", "content": _MARK["assistant"]}
    u2 = {"role": "user", "content": _MARK["user2"]}
    first = _safe(render, [u1, a1, u2], False)
    bos = bos_token if bos_token and first.startswith(bos_token) else None
    tail = _closer(render, bos, eos_token)

    def closed(messages: list[dict[str, str]]) -> str:
        text = _strip_bos(_safe(render, messages, False), bos)
        return _cut_suffix(text, tail, "the end of a conversation renders differently") if tail else text

    t0, rest = _split(closed([u1, a1, u2]), _MARK["user"], "user")
    t1, rest = _split(rest, _MARK["assistant"], "assistant")
    t2, s_user = _split(rest, _MARK["user2"], "second user")
    _, s_asst = _split(closed([u1, a1]), _MARK["assistant"], "assistant")
    p_asst = _cut_prefix(t1, s_user, "a user turn ends differently when an assistant turn follows it")
    p_user = _cut_prefix(t2, s_asst, "an assistant turn ends differently when a user turn follows it")
    head = _cut_suffix(t0, p_user, "the first user turn opens differently from the later ones")
    one = head + p_user + _MARK["user"] + s_user
    prompt = _strip_bos(_safe(render, [u1], True), bos)
    if closed([u1]) != one or not prompt.startswith(one):
        raise NotPortable("a single user turn renders differently from the same turn in a longer conversation")
    roles = {"user": Wrapper(p_user, s_user), "assistant": Wrapper(p_asst, s_asst)}
    notes = []
    try:
        roles["system"] = _system_wrapper(closed, roles["user"])
    except NotPortable as exc:
        notes.append(f"system messages are left out of the Ollama template ({exc})")
    return ChatFormat(roles, head, prompt[len(one) :], bos, tail, notes)


def _system_wrapper(closed: Callable[[list[dict[str, str]]], str], user: Wrapper) -> Wrapper:
    text = closed([{"role": "system", "content": _MARK["system"]}, {"role": "user", "content": _MARK["user"]}])
    before, after = _split(text, _MARK["system"], "system")
    tail = user.prefix + _MARK["user"] + user.suffix
    return Wrapper(before, _cut_suffix(after, tail, "the template folds the system turn into the user turn"))


def probe_conversations() -> list[list[dict[str, str]]]:
    """Conversations the translation is checked on: Ollama's own template test cases, with awkward contents."""
    q, a, s = _PROBE_TEXT
    return [
        [{"role": "user", "content": q}],
        [{"role": "user", "content": q}, {"role": "assistant", "content": a}, {"role": "user", "content": "And 3?"}],
        [
            {"role": "system", "content": s},
            {"role": "user", "content": q},
            {"role": "assistant", "content": a},
            {"role": "user", "content": "And 3?"},
        ],
    ]


def verify(fmt: ChatFormat, render: Render) -> int:
    """Compare the translation with the Jinja template on the probe conversations; the number compared."""
    checked = 0
    for conv in probe_conversations():
        if "system" not in fmt.roles and any(m["role"] == "system" for m in conv):
            continue
        for gen in (True, False):
            want = _strip_bos(_safe(render, conv, gen), fmt.bos)
            got = fmt.render(conv, gen)
            if got != want:
                at = next(
                    (i for i, (x, y) in enumerate(zip(got, want, strict=False)) if x != y), min(len(got), len(want))
                )
                raise NotPortable(
                    f"for roles {[m['role'] for m in conv]} the translation writes {got[at : at + 30]!r} where the "
                    f"training template writes {want[at : at + 30]!r} (character {at})"
                )
            checked += 1
    return checked


# ----------------------------------------------------------------------------- Go template text


def go_string(text: str) -> str:
    """``text`` as a Go interpreted string literal whose characters are all printable (Modelfiles drop others)."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    return "".join(out) + '"'


def go_literal(text: str) -> str:
    """Literal template text; an action printing a Go string when the text holds ``{{`` or unprintable runes."""
    plain = all(ch.isprintable() or ch in "\n\t" for ch in text)
    return text if plain and "{{" not in text and '"""' not in text else "{{ " + go_string(text) + " }}"


def go_template(fmt: ChatFormat) -> str:
    branches = []
    for role in ("system", "user", "assistant"):
        wrap = fmt.roles.get(role)
        if wrap is not None:
            branches.append(
                f'{"if" if not branches else "else if"} eq .Role "{role}" }}}}'
                f"{go_literal(wrap.prefix)}{{{{ .Content }}}}{go_literal(wrap.suffix)}"
            )
    body = "{{ ".join(branches)
    head = go_literal(fmt.head)
    if head and "system" in fmt.roles:
        head = f'{{{{ if ne (index .Messages 0).Role "system" }}}}{head}{{{{ end }}}}'
    loop = f"{{{{ range .Messages }}}}{{{{ {body}{{{{ end }}}}{{{{ end }}}}"
    return head + loop + go_literal(fmt.generation_prompt)


def stop_strings(fmt: ChatFormat, eos_texts: list[str]) -> list[str]:
    """What ends an assistant turn: the text the template closes it with (split at an EOS token it contains), and
    the EOS tokens."""
    pieces = [fmt.roles["assistant"].suffix.strip()]
    for eos in eos_texts:
        pieces = [part.strip() for piece in pieces for part in (piece.split(eos) if eos else [piece])]
    found: list[str] = []
    for text in [*pieces, *eos_texts]:
        if text and text not in found and '"' not in text and all(ch.isprintable() for ch in text):
            found.append(text)
    return found


def modelfile(gguf_name: str, fmt: ChatFormat, stops: list[str], header: list[str]) -> str:
    lines = [f"# {h}" for h in header]
    lines += [f"FROM ./{gguf_name}", f'TEMPLATE """{go_template(fmt)}"""']
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    return "\n".join(lines) + "\n"


def chat_format(tokenizer: Any) -> ChatFormat:
    """The run tokenizer's chat template as a :class:`ChatFormat`, checked; ToolError when it cannot be one."""

    def render(messages: list[dict[str, str]], gen: bool) -> str:
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen))

    try:
        fmt = read_format(render, getattr(tokenizer, "bos_token", None), getattr(tokenizer, "eos_token", None))
        checked = verify(fmt, render)
    except NotPortable as exc:
        raise ToolError(
            "template_not_portable",
            f"the run's chat template cannot be written as an Ollama TEMPLATE that renders the same text: {exc}",
            "export --to gguf and give Ollama a TEMPLATE written by hand (then check it with `ollama show "
            "--template`), or serve with vLLM (--to vllm), which uses the training template itself",
        ) from None
    fmt.notes.append(
        f"the Modelfile TEMPLATE renders the same text as the training chat template on {checked} probe "
        "conversations (compared character by character)"
    )
    return fmt


__all__ = [
    "ChatFormat",
    "NotPortable",
    "chat_format",
    "go_string",
    "go_template",
    "modelfile",
    "probe_conversations",
    "read_format",
    "stop_strings",
    "verify",
]
