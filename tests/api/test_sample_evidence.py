"""The alert's sample evidence in words: retained at a park-local time, or why there is none."""

from __future__ import annotations

from datetime import UTC, datetime

from api.models import sample_evidence
from ingest.hj212.repo import SampleRow

AT = datetime(2026, 12, 2, 2, 32, 10, tzinfo=UTC)  # 10:32 in Asia/Shanghai


def test_sample_evidence_says_when_or_why_not() -> None:
    assert sample_evidence(None) is None
    done = sample_evidence(SampleRow(1, "done", AT, "done (ExeRtn=1)", "Asia/Shanghai"))
    assert done is not None and done.text == "sample retained at 10:32" and done.at == AT
    offline = "logger offline: it did not connect before the command expired"
    gone = sample_evidence(SampleRow(1, "expired", AT, offline, "Asia/Shanghai"))
    assert gone is not None and gone.text == f"no sample: {offline}"
    waiting = sample_evidence(SampleRow(1, "sent", None, None, "Asia/Shanghai"))
    assert waiting is not None and waiting.at is None and "waiting" in waiting.text
