-- Trust on first use for BMCs with self-signed certificates: the SHA-256 of the
-- certificate seen at the first successful connection, and a different one seen
-- since (the server's jobs stop until an admin accepts it).
ALTER TABLE servers ADD COLUMN bmc_cert_sha256 TEXT;
ALTER TABLE servers ADD COLUMN bmc_cert_offered TEXT;
