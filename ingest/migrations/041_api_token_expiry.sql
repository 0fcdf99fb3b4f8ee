-- API tokens may expire: a token past expires_at is refused like a revoked one (NULL = no expiry).
-- `outfall run` gives its session token a short expiry that it renews while it runs, so the token in
-- its dashboard link dies soon after the process, even when it is killed and cannot revoke it.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
