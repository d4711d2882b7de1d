"""check_compliance: deterministic verdicts per provider path and the actions required before training."""

from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from tools.compliance import check_compliance as compliance
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.knowledge.providers import Provider
from tools.knowledge.usage import FactUsage


def provider(pid: str, **kw) -> Provider:
    base = {
        "id": pid,
        "name": pid.title(),
        "kind": "managed_api",
        "status": "active",
        "hosting": ["per_token"],
        "regions": ["us", "eu"],
        "data_leaves_your_machines": True,
        "zdr": "yes",
        "hipaa_baa": "yes",
        "trains_on_customer_data": "no",
        "source": "https://example.com/facts",
        "as_of": date(2026, 11, 1),
    }
    return Provider.model_validate({**base, **kw})


FAKE = [
    provider("good"),
    provider("us-only", regions=["us-east-1", "us-west-2"]),
    provider("no-zdr", zdr="no"),
    provider("zdr-on-request", zdr="on_request"),
    provider("no-baa", hipaa_baa="unknown"),
    provider("trains", trains_on_customer_data="yes"),
    provider("ended", status="ended", available_until=date(2025, 1, 1)),
    provider("closing", status="closing", available_until=date(2027, 1, 6)),
    provider("unlisted", regions=[], residency="residency controls exist"),
    provider(
        "local",
        kind="self_hosted",
        regions=["anywhere"],
        data_leaves_your_machines=False,
        zdr="not_applicable",
        hipaa_baa="not_applicable",
    ),
]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        compliance,
        "_provider_facts",
        lambda wanted: ([p for p in FAKE if not wanted or p.id in wanted], FactUsage()),
    )


def check(ws: Workspace, **args):
    return registry.call("check_compliance", args, workspace=ws)


def verdicts(result) -> dict[str, str]:
    return {v.provider: v.verdict for v in result.providers}


def actions(result) -> set[str]:
    return {a.id for a in result.actions}


def test_no_constraints(ws: Workspace, fake) -> None:
    r = check(ws)
    v = verdicts(r)
    assert v["ended"] == "not_allowed" and v["closing"] == "conditional"
    assert v["good"] == v["no-zdr"] == v["no-baa"] == v["local"] == "allowed"
    assert actions(r) == {"pii_scan"} and r.ok


def test_on_premises_allows_only_self_hosted(ws: Workspace, fake) -> None:
    r = check(ws, on_premises=True)
    assert r.allowed == ["local"]
    assert all("leave your machines" in " ".join(v.reasons) for v in r.providers if v.provider not in ("local",))
    assert "on_premises_only" in actions(r)


def test_zero_retention(ws: Workspace, fake) -> None:
    v = verdicts(check(ws, zero_retention=True))
    assert v["no-zdr"] == "not_allowed" and v["zdr-on-request"] == "conditional" and v["good"] == "allowed"
    assert v["local"] == "allowed"


def test_residency(ws: Workspace, fake) -> None:
    v = verdicts(check(ws, residency="eu"))
    assert v["us-only"] == "not_allowed" and v["good"] == "allowed" and v["unlisted"] == "conditional"
    assert v["local"] == "allowed"
    assert verdicts(check(ws, residency="us"))["us-only"] == "allowed"


def test_hipaa(ws: Workspace, fake) -> None:
    r = check(ws, regimes=["hipaa"])
    v = verdicts(r)
    assert v["no-baa"] == "not_allowed" and v["good"] == "allowed" and v["local"] == "allowed"
    assert {"baa", "erasure_plan", "pii_scan"} <= actions(r)
    assert "lawful_basis" not in actions(r)


def test_gdpr_personal_data(ws: Workspace, fake) -> None:
    r = check(ws, regimes=["gdpr"], residency="eu")
    v = verdicts(r)
    assert v["trains"] == "not_allowed"
    assert {"lawful_basis", "dpa", "erasure_plan", "ai_act_modifier", "pii_scan"} <= actions(r)
    assert r.ai_act is None  # no compute figures given: the rule is listed as an action


def test_gdpr_without_personal_data(ws: Workspace, fake) -> None:
    r = check(ws, regimes=["gdpr"], personal_data=False)
    assert "lawful_basis" not in actions(r) and "dpa" not in actions(r)
    assert verdicts(r)["trains"] == "allowed"


