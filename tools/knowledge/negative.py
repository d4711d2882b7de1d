"""The schema of ``reference/data/negative_facts.yaml``: claims we once made (or sources still make) that
the providers' own pages contradict, each with its source and the guards that keep it out of the data.

A guard names rows (``file``, ``section``, ``where``) and values they must not take (``forbid``). The test
suite checks the shipped files against every guard, and ``facts refresh`` checks its proposal the same way,
so a machine-readable source that still carries an old claim cannot quietly bring it back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tools.knowledge.core import Fact, load_facts

Scalar = str | int | float | bool | None


class Guard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="a reference/data file name without .yaml")
    section: str = Field(description="a top-level list, or `models` for the models of providers.yaml")
    where: dict[str, Scalar] = Field(description="field equals value; `provider` also matches a model's provider")
    forbid: dict[str, Scalar] = Field(description="field must not equal value (or, for a list, contain it)")


class NegativeFact(Fact):
    id: str
    claim: str = Field(description="the claim that is wrong")
    fact: str = Field(description="what the source says instead")
    quote: str
    contradicts: list[str] = Field(default=[], description="pages that still make the old claim")
    guards: list[Guard] = Field(min_length=1)


class NegativeFactsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    negative_facts: list[NegativeFact]


def negative_facts() -> NegativeFactsFile:
    return load_facts("negative_facts", NegativeFactsFile)


def _rows(raw: Any, section: str) -> Iterator[dict[str, Any]]:
    if not isinstance(raw, Mapping):
        return
    if section == "models":
        for p in raw.get("providers") or []:
            for m in p.get("models") or []:
                yield {**m, "provider": p.get("id")}
        return
    for row in raw.get(section) or []:
        if isinstance(row, dict):
            yield row


ANY = "*"
"""A forbidden value meaning "any value but null"."""


def _hits(value: Any, forbidden: Scalar) -> bool:
    if forbidden == ANY:
        return value is not None
    if isinstance(value, list):
        return forbidden in value
    if isinstance(value, int | float) and isinstance(forbidden, int | float) and not isinstance(value, bool):
        return float(value) == float(forbidden)
    return value == forbidden


def violations(facts: NegativeFactsFile, raws: Mapping[str, Any]) -> list[str]:
    """Every guarded row in ``raws`` (file name -> parsed YAML) that takes a forbidden value."""
    found: list[str] = []
    for nf in facts.negative_facts:
        for g in nf.guards:
            if g.file not in raws:
                continue
            for row in _rows(raws[g.file], g.section):
                if not all(row.get(k) == v for k, v in g.where.items()):
                    continue
                for name, bad in g.forbid.items():
                    if _hits(row.get(name), bad):
                        found.append(
                            f"{g.file}.yaml {g.section} {g.where}: {name}={row.get(name)!r} brings back "
                            f"{nf.claim!r} - {nf.fact} ({nf.source}, checked {nf.checked})"
                        )
    return found
