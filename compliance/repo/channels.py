"""PostgreSQL NOTIFY channels and the alert kinds the real-time capture watches."""

ALERTS_CHANNEL = "outfall_alerts"  # NOTIFY payload: alert id, on every alert change
INBOX_CHANNEL = "outfall_compliance"  # NOTIFY: the inbox has rows
# Kinds whose active alert makes every reading at its key interesting to the real-time rules.
WATCHED_KINDS = ("exceedance", "offline", "instrument_fault", "over_range", "implausible", "negative_value")
