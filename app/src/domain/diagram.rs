//! The lifecycle diagram, generated from the transition table (never drawn by hand).

use super::state::ServerState;
use super::transitions::{JobEffect, TRANSITIONS, Trigger};
use std::fmt::Write;

/// A Mermaid `stateDiagram-v2` of the table. Edges by the system are labelled
/// `(system)`; counts, when given, are appended to each state's name.
pub fn mermaid(count: impl Fn(ServerState) -> Option<i64>) -> String {
    let mut out = String::from("stateDiagram-v2\n    [*] --> registering: add server\n");
    for s in ServerState::ALL {
        let label = match count(s) {
            Some(n) => format!("{} ({n})", s.as_str()),
            None => s.as_str().to_string(),
        };
        let _ = writeln!(out, "    state \"{label}\" as {}", s.as_str());
    }
    for t in TRANSITIONS {
        let who = match t.by {
            Trigger::User => "",
            Trigger::System => " (system)",
        };
        let _ = writeln!(out, "    {} --> {}: {}{who}", t.from.as_str(), t.to.as_str(), t.action.as_str());
    }
    out
}

/// Outcomes that depend on the server, not only on the table (see `lifecycle_doc`):
/// drawn as edges too, so the picture shows every way a server can move.
const CONDITIONAL: [(ServerState, ServerState, &str); 2] = [
    (ServerState::Registering, ServerState::Unavailable, "registration_failed (a re-registration)"),
    (ServerState::Cleaning, ServerState::AvailableReserved, "cleaning_succeeded (still reserved)"),
];

/// Node size and spacing of the drawn diagram (SVG user units).
pub const NODE_W: f64 = 150.0;
pub const NODE_H: f64 = 54.0;
const COL_W: f64 = 215.0;
const ROW_H: f64 = 118.0;
const MARGIN: f64 = 16.0;

/// A state's box in the drawing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Node {
    pub state: ServerState,
    /// Top-left corner.
    pub x: f64,
    pub y: f64,
}

/// One arrow: every action that moves a server from `from` to `to`.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub from: ServerState,
    pub to: ServerState,
    /// Only the system moves servers along it (drawn dashed).
    pub by_system: bool,
    /// "set_available, ..." for the tooltip.
    pub actions: String,
    /// SVG path data of the curve and of its arrowhead.
    pub path: String,
    pub head: String,
}

/// The layout: states in columns by their distance from `registering` along the table
/// (where a new server starts), rows in `ServerState::ALL` order. Computed, not drawn
/// by hand, so a new state or row finds its place.
pub fn nodes() -> Vec<Node> {
    let mut depth: Vec<Option<usize>> = vec![None; ServerState::ALL.len()];
    let index = |s: ServerState| ServerState::ALL.iter().position(|x| *x == s).unwrap_or(0);
    depth[index(ServerState::Registering)] = Some(0);
    let mut frontier = vec![ServerState::Registering];
    let mut d = 0;
    while !frontier.is_empty() {
        d += 1;
        let mut next = Vec::new();
        for from in frontier {
            for to in TRANSITIONS.iter().filter(|t| t.from == from).map(|t| t.to) {
                if depth[index(to)].is_none() {
                    depth[index(to)] = Some(d);
                    next.push(to);
                }
            }
        }
        frontier = next;
    }
    let mut rows_used = vec![0usize; ServerState::ALL.len() + 1];
    ServerState::ALL
        .iter()
        .map(|&state| {
            // A state no path reaches goes in a last column of its own.
            let col = depth[index(state)].unwrap_or(d);
            let row = rows_used[col];
            rows_used[col] += 1;
            Node { state, x: MARGIN + col as f64 * COL_W, y: MARGIN + row as f64 * ROW_H }
        })
        .collect()
}

/// The size of the drawing (width, height).
pub fn size(nodes: &[Node]) -> (f64, f64) {
    let w = nodes.iter().map(|n| n.x + NODE_W).fold(0.0, f64::max) + MARGIN;
    let h = nodes.iter().map(|n| n.y + NODE_H).fold(0.0, f64::max) + MARGIN;
    (w, h)
}

