-- BMC password rotation: the new password (sealed like bmc_secret) from the moment
-- it is generated until the BMC took it and a login with it worked; then it replaces
-- bmc_secret. A rotation that stopped between the two finds it here.
ALTER TABLE servers ADD COLUMN bmc_secret_pending BYTEA;
