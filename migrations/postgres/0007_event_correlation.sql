-- The request id (or "job-<id>") whose work wrote each audit event, as in the logs.
ALTER TABLE events ADD COLUMN correlation_id TEXT;
