"""The PII engine behind ``scan_pii``: one loaded spaCy pipeline + Presidio analyzer, and its fast path.

:func:`engine` builds one :class:`PiiEngine` per (language, model) and keeps it for the process (loading
spaCy takes seconds). :meth:`PiiEngine.analyze_many` is the fast path: identical texts are analysed
once, spaCy runs batched through ``nlp.pipe`` with only NER switched on (Presidio never reads the
parser; the tagger runs on demand), recognizers skip texts that cannot match, long texts are cut into
overlapping chunks, chat-text false positives are filtered, and overlapping results keep the best one.

Presidio and spaCy are imported inside functions; importing this module is cheap.
"""

from __future__ import annotations

import bisect
import re
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from tools.core.errors import ToolError
from tools.core.extras import needs_extra
from tools.pii.recognizers import EngineSettings, Hit, build_registry, facts, make_offline, pick_model

_LETTER = re.compile(r"[^\W\d_]")
_NON_LATIN = re.compile(r"[^\W\d_\u0000-\u024f]")


class PiiEngine:
    """One loaded spaCy pipeline and Presidio analyzer for one language."""

    def __init__(self, language: str, model: str | None, tuned: bool = True) -> None:
        make_offline()
        import spacy
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NerModelConfiguration

        pf = facts()
        self.facts = pf
        self.language = language
        self.model = model or f"blank:{language}"
        self.ner = model is not None
        self.tuned = tuned
        settings = pf.engine
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                nlp = self._load(spacy, model, settings) if model else spacy.blank(language)
            except (OSError, ImportError, ValueError) as exc:
                raise ToolError(
                    "pii_model_unusable",
                    f"spaCy model {self.model} could not be loaded: {type(exc).__name__}",
                    "reinstall it, or pass --model blank",
                ) from None
        self.nlp = nlp
        nlp.max_length = max(nlp.max_length, settings.chunk_chars * 2)
        if tuned:
            ner_conf = NerModelConfiguration(
                model_to_presidio_entity_mapping=dict(pf.ner.mapping),
                labels_to_ignore=list(pf.ner.labels_to_ignore),
                default_score=pf.ner.default_score,
            )
        else:
            ner_conf = NerModelConfiguration(
                labels_to_ignore=[
                    "ORGANIZATION",
                    "CARDINAL",
                    "EVENT",
                    "LANGUAGE",
                    "LAW",
                    "MONEY",
                    "ORDINAL",
                    "PERCENT",
                    "PRODUCT",
                    "QUANTITY",
                    "WORK_OF_ART",
                ]
            )
        nlp_engine = _fast_nlp_engine_class()(
            models=[{"lang_code": language, "model_name": self.model}], ner_model_configuration=ner_conf
        )
        nlp_engine.nlp = {language: nlp}
        self.nlp_engine = nlp_engine
        if tuned:
            enhancer = _enhancer_class()(
                context_similarity_factor=settings.context_similarity_factor,
                min_score_with_context_similarity=settings.min_score_with_context_similarity,
                context_prefix_count=settings.context_prefix_count,
                context_suffix_count=settings.context_suffix_count,
            )
            self.analyzer = AnalyzerEngine(
                registry=build_registry(language, nlp_engine, pf),
                nlp_engine=nlp_engine,
                supported_languages=[language],
                context_aware_enhancer=enhancer,
            )
        else:
            self.analyzer = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=[language])
        self._lock = threading.Lock()
        self._birth = re.compile("|".join(re.escape(w) for w in pf.birth_date.words), re.IGNORECASE)
        run = pf.limits.max_token_chars
        self._long_run = re.compile(rf"\S{{{run + 1},}}")
        self._every_nth = re.compile(rf"(\S{{{run - 1}}})\S")
        self._symbols = re.compile(r"[^\w\s]{4,}")

    @staticmethod
    def _load(spacy: Any, model: str, settings: EngineSettings) -> Any:
        """Load without the components Presidio never reads; keep the tagger's chain loaded but switched off
        (only NER runs per text; the tagger runs on demand for the few single-word name candidates).
        Falls back to the full pipeline if NER turns out to depend on a switched-off component."""
        nlp = spacy.load(model, exclude=list(settings.exclude_pipes))
        lazy = [p for p in settings.lazy_pipes if p in nlp.pipe_names]
        probe = "Margaret Okafor moved from Leeds to Berlin."
        before = [(e.start_char, e.end_char, e.label_) for e in nlp(probe).ents]
        for name in lazy:
            nlp.disable_pipe(name)
        try:
            after = [(e.start_char, e.end_char, e.label_) for e in nlp(probe).ents]
        except Exception:
            after = None
        if after != before:
            for name in lazy:
                nlp.enable_pipe(name)
        return nlp

    def _pos(self, doc: Any, start: int, end: int) -> str:
        """Part of speech of the token at start..end, running the switched-off tagger chain on demand."""
        if not doc.has_annotation("TAG") and not doc.has_annotation("POS"):
            names = [n for n in self.facts.engine.lazy_pipes if n in self.nlp.disabled and n != "lemmatizer"]
            if not names:
                return ""
            for name in names:
                doc = self.nlp.get_pipe(name)(doc)
        span = doc.char_span(start, end, alignment_mode="expand")
        return span[0].pos_ if span is not None and len(span) == 1 else ""

    # ---------------------------------------------------------------- analysis

    def thresholds(self, entities: Iterable[str], override: float | None) -> dict[str, float]:
        out = {}
        for entity in entities:
            rule = self.facts.rule(entity)
            out[entity] = override if override is not None else (rule.threshold if rule else 0.5)
        return out

    def analyze_many(
        self,
        texts: Sequence[str],
        entities: Sequence[str],
        threshold: float | None = None,
        batch_size: int | None = None,
    ) -> list[list[Hit]]:
        """Hits for each text (same order); identical texts are analysed once."""
        return self.analyze_within(texts, entities, threshold, batch_size)[0]

    def analyze_within(
        self,
        texts: Sequence[str],
        entities: Sequence[str],
        threshold: float | None = None,
        batch_size: int | None = None,
        cpu_seconds: float | None = None,
    ) -> tuple[list[list[Hit]], bool]:
        """:meth:`analyze_many` that stops once it has used ``cpu_seconds`` of CPU time; and whether it finished.

        The budget is checked after each piece (texts are cut into pieces of at most ``chunk_chars``), so it is
        overrun by at most one piece. What was found before the stop is returned.
        """
        deadline = None if cpu_seconds is None else time.process_time() + cpu_seconds
        unique: dict[str, int] = {}
        for text in texts:
            if text and text.strip() and text not in unique:
                unique[text] = len(unique)
        wanted = list(entities)
        presidio_entities = sorted(
            set(wanted) | ({"DATE_TIME"} if "DATE_OF_BIRTH" in wanted else set()) - {"DATE_OF_BIRTH"}
        )
        limits = self.thresholds(wanted, threshold)
        raw: list[list[Hit]] = [[] for _ in unique]
        bs = batch_size or (1 if deadline is not None else self.facts.engine.batch_size)
        complete = True
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for idx, offset, piece, artifacts in self._artifacts(self._pieces(unique), wanted, bs):
                if deadline is not None and time.process_time() > deadline:
                    complete = False
                    break
                results = self.analyzer.analyze(
                    piece,
                    self.language,
                    entities=presidio_entities,
                    nlp_artifacts=artifacts,
                    score_threshold=min(limits.values(), default=0.0),
                )
                for r in results:
                    if self.tuned and self._noise(piece, r, artifacts):
                        continue
                    raw[idx].append(Hit(r.entity_type, r.start + offset, r.end + offset, float(r.score)))
        per_unique = [self._finish(text, raw[idx], wanted, limits) for text, idx in unique.items()]
        return [per_unique[unique[t]] if t in unique else [] for t in texts], complete

    def _pieces(self, unique: dict[str, int]) -> list[tuple[int, int, str]]:
        """Texts cut into overlapping pieces of at most ``chunk_chars``: (text index, offset, piece)."""
        pieces: list[tuple[int, int, str]] = []
        size, overlap = self.facts.engine.chunk_chars, self.facts.engine.chunk_overlap
        for text, idx in unique.items():
            if len(text) <= size:
                pieces.append((idx, 0, text))
                continue
            pos = 0
            while pos < len(text):
                end = min(len(text), pos + size)
                if end < len(text):
                    cut = text.rfind(" ", pos + size // 2, end)
                    end = cut if cut > pos else end
                pieces.append((idx, pos, text[pos:end]))
                if end >= len(text):
                    break
                pos = max(end - overlap, pos + 1)
        return pieces

    def _needs_ner(self, piece: str, wanted: list[str]) -> bool:
        """False only where no NER span could be kept: ASCII text without a capital letter (the tuned filters drop
        lower-case names and places), unless dates are wanted (all of them, or birth dates near a birth word)."""
        if not self.ner or not self.tuned:
            return self.ner
        if not self.facts.ner_filters.drop_lowercase or "DATE_TIME" in wanted or not piece.isascii():
            return True
        if piece != piece.lower():
            return True
        return "DATE_OF_BIRTH" in wanted and self._birth.search(piece) is not None

    def _artifacts(self, pieces: list[tuple[int, int, str]], wanted: list[str], bs: int) -> Any:
        """(index, offset, piece, spaCy artifacts) for every piece: tokens only where NER cannot matter, else
        NER in batches of similar length (less padding)."""
        plain = [p for p in pieces if not self._needs_ner(p[2], wanted)]
        tagged = sorted((p for p in pieces if self._needs_ner(p[2], wanted)), key=lambda p: len(p[2]))
        for idx, offset, piece in plain:
            doc = self.nlp.make_doc(self._for_ner(piece))
            yield idx, offset, piece, self.nlp_engine.doc_artifacts(doc, self.language)
        workers = self.facts.engine.n_process if len(tagged) >= self.facts.engine.parallel_min_texts else 1
        docs = self.nlp_engine.process_batch(
            [self._for_ner(p[2]) for p in tagged], self.language, batch_size=bs, n_process=max(1, workers)
        )
        for (idx, offset, piece), (_, artifacts) in zip(tagged, docs, strict=False):
            yield idx, offset, piece, artifacts

    def _for_ner(self, text: str) -> str:
        """``text`` as spaCy's NER gets it: runs of four or more symbols blanked, runs of more than
        ``max_token_chars`` non-space characters broken by spaces.

        Same length, so every offset stays valid (the pattern recognizers read the original); spaCy's tokenizer is
        quadratic on long runs, and no name or place is made of symbols.
        """
        if self._symbols.search(text) is not None:
            text = self._symbols.sub(lambda m: " " * len(m.group(0)), text)
        if self._long_run.search(text) is None:
            return text
        return self._long_run.sub(lambda m: self._every_nth.sub(r"\1 ", m.group(0)), text)

    def _noise(self, text: str, r: Any, artifacts: Any) -> bool:
        """Chat-text false positives of the small spaCy models: ids, short caps, verbs read as names."""
        nf = self.facts.ner_filters
        value = text[r.start : r.end]
        if r.entity_type == "PHONE_NUMBER":
            before = text[max(0, r.start - 2) : r.start]
            return sum(c.isdigit() for c in value) < nf.min_phone_digits or (
                len(before) == 2 and before[1] in "-#/" and before[0].isalnum()
            )
        if r.entity_type not in nf.entities:
            return False
        if len(value.strip()) < nf.min_chars:
            return True
        if any(c in value for c in "_<>[]{}@/\\"):  # identifiers, tags, paths: never a name or a place
            return True
        if nf.drop_with_digits and any(c.isdigit() for c in value):
            return True
        if nf.drop_lowercase and value == value.lower():
            return True
        head = text[: r.start].rstrip(" \t\"'*-(")
        initial = not head or head[-1] in ".!?:\n"  # imperatives ("Drop us a line") open a sentence
        if (
            nf.drop_single_verb
            and initial
            and r.entity_type == "PERSON"
            and " " not in value.strip()
            and artifacts is not None
            and artifacts.tokens is not None
        ):
            if self._pos(artifacts.tokens, r.start, r.end) in ("VERB", "AUX", "ADV", "ADP", "PRON", "DET"):
                return True
        return False

    def _finish(self, text: str, hits: list[Hit], wanted: list[str], limits: dict[str, float]) -> list[Hit]:
        out: list[Hit] = []
        for h in hits:
            entity = h.entity
            if entity == "DATE_TIME" and "DATE_OF_BIRTH" in wanted:
                w = self.facts.birth_date.window_chars
                if self._birth.search(text, max(0, h.start - w), min(len(text), h.end + w)):
                    h = Hit("DATE_OF_BIRTH", h.start, h.end, max(h.score, self.facts.birth_date.score))
                elif "DATE_TIME" not in wanted:
                    continue
            if h.entity not in wanted or h.score < limits.get(h.entity, 0.5):
                continue
            value = text[h.start : h.end]
            if not value.strip():
                continue
            out.append(h)
        return resolve_overlaps(out)

    def non_latin(self, text: str) -> bool:
        if text.isascii():
            return False
        letters = len(_LETTER.findall(text))
        if letters < 20:
            return False
        return len(_NON_LATIN.findall(text)) / letters > self.facts.engine.non_latin_share


class _NoCopy(list):  # type: ignore[type-arg]
    """A list that ``copy.deepcopy`` returns as it is: results the caller will not read again."""

    def __deepcopy__(self, memo: Any) -> _NoCopy:
        return self


def _enhancer_class() -> Any:
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    class QuietEnhancer(LemmaContextAwareEnhancer):
        """Presidio's lemma context enhancer, skipped for texts without results (it deep-copies them), and with
        the token of a match found by binary search: Presidio walks every token for every result, which is
        quadratic on a long text with many results (a 100,000-character text took 23 s in that loop)."""

        _last: tuple[Any, Any] = (None, None)

        def enhance_using_context(self, text: str, raw_results: Any, *args: Any, **kwargs: Any) -> Any:
            if not raw_results:
                return []
            # Presidio deep-copies the results first (12% of a scan's CPU); the analyzer drops the raw ones.
            return super().enhance_using_context(text, _NoCopy(raw_results), *args, **kwargs)

        def _find_index_of_match_token(self, word: str, start: int, tokens: Any, tokens_indices: list[int]) -> int:
            from spacy.attrs import IDX, LENGTH

            doc, ends = self._last
            if doc is not tokens:
                arr = tokens.to_array([IDX, LENGTH])
                ends = (arr[:, 0] + arr[:, 1]).tolist() if len(tokens) else []
                self._last = (tokens, ends)
            i = bisect.bisect_right(ends, start)
            if i >= len(ends):
                raise ValueError(f"no token at offset {start}")
            return i

    return QuietEnhancer


@cache
def _fast_nlp_engine_class() -> Any:
    from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

    class FastSpacyNlpEngine(SpacyNlpEngine):
        """Lemmas fall back to the lower-cased token when the lemmatizer is switched off; Presidio's context
        check matches substrings ("calling" contains "call"), so context words still work."""

        def is_stopword(self, word: str, language: str) -> bool:
            return word.lower() in self.nlp[language].Defaults.stop_words

        def is_punct(self, word: str, language: str) -> bool:
            return not any(c.isalnum() for c in word)

        def doc_artifacts(self, doc: Any, language: str) -> Any:
            return self._doc_to_nlp_artifact(doc, language)

        def _doc_to_nlp_artifact(self, doc: Any, language: str) -> Any:
            from spacy.attrs import IDX, LEMMA, LOWER

            entities, scores = self._get_updated_entities(self._get_entities(doc), self._get_scores_for_entities(doc))
            arr = doc.to_array([IDX, LEMMA, LOWER]).tolist() if len(doc) else []  # no Token objects: 3x cheaper
            strings = doc.vocab.strings
            return NlpArtifacts(
                entities=entities,
                tokens=doc,
                tokens_indices=[row[0] for row in arr],
                lemmas=[strings[row[1] or row[2]] for row in arr],
                nlp_engine=self,
                language=language,
                scores=scores,
            )

    return FastSpacyNlpEngine


def resolve_overlaps(hits: list[Hit]) -> list[Hit]:
    """Keep the best of overlapping hits: higher score, then longer span; result sorted by start."""
    ranked = sorted(set(hits), key=lambda h: (-h.score, -(h.end - h.start), h.start, h.entity))
    starts: list[int] = []  # the kept spans, sorted and disjoint: a new span can only touch its two neighbours
    kept: list[Hit] = []
    for h in ranked:
        i = bisect.bisect_left(starts, h.start)
        if i < len(kept) and kept[i].start < h.end:
            continue
        if i > 0 and kept[i - 1].end > h.start:
            continue
        starts.insert(i, h.start)
        kept.insert(i, h)
    return kept


@cache
def engine(language: str = "en", model: str | None = None, tuned: bool = True) -> PiiEngine:
    """The engine for ``language`` (cached per process; the first call loads spaCy)."""
    try:
        import presidio_analyzer  # noqa: F401
        import spacy  # noqa: F401
    except ImportError:
        raise needs_extra("presidio_analyzer", "the PII scanner") from None
    return PiiEngine(language, pick_model(language, model), tuned)
