"""Dataset findings of the content checks: the tallies of :mod:`tools.validate.content` and the per-example
columns (answer and prompt hashes) judged against reference/data/content_checks.yaml."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.validate.content import Hits, Tallies
from tools.validate.content_facts import ContentFacts

Emit = Callable[[str, str, str, list[tuple[str, int]]], None]  # (code, severity, message, lines)


def _listing(pairs: list[tuple[str, int]], multi: bool, limit: int = 12) -> str:
    shown = [f"{f}:{n}" if multi else str(n) for f, n in pairs[:limit]]
    return ", ".join(shown) + (" ..." if len(pairs) > limit else "")


def findings(t: Tallies, F: ContentFacts, multi: bool, emit: Emit) -> None:
    """Every content finding the tallies support, through ``emit``."""
    _contact(t, F, multi, emit)
    _filler(t, F, multi, emit)
    _phrases(t, F, emit)
    _labels(t, F, emit)
    _cut(t, F, multi, emit)
    _scripts(t, F, multi, emit)


def _contact(t: Tallies, F: ContentFacts, multi: bool, emit: Emit) -> None:
    found = {kind: hits for kind, hits in t.contact.items() if hits.count}
    if not found:
        return
    parts = [
        f"{hits.count} with {'an' if kind == 'e-mail' else 'a'} {kind} (lines {_listing(hits.lines, multi, 8)})"
        for kind, hits in found.items()
    ]
    lines = sorted({p for hits in found.values() for p in hits.lines}, key=lambda p: (p[0], p[1]))
    emit(
        "contact_details",
        F.contact_details.severity,
        f"answers carry contact details: {'; '.join(parts)}; a fine-tuned model repeats them to anyone. "
        "This is a quick pattern check: run `finetune pii` on the file for the full scan (names, places, "
        "secrets) and a redacted copy",
        lines,
    )


def _filler(t: Tallies, F: ContentFacts, multi: bool, emit: Emit) -> None:
    f = F.filler_prompt
    hits = t.filler
    if not hits.count:
        return
    emit(
        "filler_prompt",
        f.severity,
        f"{hits.count} of {t.prompts} prompts are filler or near-empty (at most {f.max_words} words and "
        f"{f.max_letters} letters; lines {_listing(hits.lines, multi)}); the answer has nothing to follow from. "
        "Write the request the answer replies to, or drop the example",
        hits.lines,
    )


def _phrases(t: Tallies, F: ContentFacts, emit: Emit) -> None:
    f = F.repeated_phrase
    if t.phrased < f.min_answers:
        return
    for kind, counter in (("open", t.openings), ("close", t.closings)):
        common = [(p, n) for p, n in counter.most_common(50) if n / t.phrased >= f.min_share]
        if not common:
            continue
        phrase, count = max(common, key=lambda pn: (len(pn[0].split()), pn[1]))
        share = count / t.phrased
        emit(
            f"repeated_{'opening' if kind == 'open' else 'closing'}",
            f.severity,
            f'{count} of {t.phrased} answers ({share:.0%}) {kind} with "{phrase[:60]}"; the model will '
            f"{kind} every reply that way. Vary or remove the stock phrase",
            t.opening_lines.get(phrase, []) if kind == "open" else [],
        )


def _labels(t: Tallies, F: ContentFacts, emit: Emit) -> None:
    f = F.label_imbalance
    labelled = sum(t.labels.values())
    total = labelled + t.long_answers
    if total < f.min_answers or labelled < f.label_share * total or len(t.labels) > f.max_labels:
        return
    if len(t.labels) < 2:
        return
    ranked = t.labels.most_common()
    (top, most), (low, least) = ranked[0], ranked[-1]
    ratio = most / least
    if ratio >= f.max_ratio:
        shown = ", ".join(f'"{label[:30]}" {n}' for label, n in ranked[:6])
        emit(
            "label_imbalance",
            f.severity,
            f"the answers are {len(ranked)} labels and the largest class is {ratio:.0f}x the smallest ({shown}"
            f'{" ..." if len(ranked) > 6 else ""}); the model will favour "{top[:30]}". Balance the classes '
            f'(more "{low[:30]}" examples, or fewer of the majority)',
            [],
        )


def _cut(t: Tallies, F: ContentFacts, multi: bool, emit: Emit) -> None:
    f = F.truncated_answer
    hits = t.cut
    if not hits.count or not t.answers:
        return
    share = hits.count / t.answers
    emit(
        "truncated_answer",
        "warning" if share >= f.warn_share else "info",
        f"{hits.count} of {t.answers} answers ({share:.0%}) end without a terminal mark, as if cut mid-sentence "
        f"(lines {_listing(hits.lines, multi)}); the model learns to stop mid-sentence. Complete them (ignore this "
        "if the answers are unpunctuated by design)",
        hits.lines,
    )


def _scripts(t: Tallies, F: ContentFacts, multi: bool, emit: Emit) -> None:
    f = F.language_mix
    judged = sum(t.scripts.values())
    if not judged or len(t.scripts) < 2:
        return
    major, count = t.scripts.most_common(1)[0]
    if count / judged < f.majority_share:
        return
    others = [(name, n, t.script_lines.get(name, Hits())) for name, n in t.scripts.most_common()[1:]]
    lines = [p for _, _, hits in others for p in hits.lines]
    parts = "; ".join(f"{n} in {name} (lines {_listing(hits.lines, multi, 8)})" for name, n, hits in others)
    emit(
        "language_mix",
        f.severity,
        f"{count} of {judged} answers are written in {major} script, others are not: {parts}; the model learns to "
        "switch language. Translate them or keep them out (script, not language: Latin-script languages are not "
        "told apart)",
        sorted(lines),
    )


def repeated_answers(
    recs: Any,
    F: ContentFacts,
    lines_of: Callable[[Any], list[tuple[str, int]]],
    multi: bool,
    equal_groups: Callable[..., Any],
    emit: Emit,
) -> None:
    """Answers (longer than a label) given word for word to ``min_prompts`` or more different prompts."""
    f = F.repeated_answer
    answers, prompts, asst = recs["answer"], recs["prompt"], recs["asst"]
    groups = []
    for g in equal_groups(answers, skip_zero=True):
        distinct = len(set(prompts[g].tolist()))
        if distinct >= f.min_prompts and int(asst[g[0]]) > F.label_imbalance.max_words:
            groups.append((distinct, sorted(g.tolist())))
    if not groups:
        return
    groups.sort(key=lambda x: (-x[0], x[1][0]))
    covered = sum(len(g) for _, g in groups)
    parts = [f"{d} prompts share the answer at lines {_listing(lines_of(g), multi, 6)}" for d, g in groups[:5]]
    emit(
        "repeated_answer",
        f.severity,
        f"{len(groups)} answers are each given word for word to {f.min_prompts} or more different prompts "
        f"({covered} examples): {'; '.join(parts)}{' ...' if len(groups) > 5 else ''}; the model learns to give "
        "them whatever is asked. Write the answer each prompt needs",
        [p for _, g in groups for p in lines_of(g)],
    )
