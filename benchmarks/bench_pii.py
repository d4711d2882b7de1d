"""Quality and speed of scan_pii against Presidio run as a competent user runs it, on labelled synthetic data.

Data (fixed seeds, offline):
- labelled sentences from presidio-evaluator's PresidioSentenceFaker (its templates + Faker; the `bench`
  extra), https://github.com/microsoft/presidio-research;
- chat-shaped support conversations with no PII at all (a system prompt repeated in every conversation,
  order ids, sizes, prices, delivery dates, version numbers, code): every detection there is a false positive.

Configurations, each with the same spaCy model:
- out of the box: ``AnalyzerEngine()`` defaults (every predefined recognizer, the full spaCy pipeline,
  threshold 0): the quality before tuning;
- fair baseline (the speed reference): ``BatchAnalyzerEngine`` over an ``AnalyzerEngine`` whose spaCy pipeline is
  cut to NER, each distinct text analysed once, the scored entity types only;
- scan_pii's engine (``tools.pii.engine``), and the scan_pii tool end to end on a JSONL file of the same
  texts with one worker and with one per core.

Scoring is span-level: a prediction is a true positive when it overlaps a gold span of the same type. Gold
types outside the scored set (titles, organisations, ages...) are ignored; a prediction of a scored type that
matches no gold span of that type is a false positive. F2 (recall weighted twice) as Presidio's evaluation
recommends. DATE_TIME is not scored: the tuned set reports only birth dates, which the generator does not
label apart from other dates. STREET_ADDRESS is scored in its own column (out of the box Presidio has no
English address recognizer), and F2 is given over the nine types of earlier runs and over all ten.

Times are CPU-seconds (this process, plus its children for the tool runs), so a busy machine does not skew
the ratios the way wall-clock time would; the tool runs print wall time too, for the per-core scaling.

The recall the re-scan statement quotes (reference/data/pii.yaml `recall`) is the tuned engine's recall here;
``--yaml`` prints the row to paste.

Run: .venv/bin/python benchmarks/bench_pii.py [--n 5000] [--chats 1000] [--seeds 1,2] [--lines 6000] [--yaml]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NINE = [
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "LOCATION",
    "URL",
]
SCORED = NINE + ["STREET_ADDRESS"]
GOLD_MAP = {"GPE": "LOCATION", "DOMAIN_NAME": "URL", "LOCATION": "LOCATION"}
SEED = 20261124


def no_network() -> None:
    def refuse(*args, **kwargs):
        raise OSError("bench_pii runs offline")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]


def labelled(n: int, seed: int = SEED) -> list[tuple[str, list[tuple[str, int, int]]]]:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from presidio_evaluator.data_generator import PresidioSentenceFaker, presidio_templates_file_path
    from presidio_evaluator.data_generator.presidio_sentence_faker import presidio_additional_entity_providers

    providers = [p for p in presidio_additional_entity_providers if p.__name__ != "HospitalProvider"]
    templates = [
        t.strip()
        for t in presidio_templates_file_path.read_text().splitlines()
        if t.strip() and "hospital" not in t.lower()
    ]
    random.seed(seed)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        faker = PresidioSentenceFaker(
            locale="en_US",
            lower_case_ratio=0.05,
            sentence_templates=templates,
            entity_providers=providers,
            random_seed=seed,
        )
        samples = faker.generate_new_fake_sentences(n)
    out = []
    for s in samples:
        gold = [(GOLD_MAP.get(sp.entity_type, sp.entity_type), sp.start_position, sp.end_position) for sp in s.spans]
        # Some templates hold a literal backslash-n; make it a real line break (same length, offsets kept).
        out.append((s.full_text.replace("\\n", "\n "), gold))
    return out


SYSTEM = (
    "You are the support assistant of Juniper Outdoor. Answer in one short sentence, then numbered steps "
    "if the customer has to do something. Echo order numbers back. Never promise refunds outside the policy."
)
PRODUCTS = ["Trailhead GTX boots", "Aurora 2 tent", "Basecamp 45L pack", "Glacier down jacket", "Tundra gloves"]
USER = [
    "Order JO-{n} arrived with a broken zip, what now?",
    "Does the {p} come in size {s}?",
    "I was charged {m} twice for order JO-{n}.",
    "When will order JO-{n} ship? It says processing since {d}.",
    "Is the {p} waterproof to {k} mm?",
    "The app shows error E{e} after updating to version {v}.",
    "Can I return the {p} after {k2} days?",
    "How do I wash the {p}?",
    "My tracking number is 1Z{t} and nothing moved since {d}.",
    "What is the difference between the {p} and the {p2}?",
]
ASSISTANT = [
    "Sorry about that - order JO-{n} qualifies for a free replacement.\n\n1. Reply with a photo.\n2. We ship it.",
    "Yes, the {p} comes in sizes S to XL; {s} is in stock.",
    "You were refunded {m} for order JO-{n}.",
    "Order JO-{n} ships within 2 working days; it has been processing since {d}.",
    "The {p} is rated to {k} mm hydrostatic head.",
    "Error E{e} is fixed in version {v}: update the app.",
    "Returns are accepted within 30 days if the {p} is unused.",
    "Wash the {p} at 30 degrees, no softener.",
    "Tracking 1Z{t} shows the parcel at the depot since {d}; it moves today.",
    "The {p2} is lighter; the {p} is warmer.",
]


def chats(n: int, seed: int = SEED) -> list[str]:
    rng = random.Random(seed)
    msgs = []
    for _ in range(n):
        i = rng.randrange(len(USER))
        fill = {
            "n": rng.randint(100000, 999999),
            "p": rng.choice(PRODUCTS),
            "p2": rng.choice(PRODUCTS),
            "s": rng.choice(["S", "M", "L", "XL", "EU 42", "UK 9"]),
            "m": f"EUR {rng.randint(20, 400)}.{rng.randint(0, 99):02d}",
            "d": f"{rng.randint(1, 28)} {rng.choice(['March', 'May', 'October'])}",
            "k": rng.choice([5000, 10000, 20000]),
            "e": rng.randint(100, 999),
            "v": f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            "k2": rng.randint(5, 60),
            "t": "".join(rng.choice("0123456789ABCDEF") for _ in range(16)),
        }
        msgs += [SYSTEM, USER[i].format(**fill), ASSISTANT[i].format(**fill)]
    return msgs


def score(preds: list[list[tuple[str, int, int]]], golds: list[list[tuple[str, int, int]]]) -> dict[str, Counter]:
    c: dict[str, Counter] = {e: Counter() for e in SCORED}
    for pred, all_gold in zip(preds, golds, strict=True):
        gold = [g for g in all_gold if g[0] in c]
        other = [g for g in all_gold if g[0] not in c]
        used = set()
        for etype, s, e in pred:
            if etype not in c:
                continue
            if any(s < ge and gs < e for _, gs, ge in other) and not any(
                s < ge and gs < e for gt, gs, ge in gold if gt == etype
            ):
                continue  # PII of an unscored type (street address, title...): neither right nor wrong here
            match = next(
                (j for j, (gt, gs, ge) in enumerate(gold) if gt == etype and j not in used and s < ge and gs < e), None
            )
            if match is None:
                c[etype]["fp"] += 1
            else:
                used.add(match)
                c[etype]["tp"] += 1
        for j, (gt, _, _) in enumerate(gold):
            if j not in used:
                c[gt]["fn"] += 1
    return c


def prf(c: Counter) -> tuple[float, float, float]:
    p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
    r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
    f2 = 5 * p * r / (4 * p + r) if p + r else 0.0
    return p, r, f2


def total(c: dict[str, Counter], types: list[str] | None = None) -> Counter:
    out: Counter = Counter()
    for k, v in c.items():
        if types is None or k in types:
            out.update(v)
    return out


def quiet() -> Any:
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore")
    return ctx


def out_of_the_box(model: str) -> Any:
    """Presidio's defaults: every predefined recognizer, the full spaCy pipeline (lemmas for context words)."""
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    return BatchAnalyzerEngine(AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine()))


