//! The `servers` table.

use crate::backend::db::DbError;
use crate::domain::ServerState;
use crate::domain::power::{Health, PowerState};
use crate::model::Server;
use sqlx::AnyConnection;

macro_rules! select_columns {
    () => {
        "SELECT s.id, s.name, s.state, t.label AS server_type, s.serial_number, \
         s.bmc_address, s.bmc_verify_tls, s.datacenter, s.rack, s.power_state, s.health, s.last_error, s.bmc_warning, \
         s.reserved_for, s.subscription_id, s.hardware_changes, \
         (SELECT ds.deployment_id FROM deployment_servers ds WHERE ds.server_id = s.id AND ds.released_at IS NULL) AS deployment_id, \
         s.generation, s.created_at, s.updated_at"
    };
}
macro_rules! select_from {
    () => {
        " FROM servers s LEFT JOIN server_types t ON t.id = s.server_type_id"
    };
}
const SELECT_COLUMNS: &str = select_columns!();
const SELECT_FROM: &str = select_from!();
const SELECT: &str = concat!(select_columns!(), select_from!());

/// A server row; from a JSON array too (`page`), its values in this order.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct Row {
    id: i64,
    name: String,
    state: String,
    server_type: Option<String>,
    serial_number: Option<String>,
    bmc_address: String,
    bmc_verify_tls: i64,
    datacenter: String,
    rack: String,
    power_state: String,
    health: String,
    last_error: Option<String>,
    bmc_warning: Option<String>,
    reserved_for: Option<String>,
    subscription_id: Option<i64>,
    hardware_changes: Option<String>,
    deployment_id: Option<i64>,
    generation: i64,
    created_at: i64,
    updated_at: i64,
}

/// Row's columns in its order (the JSON form of `page`).
const ROW_COLUMNS: &[&str] = &[
    "id",
    "name",
    "state",
    "server_type",
    "serial_number",
    "bmc_address",
    "bmc_verify_tls",
    "datacenter",
    "rack",
    "power_state",
    "health",
    "last_error",
    "bmc_warning",
    "reserved_for",
    "subscription_id",
    "hardware_changes",
    "deployment_id",
    "generation",
    "created_at",
    "updated_at",
];

