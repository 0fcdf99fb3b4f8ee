"""Who an alert goes to: pure decisions, the one place they are made.

Abnormal data (异常数据: ``models.ABNORMAL_DATA_KINDS``) goes to the plant's operator first, so the
plant can explain or repair it; an officer sees it only when compliance refers it: when it stays
unexplained past ``RuleSettings.abnormal_refer_after_s`` (default 4 h), or when an officer rejects the
operator's explanation. Every other alert is the officer's from the moment it opens. Compliance
records the decision on the alert (``officer_visible_at``); the API and the notifications filter by
that field and never decide again.

Platforms send hourly abnormal-data notices to the enterprise first and officers review what stays
unexplained together with the enterprise's explanations (../shared/reference/workflows.md, "Abnormal
data"; the Shenzhen rules on abnormal-data warnings, 深圳市污染源自动监控异常数据预警规范, grade and
route them the same way). How long the enterprise has is not fixed by any public rule we found: a
setting.

An explanation is a note of kind explanation (``api``: ``POST /alerts/{id}/annotate`` with
``"kind": "explanation"``): at most one waits for an officer at a time; after a rejection the
operator may explain again; an accepted explanation is final.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from compliance.alerts import InvalidTransition
from compliance.models import ABNORMAL_DATA_KINDS, AuditEntry

Explanation = Literal["pending", "accepted", "rejected"]
Audience = Literal["everyone", "operator"]  # who a notification of an alert's change goes to
OPERATOR_FIRST = "to the plant's operator first: abnormal data, for the plant to explain"
UNEXPLAINED = "referred to officers: unexplained"
REJECTED = "referred to officers: the explanation was rejected"


def is_abnormal(kind: str) -> bool:
    return kind in ABNORMAL_DATA_KINDS


def officer_visible_on_open(kind: str) -> bool:
    """An alert is the officer's from its opening unless it is abnormal data."""
    return not is_abnormal(kind)


def audience(officer_visible_at: datetime | None) -> Audience:
    """Notifications of an alert not yet before officers go to operators' subscriptions only."""
    return "operator" if officer_visible_at is None else "everyone"


def referral_due(
    created_at: datetime,
    explanation: str | None,
    officer_visible_at: datetime | None,
    now: datetime,
    after: timedelta,
) -> bool:
    """An abnormal-data alert still hidden from officers, with no explanation given (none, or the
    last one rejected and not yet referred), that was opened ``after`` ago or more."""
    if officer_visible_at is not None or explanation in ("pending", "accepted"):
        return False
    return now - created_at >= after


def explain(kind: str, state: str, explanation: str | None, actor: str, note: str) -> AuditEntry:
    """Validate an operator's explanation of an alert; returns the audit entry (the note)."""
    if not actor.strip() or not note.strip():
        raise InvalidTransition("an explanation needs an actor and a note")
    if not is_abnormal(kind):
        raise InvalidTransition(f"only abnormal-data alerts are explained; a {kind} alert is not one")
    if explanation == "pending":
        raise InvalidTransition("an explanation of this alert is already waiting for an officer")
    if explanation == "accepted":
        raise InvalidTransition("an officer has already accepted an explanation of this alert")
    return AuditEntry("explain", actor, state, state, note, {"explanation": "pending"})


def decide(state: str, explanation: str | None, accept: bool, actor: str, note: str | None) -> AuditEntry:
    """Validate an officer's decision on the pending explanation; returns the audit entry."""
    if not actor.strip():
        raise InvalidTransition("an actor is required")
    if explanation != "pending":
        raise InvalidTransition(f"no explanation is waiting for a decision (explanation: {explanation})")
    outcome: Explanation = "accepted" if accept else "rejected"
    action = "explanation_accept" if accept else "explanation_reject"
    return AuditEntry(action, actor, state, state, note, {"explanation": outcome})
