-- Whether a server type has a subscription not yet ended, read with a snapshot of its
-- own: a VOLATILE function takes a fresh snapshot for each query it runs, so called
-- over a row locked in the same statement (`store::server_types::lock_shared_subscribed`)
-- it sees a subscription committed while the lock was awaited. A move to available
-- takes the lock and checks in one round trip instead of two.
CREATE FUNCTION rackstate_type_subscribed(type_id BIGINT) RETURNS BOOLEAN
LANGUAGE sql VOLATILE AS $$
  SELECT EXISTS (SELECT 1 FROM subscriptions b WHERE b.server_type_id = type_id AND b.ended_at IS NULL)
$$;
