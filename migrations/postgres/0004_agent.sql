-- Registration through the live image: where a job is in its process, and the hash of
-- the per-job agent token (valid only while the job's live image runs).
ALTER TABLE jobs ADD COLUMN phase TEXT NOT NULL DEFAULT 'start';
ALTER TABLE jobs ADD COLUMN agent_token_hash TEXT;
CREATE INDEX jobs_agent_token ON jobs (agent_token_hash);
