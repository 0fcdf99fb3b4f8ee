-- Abnormal data goes to the plant's operator first (compliance/routing.py): compliance records on the
-- alert when it put it before officers, and the state of the operator's explanation. Every alert
-- opened before this migration was the officers' from the start.
ALTER TABLE alerts ADD COLUMN officer_visible_at timestamptz;
ALTER TABLE alerts ADD COLUMN explanation text
    CHECK (explanation IN ('pending', 'accepted', 'rejected'));
UPDATE alerts SET officer_visible_at = created_at;
-- the referral sweep looks only at alerts still hidden from officers
CREATE INDEX alerts_operator_only ON alerts (created_at) WHERE officer_visible_at IS NULL;

-- Who a notification goes to: everyone (officers' and operators' subscriptions), or the operators'
-- subscriptions only (a change of an alert not yet before officers).
ALTER TABLE notify_outbox ADD COLUMN audience text NOT NULL DEFAULT 'everyone'
    CHECK (audience IN ('everyone', 'operator'));
