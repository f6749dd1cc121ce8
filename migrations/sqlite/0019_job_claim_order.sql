-- The job claim's plan: the oldest queued job in id order (without sorting every
-- queued job at each claim: ten thousand queued cleanings made each claim read them
-- all), and jobs whose lease ran out by when it did.
CREATE INDEX jobs_status_id ON jobs (status, id);
CREATE INDEX jobs_status_lease ON jobs (status, lease_expires_at);
