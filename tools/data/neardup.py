"""Near-duplicate detection: MinHash with LSH banding over character shingles, in numpy.

Texts are lower-cased and whitespace-folded, then cut into character ``n``-grams (default 5;
word shingles miss light edits on short texts, see data-anchors §2 and benchmarks/). Each shingle
gets one 64-bit hash (a polynomial over code points, then a mixer); signatures use one-permutation
hashing (``bands * rows`` buckets, the minimum per bucket, empty buckets filled from a
full one found by a fixed random probe sequence), so the cost is one pass over the characters
whatever the signature size. Band keys go
into sorted arrays; equal keys make candidate pairs, which the caller confirms with
:func:`jaccard` on the exact shingle sets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

_P = np.uint64(1_000_003)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SENT = np.uint64(1 << 32)


def normalise_text(text: str) -> str:
    return " ".join(text.lower().split())


def _shingle_hashes(codes: np.ndarray, n: int) -> np.ndarray:
    """Hashes of every window of ``n`` code points (len(codes) - n + 1 of them)."""
    m = len(codes) - n + 1
    h = codes[:m].copy()
    for j in range(1, n):
        h *= _P
        h += codes[j : j + m]
    return _mix(h)


def _mix(h: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (splitmix64's), in place: ``h`` is overwritten and returned, with no temporaries
    the size of ``h`` beyond one."""
    t = h >> np.uint64(30)
    h ^= t
    h *= _M1
    np.right_shift(h, np.uint64(27), out=t)
    h ^= t
    h *= _M2
    np.right_shift(h, np.uint64(31), out=t)
    h ^= t
    return h


def _layout(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code points, text index, separator mask) of a batch: each text followed by one separator position.

    Non-empty texts shorter than ``n`` are padded with spaces, so they still have one shingle."""
    texts = [t if len(t) >= n or not t else t.ljust(n) for t in texts]
    count = len(texts)
    codes = np.frombuffer(("\x00".join(texts) + "\x00").encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lens = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=count)
    doc = np.repeat(np.arange(count, dtype=np.int64), lens)
    sep = np.zeros(len(codes), dtype=bool)
    sep[np.cumsum(lens) - 1] = True
    return codes.astype(np.uint64), doc, sep


def _batch_shingles(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(shingle hashes, the index of the text each belongs to) for a batch of normalised texts, in text order."""
    codes, doc, sep = _layout(texts, n)
    if len(codes) < n:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    m = len(codes) - n + 1
    h = _shingle_hashes(codes, n)
    valid = (doc[:m] == doc[n - 1 : n - 1 + m]) & ~sep[n - 1 : n - 1 + m]
    return h[valid], doc[:m][valid]


def shingle_sets(texts: Sequence[str], n: int = 5) -> list[np.ndarray]:
    """:func:`shingles` of many texts at once (one vectorised pass; the same arrays, in order)."""
    if not texts:
        return []
    h, doc = _batch_shingles(texts, n)
    bounds = np.searchsorted(doc, np.arange(len(texts) + 1))
    if not len(h):
        return [h] * len(texts)
    h = np.concatenate([np.sort(h[bounds[i] : bounds[i + 1]]) for i in range(len(texts))])  # per text: cheaper
    keep = np.ones(len(h), dtype=bool)  # than one lexsort
    keep[1:] = h[1:] != h[:-1]
    keep[bounds[:-1][bounds[:-1] < len(h)]] = True  # each text's first shingle
    kept = np.concatenate(([0], np.cumsum(keep)))[bounds]
    h = h[keep]
    return [h[kept[i] : kept[i + 1]] for i in range(len(texts))]


