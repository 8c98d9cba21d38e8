"""Proof of an erasure: look for a user's id and values in bytes, by their salted hashes.

The register keeps, for each erased user, the salted hash of the id and of the e-mail,
full name and phone numbers found before the erasure (``contracts.erasure``); the values
themselves are gone. So the verify reads every file or object as bytes, cuts it into
candidate strings and hashes each one the same way: a hit is a stored value still there.

Candidates from a file: every run of word characters and ``.@+'-`` (ids, e-mails,
names), every pair of neighbouring words (``first last``), and every run of digits and
phone punctuation (compared as its digits). A Parquet file is decoded first (its pages
are compressed, so its bytes would hide a value), each row's strings joined in column
order, so a name's ``first`` and ``last`` stay neighbours. A gzip file is unpacked.
"""

from __future__ import annotations

import gzip
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from contracts.erasure import ErasureRegister, id_hash, normalised_value, value_hash

__all__ = ["Fingerprint", "candidates", "count_in", "fingerprint"]

_WORD = re.compile(rb"[\w.@+'\-]+")
_PHONE = re.compile(rb"[+(]?\d[\d ()+.\-]{5,}\d")
_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class Fingerprint:
    """What the verify looks for, for one user: hashes only."""

    salt: str = field(repr=False)
    id_hash: str
    value_hashes: frozenset[str]

    def hits(self, candidate: str) -> bool:
        return (id_hash(candidate, self.salt) == self.id_hash
                or value_hash(candidate, self.salt) in self.value_hashes)


def fingerprint(register: ErasureRegister, user_id: str) -> Fingerprint | None:
    """The user's fingerprint from the register; None when the id was never erased."""
    entry = register.entry(user_id)
    if entry is None:
        return None
    return Fingerprint(register.salt, entry.id_hash, frozenset(entry.value_hashes))


def _texts(body: bytes) -> Iterator[bytes]:
    if body[:4] == _PARQUET_MAGIC and body[-4:] == _PARQUET_MAGIC:
        try:
            yield from _parquet_rows(body)
            return
        except Exception:  # not readable as Parquet: its bytes are scanned as they are
            pass
    if body[:2] == b"\x1f\x8b":
        try:
            yield gzip.decompress(body)
            return
        except (OSError, EOFError):
            pass
    yield body


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _parquet_rows(body: bytes) -> Iterator[bytes]:
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(body))
    for batch in table.to_batches(max_chunksize=10_000):
        for row in batch.to_pylist():
            yield " ".join(_strings(row)).encode("utf-8", "replace")


def candidates(text: bytes) -> set[str]:
    """The candidate strings of one piece of text (see the module docstring)."""
    words = [m.decode("utf-8", "replace") for m in _WORD.findall(text)]
    out = set(words)
    out.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    out.update(m.decode("ascii", "replace") for m in _PHONE.findall(text))
    # an e-mail or id inside punctuation (``"a@b.c",``): also without edge dots/dashes
    out.update(w.strip(".-'") for w in words)
    return out


def _is_name(candidate: str) -> bool:
    return " " in candidate.strip() and not normalised_value(candidate).isdigit()


def count_in(body: bytes, prints: Iterable[Fingerprint]) -> int:
    """How many distinct (user, candidate) hits one file's bytes hold. A full name
    counts only beside another of the same user's values in the same row (Parquet) or
    file: other people share names, and a name alone names nobody."""
    wanted = list(prints)
    hits = 0
    for text in _texts(body):
        found = candidates(text)
        for p in wanted:
            matched = [c for c in found if p.hits(c)]
            strong = [c for c in matched if not _is_name(c)]
            hits += len(matched) if strong else 0
    return hits
