//! All SQL, one module per aggregate. Functions take a connection (a pooled one or a
//! transaction's), so the service decides what runs in one transaction. Every query
//! runs on SQLite and PostgreSQL alike.

pub mod api_tokens;
pub mod bmc_certificates;
pub mod deployments;
pub mod dialect;
pub mod erase_certificates;
pub mod events;
pub mod firmware;
pub mod identity;
pub mod images;
pub mod inventories;
pub mod jobs;
pub mod login_failures;
pub mod notes;
pub mod reports;
pub mod server_types;
pub mod servers;
pub mod sessions;
pub mod subscriptions;
pub mod users;
pub mod webhooks;

/// Unix time in milliseconds, the one timestamp format of the schema.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// How many ids one statement binds when a batch names servers by id (far below both
/// databases' bound-parameter limits; a 1,000-server allocation is two statements).
pub const IDS_PER_STATEMENT: usize = 500;

/// `$first, $first+1, ...`: the placeholders of `n` ids bound from `$first` on (for
/// `IN (...)` lists; the ids themselves are bound, never written into the SQL).
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A batch that names servers by id, a statement per IDS_PER_STATEMENT of them:
/// each chunk of `ids` with `sql`, its `{ids}` replaced by the chunk's placeholders
/// from `$first` on (the parameters before `first` are the statement's own). The
/// caller binds those, then the chunk's ids in order.
pub fn id_chunks<'a>(sql: &'a str, first: usize, ids: &'a [i64]) -> impl Iterator<Item = (String, &'a [i64])> + 'a {
    ids.chunks(IDS_PER_STATEMENT).map(move |part| (sql.replace("{ids}", &placeholders(first, part.len())), part))
}
