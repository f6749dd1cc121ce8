//! Random action sequences through the service on a real database: whatever happens,
//! the invariants hold.

mod common;
use app::backend::services::{Actor, NewServer, StateChange};
use app::domain::{Action, ServerState, Trigger, transitions};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn step() -> impl Strategy<Value = (Action, bool, bool)> {
    // (action, by the system?, with a stale generation?)
    (prop::sample::select(Action::ALL.to_vec()), any::<bool>(), prop::bool::weighted(0.1))
}

/// Invariants over random sequences: the state follows the table exactly; success
/// bumps the generation by one and writes one event; refusal changes nothing;
/// defective never goes to used; the generation never decreases.
#[test]
fn random_sequences_keep_invariants() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(common::spawn_app());
    let cases = if common::test_db() == "postgres" { 24 } else { 48 };
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let counter = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&prop::collection::vec(step(), 1..40), |steps| {
            rt.block_on(async {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let new = NewServer {
                    name: format!("p{n}"),
                    bmc_address: format!("http://10.0.0.1/redfish/v1/Systems/p{n}"),
                    ..Default::default()
                };
                let mut s = app.backend.add_server(&Actor::user("admin"), &new).await.unwrap();
                let mut events = common::event_count(&app, s.id).await;
                // Adding a server queues its registration; processes start jobs and
                // their outcomes end them.
                let mut active_job = true;
                for (action, system, stale) in steps {
                    let by = if system { Trigger::System } else { Trigger::User };
                    let actor = if system { Actor::system("prop") } else { Actor::user("admin") };
                    let generation = if stale { s.generation - 1 } else { s.generation };
                    let mut change = StateChange::new(action).at_generation(generation).because("prop");
                    change.reserved_for_requester = true;
                    let expected = transitions::request_transition(
                        s.state,
                        action,
                        by,
                        transitions::Context { reserved_for_requester: true, active_job, ..Default::default() },
                    );
                    let got = app.backend.change_state(&actor, s.id, &change).await;
                    let after = app.backend.server(s.id).await.unwrap();
                    let after_events = common::event_count(&app, s.id).await;
                    let still_active = app.backend.has_active_job(s.id).await.unwrap();
                    match (&got, expected, stale) {
                        (Ok(moved), Ok(t), false) => {
                            prop_assert_eq!(moved.state, t.to);
                            prop_assert_eq!(after.generation, s.generation + 1);
                            // The state change; a decommission forgets the password; a job
                            // the change ends is audited as finished.
                            let written = 1
                                + usize::from(action == Action::DecommissionSucceeded)
                                + usize::from(active_job && !still_active);
                            prop_assert_eq!(after_events, events + written);
                            prop_assert!(!(s.state == ServerState::Defective && after.state == ServerState::Used));
                            if t.starts_job().is_some() {
                                active_job = true;
                            } else if t.ends_job().is_some() {
                                active_job = false;
                            }
                            prop_assert_eq!(app.backend.has_active_job(s.id).await.unwrap(), active_job);
                        }
                        (Err(_), _, true) | (Err(_), Err(_), false) => {
                            prop_assert_eq!(&after, &s);
                            prop_assert_eq!(after_events, events);
                        }
                        (got, expected, stale) => {
                            return Err(TestCaseError::fail(format!(
                                "{} {action} {by:?} stale={stale}: service {got:?}, table {expected:?}",
                                s.state
                            )));
                        }
                    }
                    prop_assert!(after.generation >= s.generation);
                    s = after;
                    events = after_events;
                }
                Ok(())
            })
        })
        .unwrap();
}
