//! The browser entry point: hydrates the server-rendered page, nothing else.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// Set while the browser is leaving the page: downloads it cancels then are not
/// errors.
static LEAVING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Where the last followed link leads: the page to load if its code cannot be.
    static HEADING_TO: RefCell<Option<String>> = const { RefCell::new(None) };
}

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    watch_leaving();
    watch_links();
    std::panic::set_hook(Box::new(on_panic));
    // Lazy: the page's own wasm chunk arrives before hydration starts.
    leptos::mount::hydrate_lazy(app::App);
}

/// A page's code is a chunk loaded when the page is first shown (app::ui::App). A
/// chunk that cannot be loaded panics inside Leptos' loader:
/// - the browser left the page and cancelled the download: nothing to report;
/// - the tab is older than the running Rackstate (an upgrade replaced its files) or
///   the link dropped while moving to another page: the wasm cannot go on, so the
///   page is loaded from the server, which renders it whole (every page works
///   without the wasm). Not while the page is still hydrating: a chunk that fails
///   then would fail again after the reload, and the page already works without it.
fn on_panic(info: &std::panic::PanicHookInfo) {
    if LEAVING.load(Ordering::Relaxed) {
        return;
    }
    console_error_panic_hook::hook(info);
    let Some(w) = web_sys::window() else { return };
    // Each page marks the body once it is hydrated, its own wasm file included
    // (app::ui::layout::HydratedMark).
    let hydrated = w.document().and_then(|d| d.body()).is_some_and(|b| b.has_attribute("data-hydrated"));
    if hydrated && info.to_string().contains("SplitLoaderError") {
        // The router moves the address only once the page is ready, so the link's
        // own address, not the current one.
        let _ = match HEADING_TO.with_borrow_mut(Option::take) {
            Some(href) => w.location().assign(&href),
            None => w.location().reload(),
        };
    }
}

fn watch_leaving() {
    let Some(w) = web_sys::window() else { return };
    // Still here after a while: it was not a departure (a CSV download also fires
    // beforeunload), so failures count again.
    let stayed = Closure::<dyn Fn()>::new(|| LEAVING.store(false, Ordering::Relaxed));
    let leaving = Closure::<dyn Fn()>::new(move || {
        LEAVING.store(true, Ordering::Relaxed);
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(stayed.as_ref().unchecked_ref(), 5_000);
        }
    });
    for event in ["beforeunload", "pagehide"] {
        let _ = w.add_event_listener_with_callback(event, leaving.as_ref().unchecked_ref());
    }
    // The listeners live as long as the page.
    leaving.forget();
}

/// Notes where the browser is heading: the address of each link clicked (before the
/// router handles the click), or the page Back and Forward return to; none after a
/// form is sent.
fn watch_links() {
    let Some(w) = web_sys::window() else { return };
    let clicked = Closure::<dyn Fn(web_sys::Event)>::new(|e: web_sys::Event| {
        let link = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|el| el.closest("a[href]").ok().flatten());
        if let Some(a) = link.and_then(|l| l.dyn_into::<web_sys::HtmlAnchorElement>().ok()) {
            HEADING_TO.with_borrow_mut(|to| *to = Some(a.href()));
        }
    });
    if let Some(d) = w.document() {
        let _ = d.add_event_listener_with_callback_and_bool("click", clicked.as_ref().unchecked_ref(), true);
    }
    clicked.forget();
    // A form (a filter, a search) leads to an address only the router computes: reload.
    let submitted = Closure::<dyn Fn()>::new(|| HEADING_TO.with_borrow_mut(|to| *to = None));
    if let Some(d) = w.document() {
        let _ = d.add_event_listener_with_callback_and_bool("submit", submitted.as_ref().unchecked_ref(), true);
    }
    submitted.forget();
    // Back and Forward change the address before the page's code is asked for.
    let moved = Closure::<dyn Fn()>::new(|| {
        let here = web_sys::window().and_then(|w| w.location().href().ok());
        HEADING_TO.with_borrow_mut(|to| *to = here);
    });
    let _ = w.add_event_listener_with_callback("popstate", moved.as_ref().unchecked_ref());
    moved.forget();
}
