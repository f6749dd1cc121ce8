-- Firmware drift: each server's component versions as its newest registration found
-- them (the BMC's firmware inventory, and what the agent read where the BMC lists
-- nothing), and each server type's baseline (component -> version) an admin set.
CREATE TABLE server_firmware (
    server_id BIGINT NOT NULL REFERENCES servers (id),
    component TEXT   NOT NULL,
    name      TEXT   NOT NULL,
    version   TEXT   NOT NULL,
    PRIMARY KEY (server_id, component)
);
CREATE TABLE firmware_baselines (
    server_type_id BIGINT NOT NULL REFERENCES server_types (id),
    component      TEXT   NOT NULL,
    version        TEXT   NOT NULL,
    set_by         TEXT   NOT NULL,
    set_at         BIGINT NOT NULL,
    PRIMARY KEY (server_type_id, component)
);
INSERT INTO server_firmware (server_id, component, name, version)
    SELECT DISTINCT ON (i.server_id, f ->> 'id') i.server_id, f ->> 'id', f ->> 'name', f ->> 'version'
    FROM inventories i, jsonb_array_elements(COALESCE(i.data::jsonb -> 'firmware', '[]'::jsonb)) f
    WHERE i.id = (SELECT MAX(id) FROM inventories WHERE server_id = i.server_id);
