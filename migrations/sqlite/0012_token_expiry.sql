-- API tokens expire (default 90 days after creation; existing tokens get 90 days from
-- their creation too).
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE api_tokens SET expires_at = created_at + 90 * 86400000;
