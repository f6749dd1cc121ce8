//! The `users` table.

use crate::backend::db::DbError;
use crate::backend::passwords::PasswordHash;
use crate::domain::Role;
use crate::model::UserView;
use sqlx::AnyConnection;

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    username: String,
    role: String,
    disabled: i64,
    password_hash: String,
}

/// A user with the stored password hash (which never leaves the server).
pub struct UserRecord {
    pub view: UserView,
    pub password_hash: PasswordHash,
}

fn into_record(r: Row) -> Result<UserRecord, DbError> {
    let role = Role::parse(&r.role).ok_or(DbError::Corrupt { what: "users.role", value: r.role.clone() })?;
    Ok(UserRecord {
        view: UserView { id: r.id, username: r.username, role, disabled: r.disabled != 0 },
        password_hash: PasswordHash::from_stored(r.password_hash),
    })
}

const SELECT: &str = "SELECT id, username, role, disabled, password_hash FROM users";

/// The user an unexpired token hash belongs to, with the token's id and last use: one query for
/// an API call's authentication.
pub async fn by_token_hash(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<(i64, Option<i64>, UserRecord)>, DbError> {
    #[derive(sqlx::FromRow)]
    struct TokenUser {
        token_id: i64,
        last_used_at: Option<i64>,
        #[sqlx(flatten)]
        user: Row,
    }
    let row: Option<TokenUser> = sqlx::query_as(
        "SELECT t.id AS token_id, t.last_used_at, u.id, u.username, u.role, u.disabled, u.password_hash \
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
    .map_err(|e| DbError::query("checking an API token", e))?;
    row.map(|r| Ok((r.token_id, r.last_used_at, into_record(r.user)?))).transpose()
}

pub async fn by_username(conn: &mut AnyConnection, username: &str) -> Result<Option<UserRecord>, DbError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE username = $1"))
        .bind(username)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading a user", e))?;
    row.map(into_record).transpose()
}

pub async fn by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<UserRecord>, DbError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading a user", e))?;
    row.map(into_record).transpose()
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<UserView>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} ORDER BY username"))
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("listing users", e))?;
    rows.into_iter().map(|r| into_record(r).map(|u| u.view)).collect()
}

pub async fn count(conn: &mut AnyConnection) -> Result<i64, DbError> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(conn)
        .await
        .map_err(|e| DbError::query("counting users", e))
}

/// Inserts a user; None when the name is taken.
pub async fn insert(
    conn: &mut AnyConnection,
    username: &str,
    hash: &PasswordHash,
    role: Role,
    now: i64,
) -> Result<Option<i64>, DbError> {
    sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, role, disabled, created_at, updated_at) \
         VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT (username) DO NOTHING RETURNING id",
    )
    .bind(username)
    .bind(hash.stored())
    .bind(role.as_str())
    .bind(now)
    .fetch_optional(conn)
    .await
    .map_err(|e| DbError::query("creating a user", e))
}

pub async fn set_password(conn: &mut AnyConnection, id: i64, hash: &PasswordHash, now: i64) -> Result<bool, DbError> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash.stored())
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(|e| DbError::query("changing a password", e))
}

pub async fn set_role(conn: &mut AnyConnection, id: i64, role: Role, now: i64) -> Result<bool, DbError> {
    sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(|e| DbError::query("changing a role", e))
}

pub async fn set_disabled(conn: &mut AnyConnection, id: i64, disabled: bool, now: i64) -> Result<bool, DbError> {
    sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(disabled))
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(|e| DbError::query("disabling a user", e))
}

/// Active admins other than `except` (so the last admin cannot lock everyone out).
pub async fn other_active_admins(conn: &mut AnyConnection, except: i64) -> Result<i64, DbError> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> $1")
        .bind(except)
        .fetch_one(conn)
        .await
        .map_err(|e| DbError::query("counting admins", e))
}
