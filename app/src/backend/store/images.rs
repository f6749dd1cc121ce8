//! The `images` table: the catalog of operating system images (where they are, their
//! SHA-256, format and minimum disk), never their bytes.

use crate::backend::db::DbError;
use crate::domain::images::CheckedImage;
use crate::model::Image;
use sqlx::AnyConnection;

const COLUMNS: &str = "id, name, url, sha256, format, min_disk_bytes, created_by, created_at, retired_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    url: String,
    sha256: String,
    format: String,
    min_disk_bytes: Option<i64>,
    created_by: String,
    created_at: i64,
    retired_at: Option<i64>,
}

impl Row {
    fn into_image(self) -> Result<Image, DbError> {
        let format = crate::domain::images::ImageFormat::parse(&self.format)
            .ok_or(DbError::Corrupt { what: "images.format", value: self.format.clone() })?;
        Ok(Image {
            id: self.id,
            name: self.name,
            url: self.url,
            sha256: self.sha256,
            format,
            min_disk_bytes: self.min_disk_bytes,
            created_by: self.created_by,
            created_at: self.created_at,
            retired_at: self.retired_at,
        })
    }
}

/// Adds an image; None when the name is taken.
pub async fn insert(
    conn: &mut AnyConnection,
    image: &CheckedImage,
    created_by: &str,
    now: i64,
) -> Result<Option<i64>, DbError> {
    let done = sqlx::query_scalar(
        "INSERT INTO images (name, url, sha256, format, min_disk_bytes, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&image.name)
    .bind(&image.url)
    .bind(&image.sha256)
    .bind(image.format.as_str())
    .bind(image.min_disk_bytes)
    .bind(created_by)
    .bind(now)
    .fetch_one(conn)
    .await;
    match done {
        Ok(id) => Ok(Some(id)),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(DbError::query("adding an image", e)),
    }
}

/// The catalog, by name; retired images only when asked.
pub async fn list(conn: &mut AnyConnection, with_retired: bool) -> Result<Vec<Image>, DbError> {
    let filter = if with_retired { "" } else { "WHERE retired_at IS NULL" };
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM images {filter} ORDER BY name"))
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("listing images", e))?;
    rows.into_iter().map(Row::into_image).collect()
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Image>, DbError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM images WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading an image", e))?;
    row.map(Row::into_image).transpose()
}

/// The image of this name, retired or not.
pub async fn by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<Image>, DbError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM images WHERE name = $1"))
        .bind(name.trim())
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading an image", e))?;
    row.map(Row::into_image).transpose()
}

/// Retires an image (no new deployment may use it); false when it was already.
pub async fn retire(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool, DbError> {
    sqlx::query("UPDATE images SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(|e| DbError::query("retiring an image", e))
}
