-- Hardware changes need a look: the inventory (and type) someone last accepted for a
-- server, and the differences a later registration found from it, not yet
-- acknowledged (JSON list; NULL when there are none). While there are, the server
-- is not set available.
ALTER TABLE servers ADD COLUMN hardware_ack_inventory_id INTEGER;
ALTER TABLE servers ADD COLUMN hardware_ack_type_id INTEGER;
ALTER TABLE servers ADD COLUMN hardware_changes TEXT;
-- What every server has today was accepted as it is.
UPDATE servers SET
    hardware_ack_inventory_id = (SELECT MAX(i.id) FROM inventories i WHERE i.server_id = servers.id),
    hardware_ack_type_id = server_type_id;
