//! The SQLite and PostgreSQL migrations build the same schema: the same tables, the
//! same columns (with the same nullability and kind of type) and the same indexes.
//! Runs where both databases are at hand (the PostgreSQL run of `make test`).

mod common;
use std::collections::BTreeMap;

/// table -> column -> (kind, nullable).
type Columns = BTreeMap<String, BTreeMap<String, (String, bool)>>;

/// The kind of a column's type, across the two dialects' spellings.
fn kind(t: &str) -> String {
    let t = t.to_ascii_lowercase();
    if t.contains("int") || t == "bigserial" || t == "serial" {
        "integer"
    } else if t.contains("char") || t.contains("text") {
        "text"
    } else if t.contains("blob") || t.contains("bytea") {
        "bytes"
    } else if t.contains("real") || t.contains("double") || t.contains("float") || t.contains("numeric") {
        "real"
    } else if t.contains("bool") {
        "integer" // SQLite keeps booleans as integers
    } else {
        return t;
    }
    .to_string()
}

async fn sqlite_schema(url: &str) -> (Columns, Vec<String>) {
    let db = app::backend::Db::connect(url, 1).await.unwrap();
    db.migrate().await.unwrap();
    let pool = db.pool();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut columns = Columns::new();
    for t in &tables {
        let rows: Vec<(String, String, i64, i64)> =
            sqlx::query_as(&format!("SELECT name, type, \"notnull\", pk FROM pragma_table_info('{t}')"))
                .fetch_all(pool)
                .await
                .unwrap();
        let cols = columns.entry(t.clone()).or_default();
        for (name, ty, notnull, pk) in rows {
            cols.insert(name, (kind(&ty), notnull == 0 && pk == 0));
        }
    }
    let mut indexes: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'")
            .fetch_all(pool)
            .await
            .unwrap();
    indexes.sort();
    (columns, indexes)
}

async fn postgres_schema(url: &str) -> (Columns, Vec<String>) {
    let db = app::backend::Db::connect(url, 1).await.unwrap();
    db.migrate().await.unwrap();
    let pool = db.pool();
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut columns = Columns::new();
    for (table, name, ty, nullable) in rows {
        columns.entry(table).or_default().insert(name, (kind(&ty), nullable == "YES"));
    }
    // Indexes behind primary keys and UNIQUE constraints are named by each database;
    // the ones the migrations name are compared.
    let mut indexes: Vec<String> = sqlx::query_scalar(
        "SELECT i.indexname::text FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename NOT LIKE '_sqlx%' \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    indexes.sort();
    (columns, indexes)
}

/// A column added to one dialect's migrations and forgotten in the other's, or
/// declared nullable in one and NOT NULL in the other, fails here.
#[tokio::test]
async fn sqlite_and_postgres_schemas_agree() {
    if common::test_db() != "postgres" {
        eprintln!("needs PostgreSQL as well: runs in the PostgreSQL run of `make test`");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("schema.db").display());
    let postgres = common::fresh_database_url(dir.path()).await;
    let (s_cols, s_idx) = sqlite_schema(&sqlite).await;
    let (p_cols, p_idx) = postgres_schema(&postgres).await;
    // Both were read (a query that found nothing would agree vacuously).
    assert!(s_cols.len() >= 10 && !s_idx.is_empty(), "{s_cols:?} {s_idx:?}");
    assert_eq!(s_cols["servers"].get("bmc_cert_offered"), Some(&("text".to_string(), true)));
    assert_eq!(s_cols.keys().collect::<Vec<_>>(), p_cols.keys().collect::<Vec<_>>(), "tables differ");
    for (table, cols) in &s_cols {
        assert_eq!(cols, &p_cols[table], "columns of {table} differ (SQLite left, PostgreSQL right)");
    }
    assert_eq!(s_idx, p_idx, "indexes differ (SQLite left, PostgreSQL right)");
}
