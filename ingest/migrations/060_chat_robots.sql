-- Chat robots (WeCom, DingTalk, Feishu/Lark) as notification channels beside webhooks and e-mail.
ALTER TABLE notify_deliveries DROP CONSTRAINT IF EXISTS notify_deliveries_channel_check;
ALTER TABLE notify_deliveries ADD CONSTRAINT notify_deliveries_channel_check
    CHECK (channel IN ('webhook', 'email', 'wecom', 'dingtalk', 'feishu'));

-- A robot's waiting deliveries may be re-cut into digests (compliance/digest.py): the rows they
-- replace are kept, marked superseded, and every digest names the rows it carries on. An alert change
-- (outbox id) is in exactly one delivered, not superseded row per subscription.
ALTER TABLE notify_deliveries
    ADD COLUMN superseded_at timestamptz,
    ADD COLUMN digest_of     bigint[];

DROP INDEX IF EXISTS notify_deliveries_due;
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND superseded_at IS NULL;
CREATE INDEX notify_deliveries_waiting ON notify_deliveries (park_id, subscription, id)
    WHERE delivered_at IS NULL AND superseded_at IS NULL;

-- Every request sent to a robot (delivered or not: the vendor counts requests), for its rate limit.
CREATE TABLE notify_robot_sends (
    park_id      text NOT NULL,
    subscription text NOT NULL,
    sent_at      timestamptz NOT NULL
);
CREATE INDEX notify_robot_sends_recent ON notify_robot_sends (park_id, subscription, sent_at);
