"""Speed and quality of scan_pii's engine against out-of-the-box Presidio, on labelled synthetic data.

Data (fixed seed, offline):
- labelled sentences from presidio-evaluator's PresidioSentenceFaker (templates + Faker; dev dependency);
- chat-shaped support conversations with no PII at all (a system prompt repeated in every conversation,
  order ids, sizes, prices, delivery dates, version numbers, code): every detection there is a false positive.

Three configurations, each with the same spaCy model and the same scored entity types:
- baseline: ``AnalyzerEngine()`` defaults (all predefined recognizers, threshold 0), ``analyze`` once per message;
- fast, untuned: the same recognizers through our fast path (dedup, nlp.pipe batches, parser excluded);
- tuned: ``tools.pii.recognizers.engine("en")`` - what scan_pii runs.

Scoring is span-level: a prediction is a true positive when it overlaps a gold span of the same type.
Gold types outside the scored set (street addresses, titles, organisations, ages...) are ignored; a
prediction of a scored type that matches no gold span of that type is a false positive. F2 (recall
weighted twice) as Presidio's evaluation recommends. DATE_TIME is not scored: the tuned set reports
only birth dates, which the generator does not label apart from other dates.

Times are CPU seconds of this process (all three run single-process), so a busy machine does not skew
the ratios the way wall-clock time would.

Run: .venv/bin/python benchmarks/bench_pii.py [--n 5000] [--chats 1000]
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SCORED = [
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
GOLD_MAP = {"GPE": "LOCATION", "DOMAIN_NAME": "URL", "LOCATION": "LOCATION"}
SEED = 20261124


def no_network() -> None:
    def refuse(*args, **kwargs):
        raise OSError("bench_pii runs offline")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]


def labelled(n: int) -> list[tuple[str, list[tuple[str, int, int]]]]:
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
    random.seed(SEED)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        faker = PresidioSentenceFaker(
            locale="en_US",
            lower_case_ratio=0.05,
            sentence_templates=templates,
            entity_providers=providers,
            random_seed=SEED,
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


def chats(n: int) -> list[str]:
    rng = random.Random(SEED)
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


def total(c: dict[str, Counter]) -> Counter:
    out: Counter = Counter()
    for v in c.values():
        out.update(v)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000, help="labelled sentences (presidio-evaluator)")
    ap.add_argument("--chats", type=int, default=1000, help="PII-free support conversations (3 messages each)")
    args = ap.parse_args()
    no_network()
    try:
        data = labelled(args.n)
    except ImportError:
        print("presidio-evaluator is not installed (dev dependency): pip install presidio-evaluator")
        return 0
    texts = [t for t, _ in data] + chats(args.chats)
    golds = [g for _, g in data] + [[] for _ in range(len(texts) - len(data))]
    roles = ["user"] * len(data) + ["system", "user", "assistant"] * args.chats
    print(
        f"{len(data)} labelled sentences + {len(texts) - len(data)} PII-free chat messages "
        f"({len(set(texts))} distinct texts); scored gold spans: {sum(g[0] in SCORED for gs in golds for g in gs)}"
    )

    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from tools.pii.engine import PiiEngine
    from tools.pii.recognizers import make_offline, pick_model

    make_offline()
    model = pick_model("en")
    print(f"spaCy model: {model}")
    presidio_scored = [e for e in SCORED]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp = NlpEngineProvider(
            nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
        ).create_engine()
        baseline = AnalyzerEngine(nlp_engine=nlp)
        baseline.analyze("warm up John Smith", language="en")
        untuned = PiiEngine("en", model, tuned=False)
        tuned = PiiEngine("en", model, tuned=True)
        tuned.analyze_many(["warm up John Smith"], ["PERSON"])
        untuned.analyze_many(["warm up John Smith"], ["PERSON"])

    results = {}
    t = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        preds = [
            [(r.entity_type, r.start, r.end) for r in baseline.analyze(x, language="en", entities=presidio_scored)]
            for x in texts
        ]
    results["baseline (analyze per message)"] = (time.process_time() - t, preds)

    t = time.process_time()
    hits = untuned.analyze_many(texts, presidio_scored, threshold=0.0)
    results["fast path, untuned"] = (time.process_time() - t, [[(h.entity, h.start, h.end) for h in hs] for hs in hits])

    from tools.pii.recognizers import facts

    t = time.process_time()
    hits = tuned.analyze_many(texts, facts().default_entities())
    # scan_pii's template rule: names/places in a system prompt shared by many examples are not findings.
    rule = facts().template
    floor = max(rule.min_lines, rule.min_share * args.chats)
    shared = Counter(x for x, role in zip(texts, roles, strict=True) if role in rule.roles)
    hits = [
        [h for h in hs if not (role in rule.roles and shared[x] >= floor and h.entity in rule.entities)]
        for x, role, hs in zip(texts, roles, hits, strict=True)
    ]
    results["tuned (scan_pii)"] = (time.process_time() - t, [[(h.entity, h.start, h.end) for h in hs] for hs in hits])

    base_time = results["baseline (analyze per message)"][0]
    base_scores = score(results["baseline (analyze per message)"][1], golds)
    base_r = prf(total(base_scores))[1]
    print(
        "\ntimes are CPU seconds of this process (time.process_time; everything runs in one process), so other "
        "load on a shared machine does not skew the ratios"
    )
    print(
        f"\n{'configuration':34} {'cpu s':>8} {'msg/s':>8} {'speedup':>8} {'P':>6} {'R':>6} {'F2':>6} "
        f"{'FP on chat':>10}"
    )
    per_entity = {}
    n_lab = len(data)
    for name, (secs, preds) in results.items():
        sc = score(preds, golds)
        per_entity[name] = sc
        p, r, f2 = prf(total(sc))
        chat_fp = sum(len(pr) for pr in preds[n_lab:])
        print(
            f"{name:34} {secs:8.1f} {len(texts) / secs:8.0f} {base_time / secs:7.1f}x {p:6.3f} {r:6.3f} {f2:6.3f} "
            f"{chat_fp:10d}"
        )
    print(
        f"\nrecall, fast untuned vs baseline: {prf(total(per_entity['fast path, untuned']))[1] - base_r:+.3f}; "
        f"tuned vs baseline: {prf(total(per_entity['tuned (scan_pii)']))[1] - base_r:+.3f}"
    )
    print(f"\n{'entity':14} " + " ".join(f"{'P':>6} {'R':>6} {'F2':>6} |" for _ in ("before", "after")) + "  support")
    print(f"{'':14} {'out of the box (baseline)':^23} {'tuned (scan_pii)':^23}")
    for e in SCORED:
        b, a = per_entity["baseline (analyze per message)"][e], per_entity["tuned (scan_pii)"][e]
        support = b["tp"] + b["fn"]
        print(
            f"{e:14} "
            + " ".join(f"{x:6.3f}" for x in prf(b))
            + " | "
            + " ".join(f"{x:6.3f}" for x in prf(a))
            + f" | {support:7d}"
        )
    f2_before = prf(total(per_entity["baseline (analyze per message)"]))[2]
    f2_after = prf(total(per_entity["tuned (scan_pii)"]))[2]
    speed = base_time / results["tuned (scan_pii)"][0]
    print(
        f"\nF2 overall: out of the box {f2_before:.3f} -> tuned {f2_after:.3f} ({f2_after - f2_before:+.3f}); "
        f"tuned throughput {speed:.1f}x the per-message baseline"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
