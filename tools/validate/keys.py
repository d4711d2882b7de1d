"""Files whose keys almost name a format: ``Prompt``/``Completion``, ``prompt``/``response``, ``question``/``answer``.

No trainer reads them as they are, so validate reports them as an error with the ``finetune prepare --map`` that
renames them; meanwhile it reads them under the standard names, so every other check (content included) still
runs with line numbers.
"""

from __future__ import annotations

from pathlib import Path

from tools.data.formats import detect

_PROMPT = ("prompt", "question", "query", "input", "user", "human")
_ANSWER = ("completion", "response", "answer", "output", "assistant", "bot", "reply")


def guess_renames(path: Path, sample: int = 50) -> tuple[str, dict[str, str]] | None:
    """(format, {key in the file: standard key}) when the head of ``path`` reads as a known format after renaming
    keys (case, or a prompt and an answer synonym); None otherwise."""
    from tools.data.jsonl import parse, read_lines

    keys: dict[str, int] = {}
    seen = 0
    for line in read_lines(path):
        if line.text is None or line.blank:
            continue
        obj, err = parse(line)
        if err is None and isinstance(obj, dict):
            for k in obj:
                keys[k] = keys.get(k, 0) + 1
            seen += 1
        if seen >= sample or line.number > sample * 5:
            break
    common = [k for k, n in keys.items() if n * 2 >= seen]
    renames: dict[str, str] = {}
    for k in common:
        low = k.strip().lower()
        if low in _PROMPT and "prompt" not in renames.values():
            renames[k] = "prompt"
        elif low in _ANSWER and "completion" not in renames.values():
            renames[k] = "completion"
        elif low != k and low in ("messages", "text", "instruction", "output", "system", "chosen", "rejected"):
            renames[k] = low
    if not renames or all(k == v for k, v in renames.items()):
        return None
    fmt = detect({renames.get(k, k): "" for k in common})
    return (fmt, {k: v for k, v in renames.items() if k != v}) if fmt else None


def renamed(obj: dict, renames: dict[str, str]) -> dict:
    return {renames.get(k, k): v for k, v in obj.items()}