def fair_baseline(model: str) -> Any:
    """Presidio as a competent user runs it for speed: BatchAnalyzerEngine, spaCy cut to NER."""
    batch = out_of_the_box(model)
    batch.analyzer_engine.nlp_engine.nlp["en"].select_pipes(enable=["ner"])
    return batch


def run_batch(batch: Any, texts: list[str], entities: list[str]) -> tuple[float, list[list[tuple[str, int, int]]]]:
    """CPU-seconds and predictions of a BatchAnalyzerEngine over each distinct text once."""
    distinct = list(dict.fromkeys(texts))
    batch.analyze_iterator(["warm up: John Smith lives in Leeds"], language="en")
    started = time.process_time()
    found = batch.analyze_iterator(distinct, language="en", entities=entities, batch_size=64)
    secs = time.process_time() - started
    by_text = {t: [(r.entity_type, r.start, r.end) for r in rs] for t, rs in zip(distinct, found, strict=True)}
    return secs, [by_text[t] for t in texts]


def run_tuned(eng: Any, texts: list[str], roles: list[str], chats_n: int) -> tuple[float, list[list[Any]]]:
    """CPU-seconds and predictions of scan_pii's engine, with scan_pii's template rule applied."""
    from tools.pii.recognizers import facts

    eng.analyze_many(["warm up: John Smith lives in Leeds"], ["PERSON"])
    started = time.process_time()
    hits = eng.analyze_many(texts, facts().default_entities())
    rule = facts().template
    floor = max(rule.min_lines, rule.min_share * chats_n)
    shared = Counter(x for x, role in zip(texts, roles, strict=True) if role in rule.roles)
    kept = [
        [
            (h.entity, h.start, h.end)
            for h in hs
            if not (r in rule.roles and shared[x] >= floor and h.entity in rule.entities)
        ]
        for x, r, hs in zip(texts, roles, hits, strict=True)
    ]
    return time.process_time() - started, kept


