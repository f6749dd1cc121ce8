-- Jobs expected to take longest start first (docs/architecture.md, "The job claim"):
-- `started_at` is when the job's latest attempt was claimed, so a finished job's
-- run time is `finished_at - started_at`; `claim_at` orders queued jobs: the time
-- the job became due, less what its server's last job of the kind took (capped), so
-- that a job known to be long goes ahead of shorter ones queued at about the same
-- time, and never ahead of one queued more than the cap before it.
ALTER TABLE jobs ADD COLUMN started_at INTEGER;
ALTER TABLE jobs ADD COLUMN claim_at INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET claim_at = run_after;
DROP INDEX jobs_status_id;
CREATE INDEX jobs_status_claim ON jobs (status, claim_at, id);
