"""PII facts and recognizers for ``scan_pii``: Presidio tuned for chat-shaped fine-tuning data, plus secrets.

Everything tunable comes from ``reference/data/pii.yaml`` (:class:`PiiFacts`): which spaCy model to
prefer, the entity set, per-entity score thresholds and context words, the recognizers we leave out
because they mostly fire falsely on chat text, the birth-date rule and the secret formats.

This module holds the fact models (:class:`PiiFacts`), our recognizers (secrets, a one-pass phone
recognizer) and :func:`build_registry`, which loads only the recognizers the entity set needs, each
behind a cheap prefilter (a phone number needs seven digits, an e-mail an ``@``). The engine that runs
them is :mod:`tools.pii.engine`.

Presidio and spaCy are imported inside functions; importing this module is cheap.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from tools.core.errors import ToolError
from tools.knowledge.core import Fact, load_facts


class ModelChoice(Fact):
    language: str
    packages: list[str]


class EngineSettings(Fact):
    exclude_pipes: list[str]
    lazy_pipes: list[str]
    batch_size: int
    chunk_chars: int
    chunk_overlap: int
    context_prefix_count: int
    context_suffix_count: int
    context_similarity_factor: float
    min_score_with_context_similarity: float
    phone_regions: list[str]
    phone_candidate_region: str
    n_process: int
    parallel_min_texts: int
    parallel_min_bytes: int
    non_latin_share: float


class NerSettings(Fact):
    mapping: dict[str, str]
    labels_to_ignore: list[str]
    default_score: float


class EntityRule(Fact):
    entity: str
    default: bool
    threshold: float
    kind: Literal["pii", "secret"]
    label: str
    context: list[str] = []


class DisabledRecognizer(Fact):
    recognizer: str
    reason: str


class BirthDate(Fact):
    words: list[str]
    window_chars: int
    score: float


class NerFilters(Fact):
    entities: list[str]
    min_chars: int
    drop_with_digits: bool
    drop_lowercase: bool
    drop_single_verb: bool
    min_phone_digits: int


class TemplateRule(Fact):
    roles: list[str]
    entities: list[str]
    min_lines: int
    min_share: float


class SecretPattern(Fact):
    entity: str
    pattern: str
    group: int = 0
    score: float
    hint: str = ""


class MaskPrefixes(Fact):
    prefixes: list[str]


class Limits(Fact):
    max_line_bytes: int
    max_depth: int
    max_int_digits: int
    line_cpu_seconds: float
    max_token_chars: int


class SecondLook(Fact):
    parts_of: list[str]
    min_part_chars: int
    titles: list[str]


class AddressRule(Fact):
    suffixes: list[str]
    units: list[str]
    score: float


class LanguageFix(Fact):
    language: str
    fix: str
    multilingual: str | None = None


class Recall(Fact):
    """Recall of the tuned scanner with one spaCy model, measured by benchmarks/bench_pii.py."""

    model: str
    benchmark: str
    sentences: int
    gold_spans: int
    recall: float
    precision: float
    per_entity: dict[str, float]


class PiiFacts(BaseModel):
    models: list[ModelChoice]
    engine: EngineSettings
    ner: NerSettings
    entities: list[EntityRule]
    disabled: list[DisabledRecognizer]
    birth_date: BirthDate
    ner_filters: NerFilters
    template: TemplateRule
    secrets: list[SecretPattern]
    mask_prefixes: MaskPrefixes
    limits: Limits
    second_look: SecondLook
    address: AddressRule
    language_fixes: list[LanguageFix]
    recall: list[Recall] = []

    def rule(self, entity: str) -> EntityRule | None:
        return next((r for r in self.entities if r.entity == entity), None)

    def default_entities(self) -> list[str]:
        return [r.entity for r in self.entities if r.default]

    def recall_for(self, model: str) -> Recall | None:
        return next((r for r in self.recall if r.model == model), None)

    def language_fix(self, language: str) -> str:
        """The install command that gives ``language`` a NER model (PyPI for English, spaCy's downloader else)."""
        own = next((f for f in self.language_fixes if f.language == language), None)
        if own is not None:
            return own.fix
        generic = next(f for f in self.language_fixes if f.language == "*")
        choice = next((m for m in self.models if m.language == language), None)
        package = choice.packages[-1] if choice else (generic.multilingual or "")
        return generic.fix.format(package=package)


def facts() -> PiiFacts:
    return load_facts("pii", PiiFacts)


@dataclass(frozen=True, slots=True)
class Hit:
    entity: str
    start: int
    end: int
    score: float


def make_offline() -> None:
    """tldextract (used by Presidio's email check) must use its bundled suffix list, never the network."""
    import tldextract.tldextract as tt

    if getattr(tt.TLD_EXTRACTOR, "_finetune_offline", False):
        return
    extractor = tt.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)
    extractor._finetune_offline = True  # type: ignore[attr-defined]
    tt.TLD_EXTRACTOR = extractor
    for name in ("presidio-analyzer", "tldextract", "spacy"):
        logging.getLogger(name).setLevel(logging.ERROR)


