-- The step log of each job, shown on the server page.
CREATE TABLE job_steps (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  INTEGER NOT NULL REFERENCES jobs (id),
    at      INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX job_steps_job ON job_steps (job_id, id);
