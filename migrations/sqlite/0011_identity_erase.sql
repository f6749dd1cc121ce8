-- Destructive work only on the right machine (docs/identity-and-erase.md).
-- Identity: the normalised BMC address (unique among live servers, checked by the
-- service under the write lock; filled for existing rows at start-up) and what the
-- BMC said the machine is at its first registration.
ALTER TABLE servers ADD COLUMN bmc_key TEXT NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN system_uuid TEXT NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN system_serial TEXT NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN manager_uuid TEXT NOT NULL DEFAULT '';
CREATE INDEX servers_bmc_key ON servers (bmc_key);
CREATE INDEX servers_serial ON servers (serial_number);
CREATE INDEX servers_system_serial ON servers (system_serial);

-- Fencing: every claim of a job bumps `fence`; each write of the job's work is
-- conditional on the value its runner claimed with. `agent_verified`: the agent of a
-- cleaning proved it runs on the recorded machine (erase steps are handed out only then).
ALTER TABLE jobs ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN agent_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN agent_deadline INTEGER;

-- Erase certificates: a cleaning's evidence, kept for good.
CREATE TABLE erase_certificates (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id  INTEGER NOT NULL REFERENCES servers (id),
    job_id     INTEGER NOT NULL REFERENCES jobs (id),
    mode       TEXT    NOT NULL,
    issued_at  INTEGER NOT NULL,
    data       TEXT    NOT NULL
);
CREATE INDEX erase_certificates_server ON erase_certificates (server_id, id);
CREATE TRIGGER erase_certificates_no_update BEFORE UPDATE ON erase_certificates
BEGIN SELECT RAISE(ABORT, 'erase certificates are append-only'); END;
CREATE TRIGGER erase_certificates_no_delete BEFORE DELETE ON erase_certificates
BEGIN SELECT RAISE(ABORT, 'erase certificates are append-only'); END;