def dataset(n: int, chats_n: int, seed: int) -> tuple[list[str], list[list[Any]], list[str], int]:
    data = labelled(n, seed)
    texts = [t for t, _ in data] + chats(chats_n, seed)
    golds = [g for _, g in data] + [[] for _ in range(len(texts) - len(data))]
    roles = ["user"] * len(data) + ["system", "user", "assistant"] * chats_n
    return texts, golds, roles, len(data)


def quality_row(name: str, secs: float | None, preds: list[Any], golds: list[Any], n_lab: int, base: float) -> dict:
    sc = score(preds, golds)
    p9, r9, f9 = prf(total(sc, NINE))
    p, r, f2 = prf(total(sc))
    chat_fp = sum(len(pr) for pr in preds[n_lab:])
    speed = f"{base / secs:7.2f}x" if secs else "      -"
    cpu = f"{secs:8.1f}" if secs else "       -"
    print(f"{name:34} {cpu} {speed} {p9:6.3f} {r9:6.3f} {f9:6.3f} | {p:6.3f} {r:6.3f} {f2:6.3f} {chat_fp:8d}")
    return {"scores": sc, "f2_nine": f9, "f2": f2, "recall": r, "precision": p}


def per_entity(before: dict, after: dict) -> None:
    print(f"\n{'entity':14} {'out of the box':^20} | {'scan_pii (tuned)':^20} | support")
    for e in SCORED:
        b, a = before["scores"][e], after["scores"][e]
        cols = " ".join(f"{x:6.3f}" for x in prf(b)) + " | " + " ".join(f"{x:6.3f}" for x in prf(a))
        print(f"{e:14} {cols} | {b['tp'] + b['fn']:7d}")


def seeds_check(model: str, tuned: Any, seeds: list[int], n: int, chats_n: int) -> None:
    print(f"\nF2 on other seeds ({n} sentences + {chats_n} chats each): out of the box -> tuned (nine types; all ten)")
    box = out_of_the_box(model)
    for seed in seeds:
        texts, golds, roles, _ = dataset(n, chats_n, seed)
        _, before = run_batch(box, texts, NINE)
        _, after = run_tuned(tuned, texts, roles, chats_n)
        b, a = score(before, golds), score(after, golds)
        print(
            f"  seed {seed}: {prf(total(b, NINE))[2]:.3f} -> {prf(total(a, NINE))[2]:.3f}; "
            f"{prf(total(b))[2]:.3f} -> {prf(total(a))[2]:.3f}"
        )


