//! The tower-sessions store, in the same database as everything else (so several
//! Rackstate replicas share sessions). Rows are keyed by a hash of the session id: a
//! copy of the database (a backup, a read-only replica) holds no usable session.

use crate::backend::db::{Db, DbError};
use crate::backend::secrets::token_hash;
use crate::backend::store::now_ms;
use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// The session key that holds the logged-in user's id.
pub const USER_ID_KEY: &str = "user_id";

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Inserts the record; `on_conflict` says what an existing id does. Returns rows
    /// written. Like every write, on the writer connection (`Db::write_one`).
    async fn write(&self, record: &Record, on_conflict: &'static str) -> session_store::Result<u64> {
        let (data, user_id, expires) = encode(record)?;
        let id = key(&record.id);
        self.db
            .write_one(move |c| {
                Box::pin(async move {
                    sqlx::query(&format!(
                        "INSERT INTO sessions (id, user_id, data, expires_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (id) {on_conflict}"
                    ))
                    .bind(id)
                    .bind(user_id)
                    .bind(data)
                    .bind(expires)
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(|e| DbError::query("saving a session", e))
                })
            })
            .await
            .map_err(backend)
    }

    /// Deletes expired sessions; returns how many.
    pub async fn delete_expired(&self) -> Result<u64, DbError> {
        let now = now_ms();
        self.db
            .write_one(move |c| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                        .bind(now)
                        .execute(c)
                        .await
                        .map(|r| r.rows_affected())
                        .map_err(|e| DbError::query("deleting expired sessions", e))
                })
            })
            .await
    }
}

/// How a session id is stored: its hash (ids are 128 random bits; a fast hash is enough).
fn key(id: &Id) -> String {
    token_hash(&id.to_string())
}

/// A database failure as the session layer reports it: the error and its causes.
fn backend(e: DbError) -> session_store::Error {
    session_store::Error::Backend(crate::backend::error_chain(&e))
}

fn encode(record: &Record) -> session_store::Result<(String, Option<i64>, i64)> {
    let data = serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let user_id = record.data.get(USER_ID_KEY).and_then(|v| v.as_i64());
    let expires = (record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64;
    Ok((data, user_id, expires))
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh id until one is free: never overwrite someone else's session.
        for _ in 0..8 {
            if self.write(record, "DO NOTHING").await? == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
        Err(session_store::Error::Backend("could not find a free session id".into()))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(
            record,
            "DO UPDATE SET user_id = excluded.user_id, data = excluded.data, expires_at = excluded.expires_at",
        )
        .await
        .map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut conn = self.db.conn().await.map_err(backend)?;
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2")
                .bind(key(id))
                .bind(now_ms())
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| backend(DbError::query("loading a session", e)))?;
        let Some((data, expires)) = row else { return Ok(None) };
        let data = serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = time::OffsetDateTime::from_unix_timestamp_nanos(expires as i128 * 1_000_000)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record { id: *id, data, expiry_date }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let id = key(id);
        self.db
            .write_one(move |c| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM sessions WHERE id = $1")
                        .bind(id)
                        .execute(c)
                        .await
                        .map(|_| ())
                        .map_err(|e| DbError::query("deleting a session", e))
                })
            })
            .await
            .map_err(backend)
    }
}

/// Ends a user's sessions except `keep` (the one changing the password, if any).
pub async fn delete_for_user(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    keep: Option<&str>,
) -> Result<u64, crate::backend::DbError> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep.map(token_hash).unwrap_or_default())
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| crate::backend::DbError::query("ending sessions", e))
}