impl Row {
    fn into_server(self) -> Result<Server, DbError> {
        let state = ServerState::parse(&self.state)
            .ok_or(DbError::Corrupt { what: "servers.state", value: self.state.clone() })?;
        Ok(Server {
            id: self.id,
            name: self.name,
            state,
            server_type: self.server_type,
            serial_number: self.serial_number,
            bmc_address: self.bmc_address,
            bmc_verify_tls: self.bmc_verify_tls != 0,
            datacenter: self.datacenter,
            rack: self.rack,
            power_state: self.power_state.into(),
            health: self.health.into(),
            last_error: self.last_error,
            bmc_warning: self.bmc_warning,
            reserved_for: self.reserved_for,
            subscription_id: self.subscription_id,
            deployment_id: self.deployment_id,
            hardware_changes: match self.hardware_changes {
                None => Vec::new(),
                Some(json) => serde_json::from_str(&json).map_err(|_| DbError::Corrupt {
                    what: "servers.hardware_changes",
                    value: json.chars().take(80).collect(),
                })?,
            },
            generation: self.generation,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Fields of a new server row.
pub struct NewServerRow<'a> {
    pub name: &'a str,
    pub state: ServerState,
    pub bmc_address: &'a str,
    /// `domain::identity::bmc_key` of the address.
    pub bmc_key: &'a str,
    pub bmc_username: &'a str,
    pub bmc_secret: Option<&'a [u8]>,
    pub bmc_verify_tls: bool,
    pub datacenter: &'a str,
    pub rack: &'a str,
}

/// Inserts a server; None when the name is taken.
pub async fn insert(conn: &mut AnyConnection, new: &NewServerRow<'_>, now: i64) -> Result<Option<i64>, DbError> {
    sqlx::query_scalar(
        "INSERT INTO servers (name, state, bmc_address, bmc_username, bmc_secret, bmc_verify_tls, \
         datacenter, rack, generation, created_at, updated_at, bmc_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9, $10) \
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(new.name)
    .bind(new.state.as_str())
    .bind(new.bmc_address)
    .bind(new.bmc_username)
    .bind(new.bmc_secret.map(<[u8]>::to_vec))
    .bind(i64::from(new.bmc_verify_tls))
    .bind(new.datacenter)
    .bind(new.rack)
    .bind(now)
    .bind(new.bmc_key)
    .fetch_optional(conn)
    .await
    .map_err(|e| DbError::query("inserting a server", e))
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Server>, DbError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading a server", e))?;
    row.map(Row::into_server).transpose()
}

/// A server as a state change reads it: the row, its type's id and whether a job is
/// active on it, in one query.
pub struct ForChange {
    pub server: Server,
    pub type_id: Option<i64>,
    pub active_job: bool,
    /// Whether the server's type has a subscription not yet ended. Exact on SQLite,
    /// whose write transactions hold the write lock from their start; on PostgreSQL
    /// as of this read, which only the type's lock (taken later) makes exact.
    pub type_subscribed: bool,
}

#[derive(sqlx::FromRow)]
struct ForChangeRow {
    #[sqlx(flatten)]
    row: Row,
    server_type_id: Option<i64>,
    active_job: i64,
    type_subscribed: i64,
}

/// The statement of `get_for_change` (and of `get_for_change_many`), up to its WHERE.
fn for_change_sql() -> String {
    let subscribed = format!("CASE WHEN {} THEN 1 ELSE 0 END", super::subscriptions::open_exists("s.server_type_id"));
    format!(
        "{} , s.server_type_id, \
         CASE WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.server_id = s.id AND j.status IN {}) THEN 1 ELSE 0 END \
         AS active_job, {subscribed} AS type_subscribed {}",
        SELECT_COLUMNS,
        crate::backend::store::jobs::active_statuses(),
        SELECT_FROM
    )
}

impl ForChangeRow {
    fn into_for_change(self) -> Result<ForChange, DbError> {
        Ok(ForChange {
            server: self.row.into_server()?,
            type_id: self.server_type_id,
            active_job: self.active_job != 0,
            type_subscribed: self.type_subscribed != 0,
        })
    }
}

pub async fn get_for_change(conn: &mut AnyConnection, id: i64) -> Result<Option<ForChange>, DbError> {
    let row: Option<ForChangeRow> = sqlx::query_as(&format!("{} WHERE s.id = $1", for_change_sql()))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading a server", e))?;
    row.map(ForChangeRow::into_for_change).transpose()
}

/// `get_for_change` of many servers, a few statements for all (a large allocation or
/// release reads its servers at once instead of one round trip each). Servers that do
/// not exist are absent from the map.
pub async fn get_for_change_many(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, ForChange>, DbError> {
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    let sql = format!("{} WHERE s.id IN ({{ids}})", for_change_sql());
    for (sql, part) in super::id_chunks(&sql, 1, ids) {
        let rows = part
            .iter()
            .fold(sqlx::query_as::<_, ForChangeRow>(&sql), |q, id| q.bind(*id))
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| DbError::query("reading servers", e))?;
        for row in rows {
            let read = row.into_for_change()?;
            out.insert(read.server.id, read);
        }
    }
    Ok(out)
}

/// `move_audited` of many servers, a few statements for all (a large allocation or
/// release): each server moves only if it is still at its generation in its state,
/// and each move writes its audit event. True when every server moved; false when any
/// did not, with some moves written: the caller's transaction must then roll back (a
/// change of many servers is all or none).
pub async fn move_audited_many(
    conn: &mut AnyConnection,
    moves: &[(Move<'_>, crate::backend::store::events::NewEvent<'_>)],
    now: i64,
) -> Result<bool, DbError> {
    use crate::backend::store::events;
    // One row of values per move: id, generation, from, to, whether to set the last
    // error, the error, power, health (the VALUES' columns are column1..column8 on
    // both databases).
    const PER_MOVE: usize = 8;
    for part in moves.chunks(super::IDS_PER_STATEMENT) {
        let rows: Vec<String> = (0..part.len())
            .map(|i| {
                let p = 2 + i * PER_MOVE;
                format!(
                    "(CAST(${} AS BIGINT), CAST(${} AS BIGINT), ${}, ${}, CAST(${} AS BIGINT), ${}, ${}, ${})",
                    p,
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6,
                    p + 7
                )
            })
            .collect();
        let sql = format!(
            "UPDATE servers SET state = v.column4, generation = servers.generation + 1, updated_at = $1, \
             last_error = CASE WHEN v.column5 = 1 THEN v.column6 ELSE servers.last_error END, \
             power_state = COALESCE(v.column7, servers.power_state), health = COALESCE(v.column8, servers.health) \
             FROM (VALUES {}) AS v \
             WHERE servers.id = v.column1 AND servers.generation = v.column2 AND servers.state = v.column3",
            rows.join(", ")
        );
        let mut update = sqlx::query(&sql).bind(now);
        for (mv, _) in part {
            let (set_error, error) = match mv.last_error {
                LastError::Keep => (0_i64, None),
                LastError::Clear => (1, None),
                LastError::Set(e) => (1, Some(e)),
            };
            update = update
                .bind(mv.id)
                .bind(mv.generation)
                .bind(mv.from.as_str())
                .bind(mv.to.as_str())
                .bind(set_error)
                .bind(error)
                .bind(mv.power.map(|(p, _)| p.as_str()))
                .bind(mv.power.map(|(_, h)| h.as_str()));
        }
        let done = update.execute(&mut *conn).await.map_err(|e| DbError::query("changing servers' states", e))?;
        if done.rows_affected() != part.len() as u64 {
            return Ok(false);
        }
        // The events' `at` is $1, each event's fields the next nine parameters.
        let values: Vec<String> = (0..part.len()).map(|i| format!("({})", events::values(1, 2 + i * 9))).collect();
        let sql = format!("INSERT INTO {} VALUES {}", events::INSERT_INTO, values.join(", "));
        let mut insert = sqlx::query(&sql).bind(now);
        for (_, event) in part {
            insert = events::bind(insert, event);
        }
        insert.execute(&mut *conn).await.map_err(|e| DbError::query("auditing servers' state changes", e))?;
    }
    Ok(true)
}

/// How `last_error` changes with a state change.
#[derive(Clone, Copy)]
pub enum LastError<'a> {
    Keep,
    Clear,
    Set(&'a str),
}

/// Moves a server from `from` to `to` if it is still at `generation` in `from`, and
/// writes the move's audit event, in one round trip to the database (a state change
/// holds the write lock while it talks to the database, and each statement sent is a
/// hand-off to the connection and back). The event is written only if the server
/// moved. Returns false when someone else changed the server first (nothing is
/// written then).
pub async fn move_audited(
    conn: &mut AnyConnection,
    mv: &Move<'_>,
    event: &crate::backend::store::events::NewEvent<'_>,
    now: i64,
) -> Result<bool, DbError> {
    let (set_error, error) = match mv.last_error {
        LastError::Keep => (false, None),
        LastError::Clear => (true, None),
        LastError::Set(e) => (true, Some(e)),
    };
    // The power reading, when the move carries one, is $17 and $18 (after the event's).
    const UPDATE: &str = "UPDATE servers SET state = $1, generation = generation + 1, updated_at = $2, \
         last_error = CASE WHEN $3 THEN $4 ELSE last_error END, \
         power_state = COALESCE($17, power_state), health = COALESCE($18, health) \
         WHERE id = $5 AND generation = $6 AND state = $7";
    use crate::backend::store::events;
    // The event's `at` is the UPDATE's $2, its fields $8 to $16.
    let (columns, values) = (events::INSERT_INTO, events::values(2, 8));
    let postgres = super::dialect::of(conn) == crate::backend::db::DbKind::Postgres;
    let sql = if postgres {
        // A data-modifying CTE: the INSERT sees the UPDATE's rows.
        format!("WITH moved AS ({UPDATE} RETURNING id) INSERT INTO {columns} SELECT {values} FROM moved")
    } else {
        // Two statements in one call; changes() is the UPDATE's count.
        format!("{UPDATE}; INSERT INTO {columns} SELECT {values} WHERE changes() = 1")
    };
    let update = sqlx::query(&sql)
        .bind(mv.to.as_str())
        .bind(now)
        .bind(set_error)
        .bind(error)
        .bind(mv.id)
        .bind(mv.generation)
        .bind(mv.from.as_str());
    let done = events::bind(update, event)
        .bind(mv.power.map(|(p, _)| p.as_str()))
        .bind(mv.power.map(|(_, h)| h.as_str()))
        .execute(conn)
        .await
        .map_err(|e| DbError::query("changing a server's state", e))?;
    // SQLite counts the rows of both statements, PostgreSQL those of the INSERT.
    Ok(done.rows_affected() == if postgres { 1 } else { 2 })
}

/// A server's move from one state to another, as `move_audited` writes it.
pub struct Move<'a> {
    pub id: i64,
    /// The generation the move was decided at.
    pub generation: i64,
    pub from: ServerState,
    pub to: ServerState,
    pub last_error: LastError<'a>,
    /// The power and health the BMC showed, written with the move (None: kept).
    pub power: Option<(PowerState, Health)>,
}

/// Sets the type and serial number found by registration, if still at `generation`.
/// What a registration writes about the hardware it found: the identity, the type,
/// the hardware last accepted (the first inventory is accepted as it is) and the
/// changes from it not yet acknowledged (JSON; None when there are none).
pub struct HardwareFound<'a> {
    pub server_type_id: i64,
    pub serial_number: &'a str,
    pub macs: &'a str,
    pub accepted_inventory_id: i64,
    pub accepted_type_id: i64,
    pub changes: Option<&'a str>,
}

pub async fn set_hardware(
    conn: &mut AnyConnection,
    id: i64,
    generation: i64,
    found: &HardwareFound<'_>,
    now: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE servers SET server_type_id = $1, serial_number = $2, macs = $6, generation = generation + 1, \
         updated_at = $3, hardware_ack_inventory_id = $7, hardware_ack_type_id = $8, hardware_changes = $9 \
         WHERE id = $4 AND generation = $5",
    )
    .bind(found.server_type_id)
    .bind(found.serial_number)
    .bind(now)
    .bind(id)
    .bind(generation)
    .bind(found.macs)
    .bind(found.accepted_inventory_id)
    .bind(found.accepted_type_id)
    .bind(found.changes)
    .execute(conn)
    .await
    .map_err(|e| DbError::query("recording a server's hardware", e))?;
    Ok(done.rows_affected() == 1)
}

/// A server's type and the hardware last accepted for it (inventory id, type id).
pub struct HardwareAccepted {
    pub type_id: Option<i64>,
    pub inventory_id: Option<i64>,
    pub accepted_type_id: Option<i64>,
}

pub async fn hardware_accepted(conn: &mut AnyConnection, id: i64) -> Result<HardwareAccepted, DbError> {
    let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT server_type_id, hardware_ack_inventory_id, hardware_ack_type_id FROM servers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(|e| DbError::query("reading a server's accepted hardware", e))?;
    let (type_id, inventory_id, accepted_type_id) = row.unwrap_or_default();
    Ok(HardwareAccepted { type_id, inventory_id, accepted_type_id })
}

/// Accepts the server's newest inventory and type as they are (the changes were
/// looked at) if it is still at `generation`; false when it changed since.
pub async fn acknowledge_hardware(
    conn: &mut AnyConnection,
    id: i64,
    generation: i64,
    now: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE servers SET hardware_ack_inventory_id = \
         (SELECT MAX(i.id) FROM inventories i WHERE i.server_id = servers.id), \
         hardware_ack_type_id = server_type_id, hardware_changes = NULL, generation = generation + 1, \
         updated_at = $1 WHERE id = $2 AND generation = $3",
    )
    .bind(now)
    .bind(id)
    .bind(generation)
    .execute(conn)
    .await
    .map_err(|e| DbError::query("acknowledging a server's hardware", e))?;
    Ok(done.rows_affected() == 1)
}

