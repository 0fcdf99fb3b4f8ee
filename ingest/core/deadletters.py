"""How rejected input is kept: one dead letter per run of junk, with a capped payload.

Before, every rejected item was a row holding its bytes whole: 200 KB of ``#`` on one TCP connection
made 63,182 rows, and a 1 MB MQTT payload was stored whole. Now the items a batch rejects are grouped
into runs: items of one *kind* (the reason with its variable parts blanked) from one source (a topic,
a TCP connection) make one run, and the batch writer adds a run to the open dead letter of the same
source and kind when there is one (``repo.record_dead_letters``), so a flood of junk is a few rows
with a count, first and last seen, and the bytes it carried. A dead letter keeps a prefix of the first
item's payload (whole up to ``max_bytes``, which holds any HJ 212 frame), its length and its SHA-256.

Distinct problems stay distinct rows: a bad CRC and an unknown MN from one logger are two kinds.
Rows without a source (the second values of stored readings, evidence about one key each) are never
merged. Pure: the SQL is in ``repo``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.core.decoded import DeadRow

# What varies between items of one kind: quoted text, tokens with a digit (sizes, positions, times,
# MNs), upper-case hex words (CRCs). Blanked, the rest of the reason is the kind.
_VARIABLE = re.compile(r"'[^']*'|\"[^\"]*\"|[\w.:+-]*\d[\w.:+-]*|\b[0-9A-F]{4}\b")
KIND_CHARS = 200


def kind_of(reason: str) -> str:
    """The reason with its variable parts blanked: what the items of one run have in common."""
    return _VARIABLE.sub("_", reason)[:KIND_CHARS]


@dataclass(frozen=True)
class Run:
    """Dead items of one kind from one source in one batch: the first item, and how many and how big."""

    source: str
    topic: str | None  # topic or peer; None: never merged
    kind: str | None  # None: never merged
    reason: str  # the first item's
    payload: bytes  # the first item's, at most ``max_bytes``
    size: int  # the first item's length as received
    sha256: bytes  # of the first item's whole payload
    count: int
    bytes_total: int  # of every item


def runs(rows: Iterable[DeadRow], max_bytes: int) -> list[Run]:
    """A batch's dead letters grouped into runs, in order of first appearance."""
    first: dict[tuple[str, str, str], DeadRow] = {}
    counts: dict[tuple[str, str, str], list[int]] = {}
    alone: list[Run] = []
    for row in rows:
        source, topic, payload, reason = row
        if topic is None:
            alone.append(_run(row, None, max_bytes, 1, len(payload)))
            continue
        key = (source, topic, kind_of(reason))
        seen = counts.get(key)
        if seen is None:
            first[key], counts[key] = row, [1, len(payload)]
        else:
            seen[0] += 1
            seen[1] += len(payload)
    grouped = [_run(first[key], key[2], max_bytes, n, total) for key, (n, total) in counts.items()]
    return grouped + alone


def _run(row: DeadRow, kind: str | None, max_bytes: int, count: int, bytes_total: int) -> Run:
    source, topic, payload, reason = row
    digest = hashlib.sha256(payload).digest()
    return Run(source, topic, kind, reason, payload[:max_bytes], len(payload), digest, count, bytes_total)
