-- Nothing on SQLite: the PostgreSQL function of this number reads a type's open
-- subscriptions after its row lock, and SQLite's write transactions hold the database's
-- lock from their start (the type's lock is a no-op there).
SELECT 1;