pub async fn count(conn: &mut AnyConnection) -> Result<i64, DbError> {
    sqlx::query_scalar("SELECT COUNT(*) FROM servers")
        .fetch_one(conn)
        .await
        .map_err(|e| DbError::query("counting servers", e))
}

/// Which servers a list shows.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub state: Option<ServerState>,
    /// A type label; `Some("")` means servers not typed yet.
    pub server_type: Option<String>,
    pub datacenter: Option<String>,
    pub rack: Option<String>,
    /// Text in the name, serial number, BMC address or a MAC address (case-insensitive).
    pub q: Option<String>,
    pub sort: SortKey,
    pub descending: bool,
    /// Paging: rows skipped, and at most this many (0: the default of 1000).
    pub offset: i64,
    pub limit: i64,
}

/// The columns a list can be sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    Name,
    State,
    Type,
    Serial,
    Bmc,
    Location,
    Updated,
}

impl SortKey {
    pub const ALL: [SortKey; 7] = [
        SortKey::Name,
        SortKey::State,
        SortKey::Type,
        SortKey::Serial,
        SortKey::Bmc,
        SortKey::Location,
        SortKey::Updated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::State => "state",
            SortKey::Type => "type",
            SortKey::Serial => "serial",
            SortKey::Bmc => "bmc",
            SortKey::Location => "location",
            SortKey::Updated => "updated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The ORDER BY columns; the name last, so equal keys keep a stable order.
    fn order_by(self, descending: bool) -> String {
        let dir = if descending { "DESC" } else { "ASC" };
        let cols: &[&str] = match self {
            SortKey::Name => &[],
            SortKey::State => &["s.state"],
            SortKey::Type => &["COALESCE(t.label, '')"],
            SortKey::Serial => &["COALESCE(s.serial_number, '')"],
            SortKey::Bmc => &["s.bmc_address"],
            SortKey::Location => &["s.datacenter", "s.rack"],
            SortKey::Updated => &["s.updated_at"],
        };
        let mut out: Vec<String> = cols.iter().map(|c| format!("{c} {dir}")).collect();
        out.push(format!("s.name {dir}"));
        out.join(", ")
    }
}

/// The WHERE clause of list pages and counts ($1 state, $2 type, $3 pattern,
/// $4 datacenter, $5 rack). The text match is case-insensitive: SQLite's LIKE is for
/// ASCII (names, serials, addresses and MACs are), PostgreSQL needs ILIKE; no LOWER()
/// per row either way.
fn filter_sql(conn: &AnyConnection) -> String {
    let like = super::dialect::ilike(conn);
    format!(
        "WHERE (($1 IS NULL AND s.state <> 'removed_from_rack') OR s.state = $1) \
         AND ($2 IS NULL OR ($2 = '' AND s.server_type_id IS NULL) OR t.label = $2) \
         AND ($4 IS NULL OR s.datacenter = $4) AND ($5 IS NULL OR s.rack = $5) \
         AND ($3 IS NULL OR s.name {like} $3 ESCAPE '\\' OR s.serial_number {like} $3 ESCAPE '\\' \
              OR s.bmc_address {like} $3 ESCAPE '\\' OR s.macs {like} $3 ESCAPE '\\')"
    )
}

const FROM: &str = "FROM servers s LEFT JOIN server_types t ON t.id = s.server_type_id";

/// `%text%` for LIKE (with `ESCAPE '\'`), lowercased; `%`, `_` and `\` in the text
/// match themselves (`web_01` finds web_01, not web-01).
fn pattern(q: Option<&str>) -> Option<String> {
    q.map(str::trim).filter(|q| !q.is_empty()).map(|q| {
        let mut escaped = String::with_capacity(q.len() + 2);
        for c in q.to_lowercase().chars() {
            if matches!(c, '%' | '_' | '\\') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        format!("%{escaped}%")
    })
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Binds the filter's five parameters ($1..$5) in order.
macro_rules! bind_filter {
    ($query:expr, $filter:expr) => {
        $query
            .bind($filter.state.map(|s| s.as_str()))
            .bind($filter.server_type.as_deref())
            .bind(pattern($filter.q.as_deref()))
            .bind(non_empty(&$filter.datacenter))
            .bind(non_empty(&$filter.rack))
    };
}

/// How many servers match the filter (paging aside).
pub async fn count_matching(conn: &mut AnyConnection, filter: &ListFilter) -> Result<i64, DbError> {
    let sql = format!("SELECT COUNT(*) {FROM} {}", filter_sql(conn));
    bind_filter!(sqlx::query_scalar(&sql), filter)
        .fetch_one(conn)
        .await
        .map_err(|e| DbError::query("counting servers", e))
}

/// Servers in the filter's order, one page (at most 1000).
/// Without a state filter, servers removed from the rack are left out (they are
/// shown when asked for by state; their audit stays readable).
pub async fn list(conn: &mut AnyConnection, filter: &ListFilter) -> Result<Vec<Server>, DbError> {
    Ok(page(conn, filter, false).await?.0)
}

/// One page of the list and, when `with_total`, how many match in all. The page's ids
/// come first (narrow, sorted rows), then the full rows of just those. A text search
/// scans every row, so it counts in the same pass (a window over the matches) instead
/// of scanning twice; other filters count on their indexes.
pub async fn page(
    conn: &mut AnyConnection,
    filter: &ListFilter,
    with_total: bool,
) -> Result<(Vec<Server>, i64), DbError> {
    let limit = if filter.limit > 0 { filter.limit.min(1000) } else { 1000 };
    let order = filter.sort.order_by(filter.descending);
    let searching = with_total && pattern(filter.q.as_deref()).is_some();
    let total_col = if searching { "COUNT(*) OVER ()" } else { "CAST(0 AS BIGINT)" };
    let sql = format!("SELECT s.id, {total_col} {FROM} {} ORDER BY {order} LIMIT $6 OFFSET $7", filter_sql(conn));
    let hits: Vec<(i64, i64)> = bind_filter!(sqlx::query_as(&sql), filter)
        .bind(limit)
        .bind(filter.offset.max(0))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| DbError::query("listing servers", e))?;
    let total = match hits.first() {
        Some((_, n)) if searching => *n,
        _ if !with_total => 0,
        // Past the last page of a search, or no search: count on its own.
        _ => count_matching(&mut *conn, filter).await?,
    };
    if hits.is_empty() {
        return Ok((Vec::new(), total));
    }
    let ids: Vec<String> = hits.iter().map(|(id, _)| id.to_string()).collect();
    // The ids are integers from the database, not user input. The rows come as one
    // JSON text (see `dialect::json_rows`), put back in the page's order.
    let sql =
        super::dialect::json_rows(conn, ROW_COLUMNS, &format!("({SELECT} WHERE s.id IN ({})) AS p", ids.join(",")));
    let json: Option<String> =
        sqlx::query_scalar(&sql).fetch_one(conn).await.map_err(|e| DbError::query("listing servers", e))?;
    let rows: Vec<Row> = serde_json::from_str(json.as_deref().unwrap_or("[]"))
        .map_err(|e| DbError::Corrupt { what: "a page of servers", value: e.to_string() })?;
    let position: std::collections::HashMap<i64, usize> =
        hits.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
    let mut servers = rows.into_iter().map(Row::into_server).collect::<Result<Vec<_>, _>>()?;
    servers.sort_by_key(|s| position.get(&s.id).copied().unwrap_or(usize::MAX));
    Ok((servers, total))
}

/// (BMC address, user, sealed password) of a server, with what a job checks the
/// machine against (its recorded identity, its last known power).
pub async fn bmc_credentials(conn: &mut AnyConnection, id: i64) -> Result<Option<BmcRow>, DbError> {
    sqlx::query_as(
        "SELECT bmc_address, bmc_username, bmc_secret, bmc_verify_tls, bmc_cert_sha256, \
         system_uuid, system_serial, manager_uuid, power_state, health FROM servers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(|e| DbError::query("reading BMC credentials", e))
}

/// A server's BMC access as stored (the password sealed).
#[derive(sqlx::FromRow)]
pub struct BmcRow {
    pub bmc_address: String,
    pub bmc_username: String,
    pub bmc_secret: Option<Vec<u8>>,
    pub bmc_verify_tls: i64,
    /// The certificate pinned at first use (self-signed BMCs).
    pub bmc_cert_sha256: Option<String>,
    pub system_uuid: String,
    pub system_serial: String,
    pub manager_uuid: String,
    pub power_state: String,
    pub health: String,
}

/// New BMC access for a server.
pub struct BmcUpdate<'a> {
    pub address: &'a str,
    /// `domain::identity::bmc_key` of the address.
    pub key: &'a str,
    pub username: &'a str,
    pub secret: SecretUpdate<'a>,
    pub verify_tls: bool,
}

/// What happens to the stored BMC password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretUpdate<'a> {
    /// Same address and TLS setting, no new password.
    Keep,
    /// A new password, sealed.
    Set(&'a [u8]),
    /// The address or TLS setting changed without a new password: the old one was
    /// entered for another BMC and must never be sent to this one.
    Drop,
}

/// Replaces a server's BMC access if it is still at `generation`; clears the sweep's
/// warning (it was about the old BMC). False when someone changed the server first.
pub async fn set_bmc(
    conn: &mut AnyConnection,
    id: i64,
    generation: i64,
    bmc: &BmcUpdate<'_>,
    now: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE servers SET bmc_address = $1, bmc_username = $2, \
         bmc_secret = CASE WHEN $8 = 1 THEN bmc_secret ELSE $3 END, bmc_secret_pending = NULL, \
         bmc_verify_tls = $4, bmc_key = $9, \
         bmc_failures = 0, bmc_warning = NULL, generation = generation + 1, updated_at = $5 \
         WHERE id = $6 AND generation = $7",
    )
    .bind(bmc.address)
    .bind(bmc.username)
    .bind(match bmc.secret {
        SecretUpdate::Set(s) => Some(s.to_vec()),
        SecretUpdate::Keep | SecretUpdate::Drop => None,
    })
    .bind(i64::from(bmc.verify_tls))
    .bind(now)
    .bind(id)
    .bind(generation)
    .bind(i64::from(bmc.secret == SecretUpdate::Keep))
    .bind(bmc.key)
    .execute(conn)
    .await
    .map_err(|e| DbError::query("changing a server's BMC access", e))?;
    Ok(done.rows_affected() == 1)
}

/// Records what the BMC last said about power and health (no generation change:
/// this is observation, not a change anyone could conflict with).
pub async fn set_power(
    conn: &mut AnyConnection,
    id: i64,
    power: PowerState,
    health: Health,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE servers SET power_state = $1, health = $2, updated_at = $3 WHERE id = $4")
        .bind(power.as_str())
        .bind(health.as_str())
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("recording power state", e))
}

