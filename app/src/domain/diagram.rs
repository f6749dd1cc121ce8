//! The lifecycle diagram, generated from the transition table (never drawn by hand).

use super::state::ServerState;
use super::transitions::{TRANSITIONS, Trigger};
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

/// The Markdown page `docs/lifecycle.md`.
pub fn lifecycle_doc() -> String {
    let mut out = String::from(
        "# Server lifecycle\n\n<!-- Generated from app/src/domain/transitions.rs by \
         `cargo test -p app` (UPDATE_DOCS=1 rewrites it). Do not edit. -->\n\n```mermaid\n",
    );
    out.push_str(&mermaid(|_| None));
    out.push_str("```\n\n| from | action | to | by | guard | starts job |\n|---|---|---|---|---|---|\n");
    for t in TRANSITIONS {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:?} | {:?} | {} |",
            t.from.as_str(),
            t.action.as_str(),
            t.to.as_str(),
            t.by,
            t.guard,
            t.starts_job.map(|j| j.as_str()).unwrap_or("")
        );
    }
    out.push_str(
        "\nTwo outcomes depend on the server, not only on the table:\n\n\
         - `registration_failed` of a re-registration (the job started from `unavailable`) returns the \
         server to `unavailable`; a failed first registration stays in `registering`.\n\
         - `cleaning_succeeded` of a server a subscription still holds goes to `available_reserved`.\n",
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
}