/// Every move between two different states, one arrow per (from, to), bent a little
/// to the right of its direction so that A->B and B->A stay apart. Moves that keep the
/// state (a job starting or failing in place) are not arrows.
pub fn edges(nodes: &[Node]) -> Vec<Edge> {
    let mut grouped: Vec<(ServerState, ServerState, bool, Vec<String>)> = Vec::new();
    let moves = TRANSITIONS
        .iter()
        .map(|t| (t.from, t.to, t.by == Trigger::System, t.action.as_str().to_string()))
        .chain(CONDITIONAL.iter().map(|(f, t, what)| (*f, *t, true, what.to_string())));
    for (from, to, system, action) in moves.filter(|(f, t, ..)| f != t) {
        match grouped.iter_mut().find(|g| g.0 == from && g.1 == to) {
            Some(g) => {
                g.2 &= system;
                g.3.push(action);
            }
            None => grouped.push((from, to, system, vec![action])),
        }
    }
    let center = |s: ServerState| {
        let n = nodes.iter().find(|n| n.state == s).copied().unwrap_or(Node { state: s, x: 0.0, y: 0.0 });
        (n.x + NODE_W / 2.0, n.y + NODE_H / 2.0)
    };
    grouped
        .into_iter()
        .map(|(from, to, by_system, actions)| {
            let ((x1, y1), (x2, y2)) = (center(from), center(to));
            let (dx, dy) = (x2 - x1, y2 - y1);
            let len = (dx * dx + dy * dy).sqrt().max(1.0);
            let (ux, uy) = (dx / len, dy / len);
            // Where the centre line leaves each box.
            let clip = |ux: f64, uy: f64| {
                let tx = if ux.abs() > 1e-9 { (NODE_W / 2.0 + 4.0) / ux.abs() } else { f64::INFINITY };
                let ty = if uy.abs() > 1e-9 { (NODE_H / 2.0 + 4.0) / uy.abs() } else { f64::INFINITY };
                tx.min(ty)
            };
            let t = clip(ux, uy);
            let bend = 14.0 + len * 0.06;
            let (sx, sy) = (x1 + ux * t - uy * 8.0, y1 + uy * t + ux * 8.0);
            let (ex, ey) = (x2 - ux * t - uy * 8.0, y2 - uy * t + ux * 8.0);
            let (cx, cy) = ((sx + ex) / 2.0 - uy * bend, (sy + ey) / 2.0 + ux * bend);
            // The arrowhead points along the curve's end tangent (control -> end).
            let (tx, ty) = (ex - cx, ey - cy);
            let tl = (tx * tx + ty * ty).sqrt().max(1.0);
            let (hx, hy) = (tx / tl, ty / tl);
            let (bx, by) = (ex - hx * 9.0, ey - hy * 9.0);
            let head = format!(
                "M{ex:.1},{ey:.1} L{:.1},{:.1} L{:.1},{:.1} Z",
                bx - hy * 4.5,
                by + hx * 4.5,
                bx + hy * 4.5,
                by - hx * 4.5
            );
            let path = format!("M{sx:.1},{sy:.1} Q{cx:.1},{cy:.1} {ex:.1},{ey:.1}");
            Edge { from, to, by_system, actions: actions.join(", "), path, head }
        })
        .collect()
}

/// The Markdown page `docs/lifecycle.md`.
pub fn lifecycle_doc() -> String {
    let mut out = String::from(
        "# Server lifecycle\n\n<!-- Generated from app/src/domain/transitions.rs by \
         `cargo test -p app` (UPDATE_DOCS=1 rewrites it). Do not edit. -->\n\n```mermaid\n",
    );
    out.push_str(&mermaid(|_| None));
    out.push_str(
        "```\n\n| from | action | to | by | when | guard | permission | reason | job | also |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for t in TRANSITIONS {
        let job = match t.job {
            JobEffect::None => String::new(),
            JobEffect::Starts(kind) => format!("starts {}", kind.as_str()),
            JobEffect::Ends(kind, event) => format!("ends {} ({event:?})", kind.as_str()),
        };
        let mut also = Vec::new();
        if t.hardware_check {
            also.push("hardware checked first");
        }
        if t.needs_hardware_ack {
            also.push("hardware changes acknowledged first");
        }
        if t.forgets_bmc_secret {
            also.push("forgets the BMC password");
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:?} | {:?} | {:?} | {} | {:?} | {job} | {} |",
            t.from.as_str(),
            t.action.as_str(),
            t.to.as_str(),
            t.by,
            t.when,
            t.guard,
            t.permission.map(|p| p.as_str()).unwrap_or(""),
            t.reason,
            also.join(", ")
        );
    }
    out.push_str(
        "\nA pair with two rows has two outcomes that depend on the server (`when`):\n\n\
         - `registration_failed` of a re-registration (the job started from `unavailable`) returns the \
         server to `unavailable`; a failed first registration stays in `registering`.\n\
         - `cleaning_succeeded` of a server a subscription still holds goes to `available_reserved`; \
         of a server whose hardware changes nobody acknowledged yet, to `unavailable` \
         ([hardware changes](hardware-changes.md)).\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/lifecycle.md is what the table generates; UPDATE_DOCS=1 rewrites it.
    #[test]
    fn lifecycle_doc_is_current() {
        crate::domain::assert_doc_current("lifecycle.md", &lifecycle_doc());
    }

    /// Every row of the table is an edge of the diagram.
    #[test]
    fn every_row_is_drawn() {
        let m = mermaid(|s| Some(s as i64));
        for t in TRANSITIONS {
            assert!(m.contains(&format!("{} --> {}: {}", t.from.as_str(), t.to.as_str(), t.action.as_str())));
        }
        assert!(m.contains("state \"used (4)\" as used"));
    }

    /// The drawing has a box per state, no two in the same place, and an arrow for
    /// every move of the table between two states.
    #[test]
    fn drawing_covers_the_table() {
        let nodes = nodes();
        assert_eq!(nodes.len(), ServerState::ALL.len());
        for (i, a) in nodes.iter().enumerate() {
            for b in &nodes[i + 1..] {
                assert!((a.x, a.y) != (b.x, b.y), "{:?} and {:?} overlap", a.state, b.state);
            }
        }
        assert_eq!(nodes[0].state, ServerState::Registering);
        assert_eq!(nodes[0].x, nodes.iter().map(|n| n.x).fold(f64::MAX, f64::min), "registering comes first");
        let edges = edges(&nodes);
        for t in TRANSITIONS.iter().filter(|t| t.from != t.to) {
            let e = edges.iter().find(|e| e.from == t.from && e.to == t.to).expect("edge drawn");
            assert!(e.actions.contains(t.action.as_str()));
            assert!(e.path.starts_with('M') && e.head.ends_with('Z'));
        }
        let release = edges.iter().find(|e| e.from == ServerState::Used && e.to == ServerState::Cleaning).unwrap();
        assert!(release.by_system);
        let available = edges.iter().find(|e| e.to == ServerState::Available && e.from == ServerState::Unavailable);
        assert!(!available.unwrap().by_system);
    }
}