/// The id of the server with this name.
pub async fn id_by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<i64>, DbError> {
    sqlx::query_scalar("SELECT id FROM servers WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("finding a server by name", e))
}

/// The server's root-disk hint (a disk serial), if an admin or operator set one.
pub async fn root_disk_serial(conn: &mut AnyConnection, id: i64) -> Result<Option<String>, DbError> {
    sqlx::query_scalar::<_, Option<String>>("SELECT root_disk_serial FROM servers WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map(Option::flatten)
        .map_err(|e| DbError::query("reading a server's root disk", e))
}

/// Sets (or clears) the server's root-disk hint.
pub async fn set_root_disk_serial(
    conn: &mut AnyConnection,
    id: i64,
    serial: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE servers SET root_disk_serial = $1, updated_at = $2 WHERE id = $3")
        .bind(serial)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("setting a server's root disk", e))
}

/// Forgets a server's BMC password (decommissioning); address and user stay for the record.
pub async fn forget_bmc_secret(conn: &mut AnyConnection, id: i64, now: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE servers SET bmc_secret = NULL, bmc_secret_pending = NULL, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("forgetting BMC credentials", e))
}

/// Sets (or clears) the sealed BMC password a rotation has not committed yet.
pub async fn set_bmc_secret_pending(conn: &mut AnyConnection, id: i64, sealed: Option<&[u8]>) -> Result<(), DbError> {
    sqlx::query("UPDATE servers SET bmc_secret_pending = $1 WHERE id = $2")
        .bind(sealed.map(<[u8]>::to_vec))
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("keeping a pending BMC password", e))
}

