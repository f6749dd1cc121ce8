//! The `deployments` and `deployment_servers` tables.

use crate::backend::db::DbError;
use crate::domain::ServerState;
use crate::model::{Deployment, DeploymentServer};
use sqlx::AnyConnection;

const SELECT: &str = "SELECT d.id, d.username, t.label AS server_type, d.count, d.status, d.created_by, \
    d.created_at, d.released_at, i.name AS image FROM deployments d JOIN server_types t ON t.id = d.server_type_id \
    LEFT JOIN images i ON i.id = d.image_id";

#[derive(sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub username: String,
    pub server_type: String,
    pub count: i64,
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub released_at: Option<i64>,
    pub image: Option<String>,
}

impl Row {
    pub fn into_view(self, servers: Vec<DeploymentServer>, released: Vec<DeploymentServer>) -> Deployment {
        Deployment {
            id: self.id,
            username: self.username,
            server_type: self.server_type,
            count: self.count,
            status: self.status,
            created_by: self.created_by,
            created_at: self.created_at,
            released_at: self.released_at,
            image: self.image,
            servers,
            released,
        }
    }
}

pub async fn insert(
    conn: &mut AnyConnection,
    username: &str,
    type_id: i64,
    count: i64,
    created_by: &str,
    now: i64,
) -> Result<i64, DbError> {
    sqlx::query_scalar(
        "INSERT INTO deployments (username, server_type_id, count, status, created_by, created_at) \
         VALUES ($1, $2, $3, 'active', $4, $5) RETURNING id",
    )
    .bind(username)
    .bind(type_id)
    .bind(count)
    .bind(created_by)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("creating a deployment", e))
}

/// Records the image the deployment writes to its servers and what their config
/// drive carries (SSH keys as a JSON list, user data).
pub async fn set_image(
    conn: &mut AnyConnection,
    id: i64,
    image_id: i64,
    ssh_keys: &[String],
    user_data: Option<&str>,
) -> Result<(), DbError> {
    let keys =
        serde_json::to_string(ssh_keys).map_err(|e| DbError::Encode { what: "ssh keys", message: e.to_string() })?;
    sqlx::query("UPDATE deployments SET image_id = $1, ssh_keys = $2, user_data = $3 WHERE id = $4")
        .bind(image_id)
        .bind(keys)
        .bind(user_data)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("recording a deployment's image", e))
}

/// The SSH keys and user data of the live deployment holding a server (empty when
/// none, or it named none).
pub async fn os_config_of_server(
    conn: &mut AnyConnection,
    server_id: i64,
) -> Result<(Vec<String>, Option<String>), DbError> {
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT d.ssh_keys, d.user_data FROM deployments d JOIN deployment_servers ds ON ds.deployment_id = d.id \
         WHERE ds.server_id = $1 AND ds.released_at IS NULL",
    )
    .bind(server_id)
    .fetch_optional(conn)
    .await
    .map_err(|e| DbError::query("reading a deployment's config drive", e))?;
    let (keys, user_data) = row.unwrap_or_default();
    let keys = match keys {
        Some(k) => serde_json::from_str(&k).map_err(|_| DbError::Corrupt { what: "deployments.ssh_keys", value: k })?,
        None => Vec::new(),
    };
    Ok((keys, user_data))
}

/// Adds servers to a deployment, a few statements for all.
pub async fn add_servers(conn: &mut AnyConnection, id: i64, server_ids: &[i64], now: i64) -> Result<(), DbError> {
    for part in server_ids.chunks(super::IDS_PER_STATEMENT) {
        // ($1, $3, $2), ($1, $4, $2), ...: the deployment and the time are bound once.
        let rows: Vec<String> = (0..part.len()).map(|i| format!("($1, ${}, $2)", i + 3)).collect();
        let sql = format!(
            "INSERT INTO deployment_servers (deployment_id, server_id, allocated_at) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(id).bind(now);
        for server_id in part {
            query = query.bind(*server_id);
        }
        query.execute(&mut *conn).await.map_err(|e| DbError::query("adding servers to a deployment", e))?;
    }
    Ok(())
}

/// Takes servers out of their deployment, a few statements for all.
pub async fn release_servers(conn: &mut AnyConnection, id: i64, server_ids: &[i64], now: i64) -> Result<(), DbError> {
    let sql = "UPDATE deployment_servers SET released_at = $1 \
               WHERE deployment_id = $2 AND server_id IN ({ids}) AND released_at IS NULL";
    for (sql, part) in super::id_chunks(sql, 3, server_ids) {
        part.iter()
            .fold(sqlx::query(&sql).bind(now).bind(id), |q, server_id| q.bind(*server_id))
            .execute(&mut *conn)
            .await
            .map_err(|e| DbError::query("releasing servers from a deployment", e))?;
    }
    Ok(())
}

/// Marks the deployment released once no server is left in it.
pub async fn close_if_empty(conn: &mut AnyConnection, id: i64, now: i64) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE deployments SET status = 'released', released_at = $1 WHERE id = $2 AND status = 'active' \
         AND NOT EXISTS (SELECT 1 FROM deployment_servers WHERE deployment_id = $2 AND released_at IS NULL)",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(|e| DbError::query("closing a deployment", e))
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Row>, DbError> {
    sqlx::query_as(&format!("{SELECT} WHERE d.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading a deployment", e))
}

/// Deployments, active first then newest; of one tenant when `username` is given.
pub async fn list(conn: &mut AnyConnection, username: Option<&str>, limit: i64) -> Result<Vec<Row>, DbError> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE ($1 IS NULL OR d.username = $1) ORDER BY d.status = 'released', d.id DESC LIMIT $2"
    ))
    .bind(username)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("listing deployments", e))
}

/// The servers live in a deployment (or released from it), by name.
pub async fn servers(conn: &mut AnyConnection, id: i64, released: bool) -> Result<Vec<DeploymentServer>, DbError> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT s.id, s.name, s.state FROM deployment_servers ds JOIN servers s ON s.id = ds.server_id \
         WHERE ds.deployment_id = $1 AND (ds.released_at IS NULL) <> $2 ORDER BY s.name",
    )
    .bind(id)
    .bind(released)
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("reading a deployment's servers", e))?;
    rows.into_iter()
        .map(|(id, name, state)| {
            let state = ServerState::parse(&state).ok_or(DbError::Corrupt { what: "servers.state", value: state })?;
            Ok(DeploymentServer { id, name, state })
        })
        .collect()
}