def shingles(text: str, n: int = 5) -> np.ndarray:
    """The sorted distinct shingle hashes of one (already normalised) text."""
    return shingle_sets([text], n)[0]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two shingle-hash sets from :func:`shingles` (sorted, distinct)."""
    if len(a) > len(b):
        a, b = b, a
    if len(a) == 0:
        return 1.0 if len(b) == 0 else 0.0
    at = np.searchsorted(b, a)  # about twice as fast as np.intersect1d on sorted sets
    at[at == len(b)] = len(b) - 1
    inter = int(np.count_nonzero(b[at] == a))
    return inter / (len(a) + len(b) - inter)


class MinHasher:
    """Band keys for batches of texts: ``keys(texts)`` -> (len(texts), bands) uint64."""

    def __init__(self, bands: int = 20, rows: int = 4, shingle: int = 5, seed: int = 1) -> None:
        self.bands, self.rows, self.n = bands, rows, shingle
        self.k = bands * rows
        rng = np.random.default_rng(seed)
        self._salt = rng.integers(1, 2**63, size=(bands, rows), dtype=np.uint64) | np.uint64(1)
        self._probe = rng.integers(0, self.k, size=(256, self.k))  # densification probe sequence

    def keys(self, texts: Sequence[str]) -> np.ndarray:
        """One row per normalised text; a row of zeros for a text with no shingles (empty)."""
        count = len(texts)
        out = np.zeros((count, self.bands), dtype=np.uint64)
        if count == 0:
            return out
        k = self.k
        h, d = _batch_shingles(texts, self.n)
        if not len(h):
            return out
        bucket = (((h >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)).astype(np.int64)  # in [0, k)
        value = h & np.uint64(0xFFFFFFFF)
        sig = np.full(count * k, _SENT, dtype=np.uint64)
        np.minimum.at(sig, d * k + bucket, value)
        sig = sig.reshape(count, k)
        empty = sig == _SENT
        has_any = ~empty.all(axis=1)
        # densify (Shrivastava 2017): an empty bucket j takes the value of bucket probe[t, j] of the same
        # text, for the first attempt t that hits a non-empty one; the probe sequence is the same for every
        # text, so similar texts fill their empty buckets alike and bands stay independent
        need = np.flatnonzero(has_any & empty.any(axis=1))
        if len(need):
            rows, cur, orig = need, sig[need], sig[need].copy()
            full, todo = ~empty[need], empty[need]
            for t in range(len(self._probe)):
                if t % 8 == 0:  # write back and drop the rows whose buckets are all filled
                    done = ~todo.any(axis=1)
                    if done.any():
                        sig[rows[done]] = cur[done]
                        keep = ~done
                        rows, cur, orig, full, todo = rows[keep], cur[keep], orig[keep], full[keep], todo[keep]
                    if not len(rows):
                        break
                source = self._probe[t]
                take = todo & full[:, source]
                cur[take] = (orig[:, source][take] + np.uint64((t + 1) * 0x9E3779B1)) & np.uint64(0xFFFFFFFF)
                todo &= ~take
            if len(rows):
                sig[rows] = cur
        bands = sig.reshape(count, self.bands, self.rows)
        combined = np.zeros((count, self.bands), dtype=np.uint64)
        for r in range(self.rows):
            combined = _mix(combined * _P + bands[:, :, r] * self._salt[:, r])  # a fresh array each time
        combined[combined == 0] = np.uint64(1)
        combined[~has_any] = 0
        return combined


class Crowded:
    """Examples in buckets too large to pair up (more than ``max_bucket`` share one band key): the sign of templated,
    low-diversity data. Their pairs are not enumerated (that is quadratic); the caller reports them as one finding.

    ``mask`` marks them by position in ``ids``; ``largest`` keeps the biggest buckets seen (size, first members)."""

    def __init__(self, n: int, keep: int = 8) -> None:
        self.mask = np.zeros(n, dtype=bool)
        self.largest: list[tuple[int, np.ndarray]] = []
        self.keep = keep

    @property
    def count(self) -> int:
        return int(self.mask.sum())

    def add(self, positions: np.ndarray, members: np.ndarray) -> None:
        self.mask[positions] = True
        size = len(members)
        if len(self.largest) < self.keep or size > self.largest[-1][0]:
            head = np.sort(members)[:20]
            for k, (kept_size, kept) in enumerate(self.largest):
                if len(np.intersect1d(head, kept)) >= 3:  # the same crowd seen in another band
                    if size > kept_size:
                        self.largest[k] = (size, head)
                    break
            else:
                self.largest.append((size, head))
            self.largest.sort(key=lambda item: -item[0])
            del self.largest[self.keep :]


def candidate_pairs(keys: np.ndarray, ids: np.ndarray, max_bucket: int) -> Iterator[tuple[int, int]]:
    """Distinct pairs of ``ids`` sharing a band key (rows with key 0 are skipped); a bucket over ``max_bucket``
    becomes a star around its first member."""
    seen: set[tuple[int, int]] = set()
    for pair in candidate_pairs_banded(lambda band: keys[:, band], keys.shape[1], ids, max_bucket, star=True):
        if pair not in seen:
            seen.add(pair)
            yield pair


def candidate_pairs_banded(
    band_column: Callable[[int], np.ndarray],
    bands: int,
    ids: np.ndarray,
    max_bucket: int,
    crowded: Crowded | None = None,
    star: bool = False,
    find: Callable[[int], int] | None = None,
) -> Iterator[tuple[int, int]]:
    """Pairs ``(a, b)``, a < b, of ``ids`` sharing a key in one band, reading one band column at a time (memory holds
    one column). A pair sharing several bands comes once per band: the caller skips what it has already joined.

    A bucket of more than ``max_bucket`` members is capped: with ``crowded`` its members are recorded there and
    no pair is made; otherwise (``star``) it becomes a star around its first member. So the number of pairs is at
    most ``bands * len(ids) * max_bucket / 2`` whatever the data. ``find`` (the caller's union-find, as it grows)
    keeps one member per group in a bucket of three or more, so members already joined are not paired again."""
    for band in range(bands):
        col = band_column(band)
        if len(col) < 2:
            continue
        order = np.argsort(col, kind="stable")
        sorted_keys = col[order]
        same = sorted_keys[1:] == sorted_keys[:-1]
        same &= sorted_keys[1:] != 0
        del col, sorted_keys
        if not same.any():
            continue
        edges = np.diff(np.concatenate(([0], same.astype(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # bucket = order[start..end]
        del same, edges
        sizes = ends - starts + 1
        two = sizes == 2  # most buckets: their pairs straight from the arrays
        a, b = ids[order[starts[two]]], ids[order[ends[two]]]
        lo, hi = np.minimum(a, b).tolist(), np.maximum(a, b).tolist()
        yield from zip(lo, hi, strict=True)
        for s, e in zip(starts[~two].tolist(), ends[~two].tolist(), strict=True):
            positions = order[s : e + 1]
            members = ids[positions]
            if len(members) > max_bucket:
                if crowded is not None:
                    crowded.add(positions, members)
                    continue
                if not star:
                    continue
                first = int(members[0])
                yield from ((min(first, int(x)), max(first, int(x))) for x in members[1:])
                continue
            ms = np.sort(members).tolist()
            if find is not None:
                ms = list({find(m): m for m in reversed(ms)}.values())[::-1]  # the first member of each group
                ms.sort()
            yield from ((ms[i], ms[j]) for i in range(len(ms)) for j in range(i + 1, len(ms)))


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for x in list(self.parent):
            out.setdefault(self.find(x), []).append(x)
        for root in list(out):
            if root not in out[root]:
                out[root].append(root)
        return [sorted(g) for g in out.values() if len(g) > 1]