/// The sealed BMC password a rotation has not committed yet.
pub async fn bmc_secret_pending(conn: &mut AnyConnection, id: i64) -> Result<Option<Vec<u8>>, DbError> {
    sqlx::query_scalar("SELECT bmc_secret_pending FROM servers WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map(Option::flatten)
        .map_err(|e| DbError::query("reading a pending BMC password", e))
}

/// The pending BMC password becomes the stored one; false when there is none.
pub async fn promote_bmc_secret_pending(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool, DbError> {
    sqlx::query(
        "UPDATE servers SET bmc_secret = bmc_secret_pending, bmc_secret_pending = NULL, updated_at = $1 \
         WHERE id = $2 AND bmc_secret_pending IS NOT NULL",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
    .map_err(|e| DbError::query("storing the rotated BMC password", e))
}

/// Servers whose BMC the sweep checks: with credentials, in the fleet, no job running.
pub async fn sweep_targets(conn: &mut AnyConnection) -> Result<Vec<i64>, DbError> {
    sqlx::query_scalar(&format!(
        "SELECT s.id FROM servers s WHERE s.bmc_secret IS NOT NULL \
         AND s.state NOT IN ('decommissioned', 'removed_from_rack') \
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.server_id = s.id AND j.status IN {}) \
         ORDER BY s.id",
        super::jobs::active_statuses()
    ))
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("listing servers to sweep", e))
}

/// The sweep reached the BMC: power and health recorded, failures and warning cleared.
pub async fn sweep_ok(
    conn: &mut AnyConnection,
    id: i64,
    power: PowerState,
    health: Health,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE servers SET power_state = $1, health = $2, bmc_failures = 0, bmc_warning = NULL, updated_at = $3 \
         WHERE id = $4",
    )
    .bind(power.as_str())
    .bind(health.as_str())
    .bind(now)
    .bind(id)
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(|e| DbError::query("recording a BMC sweep", e))
}

/// The sweep could not reach the BMC: one more failure; at `threshold` in a row the
/// server shows `warning`. Returns the failures in a row.
pub async fn sweep_failed(
    conn: &mut AnyConnection,
    id: i64,
    warning: &str,
    threshold: i64,
    now: i64,
) -> Result<i64, DbError> {
    sqlx::query_scalar(
        "UPDATE servers SET bmc_failures = bmc_failures + 1, updated_at = $1, power_state = $5, \
         bmc_warning = CASE WHEN bmc_failures + 1 >= $2 THEN $3 ELSE bmc_warning END \
         WHERE id = $4 RETURNING bmc_failures",
    )
    .bind(now)
    .bind(threshold)
    .bind(warning)
    .bind(id)
    .bind(PowerState::Unknown.as_str())
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("recording a BMC sweep failure", e))
}

