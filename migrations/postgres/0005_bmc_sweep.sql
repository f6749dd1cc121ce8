-- The periodic BMC sweep: consecutive failures to reach a server's BMC, and the
-- warning shown on the server once they repeat (a warning, not a state change).
ALTER TABLE servers ADD COLUMN bmc_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE servers ADD COLUMN bmc_warning TEXT;