def pick_model(language: str, wanted: str | None = None) -> str | None:
    """The spaCy package to load: ``wanted`` if given ("blank" for none), else the best installed one."""
    import spacy

    if wanted == "blank":
        return None
    if wanted:
        if not spacy.util.is_package(wanted):
            raise ToolError(
                "pii_model_missing",
                f"spaCy model {wanted!r} is not installed",
                "install it (pip install <model package>) or leave --model out to use the best installed one",
            )
        return wanted
    pf = facts()
    for choice in pf.models:
        if choice.language == language:
            for package in choice.packages:
                if spacy.util.is_package(package):
                    return package
    multilingual = next((f.multilingual for f in pf.language_fixes if f.multilingual), None)
    if language != "en" and multilingual and spacy.util.is_package(multilingual):
        return multilingual
    return None


# ---------------------------------------------------------------- our recognizers


def _secret_recognizer(language: str, patterns: Sequence[SecretPattern]) -> Any:
    from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult

    compiled = [(p, re.compile(p.pattern)) for p in patterns]

    class SecretRecognizer(LocalRecognizer):
        """API keys, tokens, private keys and passwords by their published formats."""

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            out = []
            for spec, rx in compiled:
                if spec.entity not in entities or (spec.hint and spec.hint not in text):
                    continue
                for m in rx.finditer(text):
                    start, end = m.span(spec.group)
                    if end > start:
                        why = AnalysisExplanation("SecretRecognizer", spec.score, pattern_name=spec.entity)
                        out.append(RecognizerResult(spec.entity, start, end, spec.score, why))
            return out

    names = sorted({p.entity for p in patterns})
    return SecretRecognizer(supported_entities=names, supported_language=language, name="SecretRecognizer")


_DIGIT_RUN = re.compile(r"\d")


def _phone_recognizer(language: str, regions: Sequence[str], candidate_region: str, context: list[str]) -> Any:
    import phonenumbers
    from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult

    possible = phonenumbers.Leniency.POSSIBLE

    class ChatPhoneRecognizer(LocalRecognizer):
        """One pass of python-phonenumbers (Presidio's recognizer runs one per region), then a cheap validity
        check per region for each candidate: valid somewhere 0.4 (Presidio's score), written with a leading
        + 0.5, merely possible 0.3 (needs a context word). Texts with fewer than 7 digits are skipped."""

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            if len(_DIGIT_RUN.findall(text)) < 7:
                return []
            results = []
            for match in phonenumbers.PhoneNumberMatcher(text, candidate_region, leniency=possible):
                raw = match.raw_string
                if sum(c.isdigit() for c in raw) < 7:
                    continue
                valid = False
                for region in regions:
                    try:
                        valid = phonenumbers.is_valid_number(phonenumbers.parse(raw, region))
                    except phonenumbers.NumberParseException:
                        valid = False
                    if valid:
                        break
                score = 0.5 if raw.startswith("+") else 0.4 if valid else 0.3
                why = AnalysisExplanation("ChatPhoneRecognizer", score, pattern_name="valid" if valid else "possible")
                results.append(RecognizerResult("PHONE_NUMBER", match.start, match.end, score, why))
            return results

    return ChatPhoneRecognizer(
        supported_entities=["PHONE_NUMBER"],
        supported_language=language,
        context=context or None,
        name="ChatPhoneRecognizer",
    )