/// Sets who holds a server: the tenant (reserved or allocated) and the subscription
/// that reserved it. No generation change: the state change beside it makes one.
pub async fn set_holder(
    conn: &mut AnyConnection,
    id: i64,
    tenant: Option<&str>,
    subscription_id: Option<i64>,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE servers SET reserved_for = $1, subscription_id = $2, updated_at = $3 WHERE id = $4")
        .bind(tenant)
        .bind(subscription_id)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("recording who holds a server", e))
}

/// Sets the tenant holding each of `ids` (None: no one), keeping their subscriptions:
/// `set_holder` for many servers, a few statements for all.
pub async fn set_tenant_many(
    conn: &mut AnyConnection,
    ids: &[i64],
    tenant: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    let sql = "UPDATE servers SET reserved_for = $1, updated_at = $2 WHERE id IN ({ids})";
    for (sql, part) in super::id_chunks(sql, 3, ids) {
        part.iter()
            .fold(sqlx::query(&sql).bind(tenant).bind(now), |q, id| q.bind(*id))
            .execute(&mut *conn)
            .await
            .map_err(|e| DbError::query("recording who holds servers", e))?;
    }
    Ok(())
}

/// Up to `limit` servers of a type in `state`, oldest first: with `tenant`, only
/// those held by that tenant; with `pinned_by`, only a pinned subscription's servers.
pub async fn pool(
    conn: &mut AnyConnection,
    type_id: i64,
    state: ServerState,
    tenant: Option<&str>,
    pinned_by: Option<i64>,
    limit: i64,
) -> Result<Vec<Server>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE s.server_type_id = $1 AND s.state = $2 AND ($3 IS NULL OR s.reserved_for = $3) \
         AND ($4 IS NULL OR s.id IN (SELECT p.server_id FROM subscription_servers p WHERE p.subscription_id = $4)) \
         ORDER BY s.id LIMIT $5"
    ))
    .bind(type_id)
    .bind(state.as_str())
    .bind(tenant)
    .bind(pinned_by)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("finding servers to reserve or allocate", e))?;
    rows.into_iter().map(Row::into_server).collect()
}

