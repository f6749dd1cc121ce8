//! The browser entry point: hydrates the server-rendered page, nothing else.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy: the page's own wasm chunk arrives before hydration starts.
    leptos::mount::hydrate_lazy(app::App);
}
