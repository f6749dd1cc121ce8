-- The server list searches MAC addresses too: each server keeps the MACs of its
-- latest inventory as one lowercase, space-separated column (written with the
-- inventory); filters by location and sorting by the last change use indexes.

ALTER TABLE servers ADD COLUMN macs TEXT NOT NULL DEFAULT '';
UPDATE servers SET macs = COALESCE((
    SELECT string_agg(LOWER(n ->> 'mac'), ' ')
    FROM inventories i, jsonb_array_elements(i.data::jsonb -> 'nics') n
    WHERE i.id = (SELECT MAX(id) FROM inventories WHERE server_id = servers.id)
), '');
CREATE INDEX servers_location ON servers (datacenter, rack);
CREATE INDEX servers_updated ON servers (updated_at);