/// Servers a subscription holds, newest first (the first to give back).
pub async fn held_by_subscription(conn: &mut AnyConnection, subscription_id: i64) -> Result<Vec<Server>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} WHERE s.subscription_id = $1 ORDER BY s.id DESC"))
        .bind(subscription_id)
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("reading a subscription's servers", e))?;
    rows.into_iter().map(Row::into_server).collect()
}

/// Servers a tenant holds (reserved or allocated), by name.
pub async fn held_by_tenant(conn: &mut AnyConnection, tenant: &str) -> Result<Vec<Server>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} WHERE s.reserved_for = $1 ORDER BY s.name"))
        .bind(tenant)
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("reading a tenant's servers", e))?;
    rows.into_iter().map(Row::into_server).collect()
}

/// What a server page shows that can change, as two fingerprints: the server itself
/// (generation, power, health, BMC warning) and its activity (last audit event, last
/// job with status, phase and number of steps). None when there is no such server.
pub async fn page_fingerprint(conn: &mut AnyConnection, id: i64) -> Result<Option<(String, String)>, DbError> {
    type Parts = (i64, String, String, Option<String>, i64, i64, String, String, i64);
    let row: Option<Parts> = sqlx::query_as(
        "SELECT s.generation, s.power_state, s.health, s.bmc_warning, \
         COALESCE((SELECT MAX(e.id) FROM events e WHERE e.server_id = s.id), 0), \
         COALESCE(j.id, 0), COALESCE(j.status, ''), COALESCE(j.phase, ''), \
         (SELECT COUNT(*) FROM job_steps st WHERE st.job_id = j.id) \
         FROM servers s LEFT JOIN jobs j ON j.id = (SELECT MAX(x.id) FROM jobs x WHERE x.server_id = s.id) \
         WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(|e| DbError::query("reading a server's page fingerprint", e))?;
    Ok(row.map(|(generation, power, health, warning, event, job, status, phase, steps)| {
        (
            // The job's status too: the page's buttons depend on whether one runs.
            format!("{generation}.{power}.{health}.{}.{job}.{status}", warning.is_some()),
            format!("{event}.{job}.{status}.{phase}.{steps}"),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column added to the server SELECT but not to ROW_COLUMNS (or the other way
    /// round) would break every list page: the JSON rows must name the same columns,
    /// in the same order.
    #[test]
    fn json_rows_name_the_select_columns_in_order() {
        let selected: Vec<&str> = SELECT_COLUMNS
            .trim_start_matches("SELECT ")
            .split(',')
            .map(|item| item.split_whitespace().last().unwrap_or_default())
            .map(|name| name.rsplit('.').next().unwrap_or_default())
            .collect();
        assert_eq!(selected, ROW_COLUMNS);
    }
}