def tool_run(path: Path, workers: int) -> tuple[float, float]:
    """The scan_pii CLI on ``path``: the tool's own wall seconds and CPU-seconds (its process and every worker,
    model loading included; the CLI's start-up is left out, the same for every worker count)."""
    cmd = [str(Path(sys.executable).parent / "finetune"), "pii", path.name, "--json", "--workers", str(workers)]
    proc = subprocess.run(cmd, cwd=path.parent, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"scan_pii failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout)
    return result["seconds"], result["cpu_seconds"]


def scaling(texts: list[str], lines: int, fair_secs: float, fair_texts: int) -> None:
    """scan_pii end to end on a JSONL file, one worker and one per core."""
    import os

    from tools.pii.pool import cores

    folder = Path(tempfile.mkdtemp(prefix="bench-pii-"))
    path = folder / "chat.jsonl"
    rng = random.Random(SEED)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(lines):
            user, assistant = texts[i % len(texts)], rng.choice(texts)
            row = {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}
            handle.write(json.dumps(row) + "\n")
    n = cores()
    print(
        f"\nscan_pii end to end on {lines} chat lines ({path.stat().st_size / 1e6:.1f} MB); {n} cores here, load "
        f"average {os.getloadavg()[0]:.1f} (wall-clock scaling needs idle cores); fair baseline: "
        f"{fair_texts / fair_secs:.0f} distinct texts per CPU-second (above)"
    )
    print(f"{'workers':>8} {'wall s':>8} {'cpu s':>8} {'wall speedup':>13} {'efficiency':>11} {'cpu vs 1':>9}")
    runs: dict[int, tuple[float, float]] = {}
    for workers in sorted({1, n}):
        runs[workers] = tool_run(path, workers)
        wall, cpu = runs[workers]
        speedup = runs[1][0] / wall
        print(
            f"{workers:8d} {wall:8.1f} {cpu:8.1f} {speedup:12.2f}x {speedup / workers:10.0%} {cpu / runs[1][1]:8.2f}x"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000, help="labelled sentences (presidio-evaluator)")
    ap.add_argument("--chats", type=int, default=1000, help="PII-free support conversations (3 messages each)")
    ap.add_argument("--seeds", default="1,2", help="other seeds for the F2 check (comma-separated; '' for none)")
    ap.add_argument("--check-n", type=int, default=2000, help="labelled sentences per other seed")
    ap.add_argument("--lines", type=int, default=6000, help="chat lines for the end-to-end per-core run (0: skip)")
    ap.add_argument("--yaml", action="store_true", help="print the recall row for reference/data/pii.yaml")
    args = ap.parse_args()
    no_network()
    try:
        texts, golds, roles, n_lab = dataset(args.n, args.chats, SEED)
    except ImportError:
        print("presidio-evaluator is not installed (the bench extra): pip install 'finetune-skill[bench]'")
        return 0
    from tools.pii.engine import PiiEngine
    from tools.pii.recognizers import make_offline, pick_model

    make_offline()
    model = pick_model("en")
    assert model is not None, "bench_pii needs an English spaCy model (the pii extra)"
    gold_n = sum(g[0] in SCORED for gs in golds for g in gs)
    print(
        f"{n_lab} labelled sentences (seed {SEED}) + {len(texts) - n_lab} PII-free chat messages "
        f"({len(set(texts))} distinct texts); scored gold spans: {gold_n}; spaCy model {model}"
    )
    ctx = quiet()
    box_secs, box = run_batch(out_of_the_box(model), texts, NINE)
    fair_secs, fair = run_batch(fair_baseline(model), texts, NINE)
    tuned_engine = PiiEngine("en", model, tuned=True)
    tuned_secs, tuned = run_tuned(tuned_engine, texts, roles, args.chats)
    print("\ntimes are CPU-seconds of this process (time.process_time), each distinct text analysed once")
    print(
        f"\n{'configuration':34} {'cpu s':>8} {'vs fair':>8} {'P9':>6} {'R9':>6} {'F2_9':>6} | "
        f"{'P':>6} {'R':>6} {'F2':>6} {'chat FP':>8}"
    )
    before = quality_row("out of the box (full pipeline)", box_secs, box, golds, n_lab, fair_secs)
    quality_row("fair baseline (batch, NER only)", fair_secs, fair, golds, n_lab, fair_secs)
    after = quality_row("scan_pii engine (tuned)", tuned_secs, tuned, golds, n_lab, fair_secs)
    per_entity(before, after)
    print(
        f"\nF2 over the nine types: out of the box {before['f2_nine']:.3f} -> tuned {after['f2_nine']:.3f} "
        f"({after['f2_nine'] - before['f2_nine']:+.3f}); over all ten {before['f2']:.3f} -> {after['f2']:.3f}"
    )
    print(f"speed: scan_pii's engine {fair_secs / tuned_secs:.2f}x the fair baseline in CPU-seconds (goal: 2x)")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if seeds:
        seeds_check(model, tuned_engine, seeds, args.check_n, args.chats // 2)
    ctx.__exit__(None, None, None)
    if args.yaml:
        print_yaml(model, args.n, gold_n, after)
    if args.lines:
        scaling(texts, args.lines, fair_secs, len(set(texts)))
    return 0


def print_yaml(model: str, n: int, gold_n: int, after: dict) -> None:
    from importlib.metadata import version

    per = {
        e: round(prf(after["scores"][e])[1], 3) for e in SCORED if after["scores"][e]["tp"] + after["scores"][e]["fn"]
    }
    bench = f"presidio-evaluator {version('presidio-evaluator')} synthetic sentences ({n}, seed {SEED})"
    print("\nrecall:")
    print(f"  - model: {model}")
    print(f"    benchmark: {bench}")
    print(f"    sentences: {n}")
    print(f"    gold_spans: {gold_n}")
    print(f"    recall: {after['recall']:.3f}")
    print(f"    precision: {after['precision']:.3f}")
    print(f"    per_entity: {{{', '.join(f'{k}: {v}' for k, v in per.items())}}}")


if __name__ == "__main__":
    raise SystemExit(main())
