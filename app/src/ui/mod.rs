//! Pages and components. They call `api` functions only; never a pool or a BMC.

pub mod components;
pub mod form_action;
mod layout;
pub(crate) mod pages;
pub mod rendered_forms;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::{
    Lazy, SsrMode,
    components::{Route, Router, Routes},
    path,
};

use crate::api::Access;
use crate::domain::Permission;

/// Every page route and who may see it. Pages themselves load their data through
/// server functions, which enforce this; a forbidden page renders its message with
/// status 403. A test fails when a route is missing here.
pub const PAGES: &[(&str, Access)] = &[
    // The report for those who see the fleet; a tenant's own servers for tenants.
    ("/", Access::LoggedIn),
    ("/login", Access::Public),
    ("/servers", Access::Needs(Permission::ViewFleet)),
    ("/servers/{id}", Access::Needs(Permission::ViewOwnServers)),
    ("/users", Access::Needs(Permission::ManageUsers)),
    ("/subscriptions", Access::Needs(Permission::ManageSubscriptions)),
    ("/deployments", crate::api::ALLOCATE),
    ("/images", Access::LoggedIn),
    ("/firmware", Access::Needs(Permission::ViewFleet)),
    ("/webhooks", Access::Needs(Permission::ManageWebhooks)),
];

/// Where the page's compiled assets are: content-versioned URLs the server decides at
/// start-up (`server::assets`) and provides as context; plain names without it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetNames {
    pub js: String,
    pub wasm: String,
    pub css: String,
    /// The pages split off the main wasm (`cargo leptos build --split`): the directory
    /// their files are served from, the loader's file name and, per lazy function, the
    /// wasm files it needs. A page names its own chunks so the browser fetches them
    /// with the main wasm instead of after it.
    pub split: Option<SplitAssets>,
}

/// The lazy-loaded wasm chunks of a split build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitAssets {
    pub dir: String,
    pub loader: String,
    pub chunks: std::collections::HashMap<String, Vec<String>>,
}

impl Default for AssetNames {
    fn default() -> Self {
        AssetNames {
            js: "/pkg/rackstate.js".into(),
            wasm: "/pkg/rackstate.wasm".into(),
            css: "/pkg/rackstate.css".into(),
            split: None,
        }
    }
}

/// The HTML document around the app, rendered on the server.
pub fn shell(_options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_page_csp();
    let assets = use_context::<AssetNames>().unwrap_or_default();
    #[cfg(feature = "ssr")]
    if let Some(split) = &assets.split {
        // leptos_axum reads this after rendering and adds a preload link for each
        // chunk the page's lazy route used.
        provide_context(leptos::WasmSplitManifest(ArcStoredValue::new((
            split.dir.clone(),
            split.chunks.clone(),
            split.loader.clone(),
        ))));
    }
    let nonce = leptos::nonce::use_nonce();
    // Leptos' <HydrationScripts> would name the files itself; these are the versioned
    // names. The script loads the JS glue, which fetches the wasm and hydrates.
    let script = format!(
        "import({js:?}).then(m => m.default({{module_or_path: {wasm:?}}}).then(() => m.hydrate()));",
        js = assets.js,
        wasm = assets.wasm
    );
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <link rel="stylesheet" href=assets.css/>
                <link rel="modulepreload" href=assets.js.clone()/>
                <link rel="preload" href=assets.wasm.clone() r#as="fetch" r#type="application/wasm" crossorigin=""/>
                <script type="module" nonce=nonce>{script}</script>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Every route streams in order (`SsrMode::InOrder`): each page's data is in the
/// HTML where it belongs, so pages read without JavaScript (out-of-order streaming
/// would leave "Loading…" in place until a script moved the content in).
///
/// The sign-in page and "not found" are in the main wasm; every other page is a lazy
/// route, split into its own wasm file and loaded with the page that needs it, so the
/// first load carries one page's code, not all of them.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Rackstate"/>
        <Router>
            <layout::Layout>
                <Routes fallback=|| view! { <pages::NotFound/> }>
                    <Route path=path!("/") view={Lazy::<pages::HomeRoute>::new()} ssr=SsrMode::InOrder/>
                    <Route path=path!("/login") view=pages::LoginPage ssr=SsrMode::InOrder/>
                    <Route path=path!("/servers") view={Lazy::<pages::ServersRoute>::new()} ssr=SsrMode::InOrder/>
                    <Route path=path!("/servers/:id") view={Lazy::<pages::ServerRoute>::new()} ssr=SsrMode::InOrder/>
                    <Route path=path!("/users") view={Lazy::<pages::UsersRoute>::new()} ssr=SsrMode::InOrder/>
                    <Route path=path!("/subscriptions") view={Lazy::<pages::SubscriptionsRoute>::new()} ssr=SsrMode::InOrder/>
                    <Route path=path!("/images") view={Lazy::<pages::ImagesRoute>::new()} ssr=SsrMode::InOrder/>
                    <Route path=path!("/deployments") view={Lazy::<pages::DeploymentsRoute>::new()} ssr=SsrMode::InOrder/>
                    <Route path=path!("/firmware") view={Lazy::<pages::FirmwareRoute>::new()} ssr=SsrMode::InOrder/>
                    <Route path=path!("/webhooks") view={Lazy::<pages::WebhooksRoute>::new()} ssr=SsrMode::InOrder/>
                </Routes>
            </layout::Layout>
        </Router>
    }
}

/// A Content-Security-Policy for this page: scripts only from this site or with this
/// response's nonce (the hydration script), wasm allowed, no framing.
#[cfg(feature = "ssr")]
fn set_page_csp() {
    leptos::nonce::provide_nonce();
    let (Some(nonce), Some(resp)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>()) else {
        return;
    };
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
    );
    if let Ok(v) = http::HeaderValue::from_str(&csp) {
        resp.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
    }
}
