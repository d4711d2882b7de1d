"""tools.data.neardup: MinHash LSH finds lightly edited texts and stays quiet on unrelated ones."""

from __future__ import annotations

import random

import numpy as np

from tools.data.neardup import MinHasher, UnionFind, candidate_pairs, jaccard, normalise_text, shingle_sets, shingles


def _edit(text: str, rate: float, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(max(1, round(len(chars) * rate))):
        i = rng.randrange(len(chars))
        chars[i] = rng.choice([c for c in "etaoinshrdlu" if c != chars[i]])
    return "".join(chars)


def _words(rng: random.Random, n: int) -> str:
    return " ".join(
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8))) for _ in range(n)
    )


def test_edited_pairs_are_candidates_and_unrelated_texts_are_not() -> None:
    rng = random.Random(3)
    base = [normalise_text(_words(rng, 80)) for _ in range(200)]
    edited = [_edit(t, 0.02, rng) for t in base]
    short = [normalise_text(_words(rng, 4)) for _ in range(200)]  # sparse texts must not collide
    texts = base + edited + short
    keys = MinHasher(24, 5, 5).keys(texts)
    pairs = set(candidate_pairs(keys, np.arange(len(texts)), 50))
    found = sum((i, i + 200) in pairs for i in range(200))
    assert found >= 195
    unrelated = [(a, b) for a, b in pairs if b != a + 200]
    assert len(unrelated) < 20
    for i in range(5):
        assert jaccard(shingles(base[i]), shingles(edited[i])) > 0.7


def test_jaccard_is_exact_and_empty_texts_have_no_key() -> None:
    a, b = shingles("abcdefg"), shingles("abcdefx")
    assert jaccard(a, b) == 2 / 4  # abcde, bcdef shared; cdefg / cdefx differ
    assert jaccard(shingles(""), shingles("")) == 1.0
    assert (MinHasher().keys(["", "hello world"])[0] == 0).all()


def test_union_find_groups() -> None:
    uf = UnionFind()
    uf.union(1, 2)
    uf.union(3, 2)
    uf.union(7, 8)
    assert sorted(uf.groups()) == [[1, 2, 3], [7, 8]]


def test_shingle_sets_of_a_batch_equal_one_at_a_time() -> None:
    texts = ["the cat sat on the mat", "", "abc", "a\x00bcdefgh", "the cat sat on the mat"]
    batch = shingle_sets(texts)
    for text, got in zip(texts, batch, strict=True):
        assert np.array_equal(got, shingles(text))
    assert len(batch[1]) == 0 and len(batch[2]) == 1 and np.array_equal(batch[0], batch[4])


def test_crowded_buckets_make_no_pairs_and_joined_members_pair_once() -> None:
    from tools.data.neardup import Crowded, candidate_pairs_banded

    keys = np.array([7] * 60 + [9, 9, 9] + [11, 11] + [0, 0], dtype=np.uint64).reshape(-1, 1)
    ids = np.arange(len(keys))
    crowded = Crowded(len(ids))
    pairs = list(candidate_pairs_banded(lambda b: keys[:, b], 1, ids, max_bucket=50, crowded=crowded))
    assert sorted(pairs) == [(60, 61), (60, 62), (61, 62), (63, 64)]  # the 60-member bucket: none; key 0: none
    assert crowded.count == 60 and crowded.largest[0][0] == 60
    joined = {60: 60, 61: 60, 62: 62}  # 60 and 61 already in one group
    pairs = list(
        candidate_pairs_banded(lambda b: keys[:, b], 1, ids, 50, Crowded(len(ids)), find=lambda x: joined.get(x, x))
    )
    assert sorted(pairs) == [(60, 62), (63, 64)]
    star = list(candidate_pairs_banded(lambda b: keys[:, b], 1, ids, max_bucket=50, star=True))
    assert len(star) == 59 + 3 + 1
