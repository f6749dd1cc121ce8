//! The database connections Rackstate hands out itself: what a write given up half-way
//! or a database that cut its connections leaves behind.

mod common;

use app::backend::db::DbError;
use app::domain::ServerState;
use common::{TestApp, server_in_state, spawn_app, test_db};
use std::time::Duration;

/// The `rack` of server `id`, read through sqlx's own pool (connections of their own).
async fn rack_of(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT rack FROM servers WHERE id = $1")
        .bind(id)
        .fetch_one(app.backend.db.pool())
        .await
        .unwrap()
}

/// A request that gives up half-way through a write (its client went away while the
/// transaction held a server's row) leaves no lock behind: a write from another
/// connection gets the row at once, and nothing of the half-done write is committed
/// that its work did not finish.
#[tokio::test]
async fn a_write_given_up_half_way_leaves_no_lock_behind() {
    let app = spawn_app().await;
    let id = server_in_state(&app, "half-way-1", ServerState::Available).await.id;
    let (locked, row_is_locked) = tokio::sync::oneshot::channel::<()>();
    let go_on = std::sync::Arc::new(tokio::sync::Notify::new());
    let go_on_work = go_on.clone();
    let write = app.backend.db.transaction(move |tx| {
        Box::pin(async move {
            sqlx::query("UPDATE servers SET rack = 'half-way' WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| DbError::query("holding the row", e))?;
            let _ = locked.send(());
            go_on_work.notified().await;
            Ok::<_, DbError>(())
        })
    });
    tokio::select! {
        _ = write => panic!("the write ended before it was given up"),
        _ = row_is_locked => {}
    }
    // SQLite runs a write to its end on the writer thread once begun, whoever waits
    // for it (it commits once let go on); on PostgreSQL the work was dropped with
    // its caller and its transaction must roll back now, not at its connection's next use.
    go_on.notify_one();
    let next = sqlx::query("UPDATE servers SET rack = 'next' WHERE id = $1").bind(id).execute(app.backend.db.pool());
    let written = tokio::time::timeout(Duration::from_secs(5), next).await;
    assert!(written.is_ok(), "the next write waited 5 s for the row the given-up write held");
    written.unwrap().unwrap();
    assert_eq!(rack_of(&app, id).await, "next");
}

/// PostgreSQL restarted (or failed over) and every connection Rackstate held is cut:
/// at most one request sees the failure, answered 503 `unavailable` with when to try
/// again; the next ones find live connections instead of each taking another dead
/// one. (SQLite has no server to lose.)
#[tokio::test]
async fn after_the_database_cut_every_connection_the_next_requests_work() {
    let app = spawn_app().await;
    let id = server_in_state(&app, "cut-1", ServerState::Available).await.id;
    let token = common::api_token_for(&app, app::domain::Role::Admin).await;
    let client = reqwest::Client::new();
    let get = || client.get(app.url(&format!("/api/v1/servers/{id}"))).bearer_auth(&token).send();
    // Several connections idle (concurrent requests took one each).
    let warm = tokio::join!(get(), get(), get(), get(), get());
    for r in [warm.0, warm.1, warm.2, warm.3, warm.4] {
        assert_eq!(r.unwrap().status(), 200);
    }
    if test_db() == "postgres" {
        let admin = std::env::var("RACKSTATE_TEST_POSTGRES_URL").unwrap();
        let database = app.database_url.rsplit('/').next().unwrap().to_string();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await.unwrap();
        let cut: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(database)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(cut.len() >= 2, "the test cut {} connection(s), expected several idle ones", cut.len());
    }
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let response = get().await.unwrap();
        let status = response.status().as_u16();
        if status != 200 {
            assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"));
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unavailable", "{body}");
        }
        statuses.push(status);
    }
    let failed = statuses.iter().filter(|s| **s != 200).count();
    assert!(failed <= 1 && statuses.iter().all(|s| [200, 503].contains(s)), "after the cut: {statuses:?}");
    assert!(statuses[1..].iter().all(|s| *s == 200), "a request after the first failed: {statuses:?}");
}