def _address_recognizer(language: str, rule: AddressRule, context: list[str]) -> Any:
    """STREET_ADDRESS by Presidio's PatternRecognizer: number, capitalised street name, USPS suffix, unit."""
    from presidio_analyzer import Pattern, PatternRecognizer

    suffix = "|".join(sorted((re.escape(s) for s in rule.suffixes), key=len, reverse=True))
    unit = "|".join(sorted((re.escape(u) for u in rule.units), key=len, reverse=True))
    word = r"[A-Z][A-Za-z'\-]+"
    regex = (
        rf"\b\d{{1,6}}[A-Za-z]?,?\s+(?:{word}\s+){{0,3}}(?:{word})\s+(?:{suffix})\b\.?"
        rf"(?:,?\s+(?:{unit})\.?\s*#?\s*[A-Za-z0-9\-]{{1,6}}\b)?"
    )
    return PatternRecognizer(
        supported_entity="STREET_ADDRESS",
        patterns=[Pattern("street address", regex, rule.score)],
        context=context or None,
        supported_language=language,
        name="StreetAddressRecognizer",
    )


def _needs(char_test: Any, recognizer: Any) -> Any:
    """Wrap ``recognizer.analyze`` so texts failing ``char_test`` skip it (a cheap prefilter)."""
    original = recognizer.analyze

    def analyze(text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
        return original(text, entities, nlp_artifacts) if char_test(text) else []

    recognizer.analyze = analyze
    return recognizer


_IP_HINT = re.compile(r"\d\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]*:")
_URL_HINT = re.compile(r"://|www\.|[A-Za-z0-9-]\.[A-Za-z]{2,}")


def _has_digits(n: int) -> Any:
    return lambda text: len(_DIGIT_RUN.findall(text)) >= n


def build_registry(language: str, nlp_engine: Any, pf: PiiFacts) -> Any:
    """Only the recognizers our entity set needs, with our context words, in ``language``."""
    from presidio_analyzer import RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        DateRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        SpacyRecognizer,
        UrlRecognizer,
        UsSsnRecognizer,
    )

    def ctx(entity: str) -> list[str] | None:
        rule = pf.rule(entity)
        return list(rule.context) if rule and rule.context else None

    class CachedRegistry(RecognizerRegistry):
        """Presidio filters the recognizer list for every text; the answer depends only on the arguments."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._cache: dict[tuple[Any, ...], Any] = {}

        def get_recognizers(
            self, language: str, entities: Any = None, all_fields: bool = False, ad_hoc_recognizers: Any = None
        ) -> Any:
            if ad_hoc_recognizers:
                return super().get_recognizers(language, entities, all_fields, ad_hoc_recognizers)
            key = (language, tuple(entities or ()), all_fields)
            found = self._cache.get(key)
            if found is None:
                found = self._cache[key] = super().get_recognizers(language, entities, all_fields)
            return found

    registry = CachedRegistry(supported_languages=[language])
    lang = {"supported_language": language}
    registry.add_recognizer(_needs(lambda t: "@" in t, EmailRecognizer(context=ctx("EMAIL_ADDRESS"), **lang)))
    registry.add_recognizer(_needs(_has_digits(12), CreditCardRecognizer(context=ctx("CREDIT_CARD"), **lang)))
    registry.add_recognizer(_needs(_has_digits(10), IbanRecognizer(context=ctx("IBAN_CODE"), **lang)))
    registry.add_recognizer(_needs(_IP_HINT.search, IpRecognizer(context=ctx("IP_ADDRESS"), **lang)))
    registry.add_recognizer(_needs(_URL_HINT.search, UrlRecognizer(context=ctx("URL"), **lang)))
    registry.add_recognizer(_needs(_has_digits(9), UsSsnRecognizer(context=ctx("US_SSN"), **lang)))
    birth = re.compile("|".join(re.escape(w) for w in pf.birth_date.words), re.IGNORECASE)
    registry.add_recognizer(_needs(birth.search, DateRecognizer(**lang)))  # dates matter only as birth dates
    registry.add_recognizer(
        _phone_recognizer(
            language, pf.engine.phone_regions, pf.engine.phone_candidate_region, ctx("PHONE_NUMBER") or []
        )
    )
    registry.add_recognizer(_secret_recognizer(language, pf.secrets))
    registry.add_recognizer(
        _needs(_has_digits(1), _address_recognizer(language, pf.address, ctx("STREET_ADDRESS") or []))
    )
    ner_entities = sorted(set(pf.ner.mapping.values()))
    registry.add_recognizer(
        SpacyRecognizer(supported_language=language, supported_entities=ner_entities, context=ctx("PERSON"))
    )
    return registry


def is_secret(entity: str) -> bool:
    rule = facts().rule(entity)
    return rule is not None and rule.kind == "secret"


def secret_prefix(value: str) -> str:
    """The longest public vendor prefix ``value`` starts with ("" for none): all a report may show of a secret."""
    return max((p for p in facts().mask_prefixes.prefixes if value.startswith(p)), key=len, default="")