def test_ai_act_one_third_rule(ws: Workspace, fake) -> None:
    above = check(ws, regimes=["gdpr"], finetune_flop=4e24, base_model_flop=1e25)
    below = check(ws, regimes=["gdpr"], finetune_flop=1e20, base_model_flop=1e25)
    assert "above one third" in above.ai_act and "you become the provider" in above.ai_act
    assert "below one third" in below.ai_act
    assert check(ws, regimes=["hipaa"], finetune_flop=4e24, base_model_flop=1e25).ai_act is None
    with pytest.raises(ToolError):
        check(ws, regimes=["gdpr"], finetune_flop=1.0, base_model_flop=0.0)


def write_report(ws: Workspace, found: int, secrets: int, rescan: int | None) -> str:
    entities = [{"entity": "EMAIL_ADDRESS", "kind": "pii", "count": found - secrets}]
    if secrets:
        entities.append({"entity": "OPENAI_API_KEY", "kind": "secret", "count": secrets})
    data = {
        "found_total": found,
        "entities": entities,
        "unreadable_total": 0,
        "redaction": None if rescan is None else {"rescan_found": rescan},
    }
    (ws.root / "scan.pii.json").write_text(json.dumps(data))
    return "scan.pii.json"


def test_pii_report_unresolved_then_redacted(ws: Workspace, fake) -> None:
    r = check(ws, regimes=["gdpr"], pii_report=write_report(ws, 4, 1, None))
    assert {"pii_remediation", "rotate_secrets", "dpia"} <= actions(r) and "pii_scan" not in actions(r)
    assert not r.ok and r.pii.found == 4 and r.pii.secrets == 1
    r = check(ws, regimes=["gdpr"], pii_report=write_report(ws, 4, 1, 0))
    assert "pii_remediation" not in actions(r) and "rotate_secrets" in actions(r)
    assert r.ok and any("redacted copy" in w for w in r.warnings)
    r = check(ws, regimes=["gdpr"], pii_report=write_report(ws, 0, 0, None))
    assert "lawful_basis" not in actions(r) and r.ok  # the scan found no personal data


def test_bad_arguments(ws: Workspace, fake) -> None:
    (ws.root / "x.json").write_text("[1, 2]")
    with pytest.raises(ToolError) as info:
        check(ws, pii_report="x.json")
    assert info.value.code == "bad_pii_report"
    with pytest.raises(ToolError) as info:
        check(ws, regimes=["sox"])
    assert info.value.code == "invalid_arguments"


def test_deterministic(ws: Workspace, fake) -> None:
    args = {"regimes": ["gdpr", "hipaa"], "residency": "eu", "zero_retention": True}
    assert check(ws, **args).model_dump() == check(ws, **args).model_dump()


def test_closing_and_ended_paths_are_worded_by_what_ends(ws: Workspace, fake) -> None:
    result = check(ws)
    by_id = {v.provider: v for v in result.providers}
    assert by_id["ended"].verdict == "not_allowed"
    assert "the service closed to new jobs on 2025-01-01" in by_id["ended"].reasons
    assert any("closes to new jobs on 2027-01-06" in c for c in by_id["closing"].conditions)


def test_real_provider_facts_give_one_notice_per_event(ws: Workspace) -> None:
    result = check(ws, regimes=["gdpr"])
    assert len(result.warnings) == len(set(result.warnings))
    assert sum("review age" in w for w in result.warnings) <= 1
    assert any("closes to new jobs on 2027-01-06" in w for w in result.warnings)


def test_real_provider_facts(ws: Workspace) -> None:
    """providers.yaml as shipped: self-hosted always passes on-premises; unknown ids are refused."""
    r = check(ws, on_premises=True, regimes=["gdpr", "hipaa"])
    assert "self-hosted" in r.allowed
    assert all(p not in r.allowed for p in ("openai", "rented-gpu"))
    with pytest.raises(ToolError) as info:
        check(ws, providers=["nope"])
    assert info.value.code == "unknown_provider"


def test_cli(ws: Workspace, fake, monkeypatch: pytest.MonkeyPatch) -> None:
    from skill.cli import app

    monkeypatch.chdir(ws.root)
    runner = CliRunner()
    res = runner.invoke(app, ["compliance", "--regime", "gdpr", "--residency", "eu", "--json"])
    assert res.exit_code == 0, res.output
    assert "good" in json.loads(res.stdout)["allowed"]
    res = runner.invoke(app, ["compliance", "--on-premises", "--provider", "good"])
    assert res.exit_code == 1 and "not_allowed" in res.stdout
    res = runner.invoke(app, ["compliance", "--regime", "sox"])
    assert res.exit_code == 2
