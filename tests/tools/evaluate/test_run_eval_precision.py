"""run_eval keeps small numbers at their real precision: p-values are never rounded to 0.0 (issue 18 item 5)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tools.core import registry
from tools.core.workspace import Workspace
from tools.evaluate.probes import facts
from tools.evaluate.report import number, p_text
from tools.evaluate.stats import mcnemar


def _write(path: Path, rows: list) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def wide_gap(ws: Workspace) -> Workspace:
    """60 items: the baseline never matches the reference, the candidate always does."""
    _write(
        ws.root / "eval.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": f"code for item {i}?"},
                    {"role": "assistant", "content": f"C{i}"},
                ]
            }
            for i in range(60)
        ],
    )
    _write(ws.root / "base.jsonl", [{"prediction": f"no idea {i}"} for i in range(60)])
    _write(ws.root / "ft.jsonl", [{"prediction": f"C{i}"} for i in range(60)])
    return ws


def test_tiny_p_values_survive_in_json_and_report(wide_gap: Workspace) -> None:
    args = {
        "data": "eval.jsonl",
        "candidate": {"predictions": "ft.jsonl"},
        "baseline": {"predictions": "base.jsonl"},
        "out_dir": "out",
    }
    r = registry.call("run_eval", args, workspace=wide_gap)
    exact = next(m for m in r.metrics if m.metric == "exact_match")
    expected, test = mcnemar(0, 60, exact_below=int(facts().mcnemar_exact_below.value))
    assert exact.test == test and exact.p_value == pytest.approx(expected, rel=1e-12)
    assert exact.p_value is not None and 0 < exact.p_value < 1e-4  # round(p, 4) made this 0.0
    dumped = json.loads(r.model_dump_json())
    p = next(m for m in dumped["metrics"] if m["metric"] == "exact_match")["p_value"]
    assert p == exact.p_value and p != 0.0
    report = (wide_gap.root / "out" / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| exact_match"))
    assert p_text(exact.p_value) in row and "e-" in p_text(exact.p_value)


def test_number_formatting_never_shows_a_small_value_as_zero() -> None:
    assert number(3.8e-5, signed=True) == "+3.80e-05"
    assert number(-0.00042) == "-4.20e-04"
    assert number(0.0, signed=True) == "+0.000" and number(0.1234) == "0.123"
    assert number(0.0004, 2) == "4.00e-04" and number(None) == "-"
    assert p_text(3.8e-5) == "3.8e-05" and p_text(0.04213) == "0.0421" and p_text(1.0) == "1"
    assert p_text(0.0).startswith("< 1e-300") and p_text(None) == "-"
    assert float(p_text(2 * 0.5**60)) == pytest.approx(2 * 0.5**60, rel=1e-2) and not math.isclose(
        float(p_text(2 * 0.5**60)), 0.0
    )
