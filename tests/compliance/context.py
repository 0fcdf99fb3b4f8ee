"""The compliance settings the integration tests run with (short holds, explicit times)."""

from __future__ import annotations

from compliance import jobs
from compliance.settings import RuleSettings, RuntimeSettings, SmtpSettings, WebhookSettings
from ingest.core.secrets import SecretSettings

STORE_KEY = "a1" * 32  # the secret store's key in these tests (receivers' signing secrets)
RULES = RuleSettings(clear_hold_s=300, fault_hold_s=1800, flatline_s=3600, offline_k=5, late_grace_s=60)


def make_context() -> jobs.Context:
    return jobs.Context(
        RULES,
        RuntimeSettings(notify_group_s=0, poll_s=0.2),
        WebhookSettings(),
        SmtpSettings(starttls=False),  # the local test SMTP server speaks plain SMTP
        store=SecretSettings(secret_key=STORE_KEY),
    )
