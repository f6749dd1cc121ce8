//! The site's compiled assets as a browser on a slow link gets them: hashed names in
//! the page, brotli or gzip when accepted, cached for a year; pages compressed on the
//! fly; nothing outside the asset directory, and nothing a BMC downloads, touched.

mod common;

use common::*;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, VARY};

/// A site root like cargo-leptos writes with `--precompress --split`: each asset with
/// its `.br` and `.gz` siblings (their bytes stand for the compressed forms), a page's
/// chunk, the loader that imports the JS glue, and the manifest naming the chunk.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    for (name, body) in [
        ("rackstate.js", "export default 1;"),
        ("rackstate.wasm", "\0asm wasm"),
        ("rackstate.css", "body{}"),
        ("split_server_route.wasm", "\0asm page"),
        ("__wasm_split.______________________.js", "import { initSync } from \"./rackstate.js\";"),
    ] {
        std::fs::write(pkg.join(name), body).unwrap();
        std::fs::write(pkg.join(format!("{name}.br")), format!("br of {name}")).unwrap();
        std::fs::write(pkg.join(format!("{name}.gz")), format!("gz of {name}")).unwrap();
    }
    std::fs::write(pkg.join("__wasm_split_manifest.json"), r#"{"server_route_1": ["split_server_route"]}"#).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside pkg").unwrap();
    dir
}

async fn asset_names(app: &TestApp) -> Vec<String> {
    let html = app.client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let mut names: Vec<String> =
        html.split('"').filter(|s| s.starts_with("/pkg/") && !s.contains(' ')).map(String::from).collect();
    names.sort();
    names.dedup();
    names
}

/// `/pkg/<16 hex digits>/<file>` -> (version, file).
fn versioned(url: &str) -> (&str, &str) {
    let (version, file) = url.trim_start_matches("/pkg/").split_once('/').expect(url);
    assert!(version.len() == 16 && version.chars().all(|c| c.is_ascii_hexdigit()), "{url}");
    (version, file)
}

/// An admin on a hotel link: the page names each asset by a version of its content,
/// and the wasm comes brotli-compressed and is kept for a year (a new build gets a new
/// version).
#[tokio::test]
async fn a_browser_gets_versioned_assets_compressed_and_cached_for_a_year() {
    let site = site();
    let root = site.path().to_path_buf();
    let app = spawn_app_with(move |s| s.site_root = root).await;
    let names = asset_names(&app).await;
    assert_eq!(names.len(), 3, "{names:?}");
    for ext in ["js", "wasm", "css"] {
        let name = names.iter().find(|n| n.ends_with(&format!(".{ext}"))).unwrap();
        assert_eq!(versioned(name).1, format!("rackstate.{ext}"));
        let res = app.client.get(app.url(name)).header(ACCEPT_ENCODING, "gzip, br").send().await.unwrap();
        assert_eq!(res.status(), 200, "{name}");
        assert_eq!(res.headers()[CONTENT_ENCODING], "br", "{name}");
        assert_eq!(res.headers()[CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(res.headers()[VARY], "accept-encoding");
        assert_eq!(res.text().await.unwrap(), format!("br of rackstate.{ext}"));
    }
    let wasm = names.iter().find(|n| n.ends_with(".wasm")).unwrap();
    let gz = app.client.get(app.url(wasm)).header(ACCEPT_ENCODING, "gzip").send().await.unwrap();
    assert_eq!(gz.headers()[CONTENT_ENCODING], "gzip");
    let plain = app.client.get(app.url(wasm)).header(ACCEPT_ENCODING, "identity").send().await.unwrap();
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(plain.text().await.unwrap(), "\0asm wasm");
}

/// The code's files name each other relatively (the loader imports `./rackstate.js`,
/// fetches `./split_*.wasm`): they share one version directory, where a page's chunk is
/// served like the main wasm; the stylesheet has a version of its own, so changing a
/// colour does not make browsers fetch the wasm again.
#[tokio::test]
async fn the_split_off_pages_are_served_beside_the_main_wasm() {
    let site = site();
    let root = site.path().to_path_buf();
    let app = spawn_app_with(move |s| s.site_root = root).await;
    let names = asset_names(&app).await;
    let code = |ext: &str| versioned(names.iter().find(|n| n.ends_with(ext)).unwrap()).0.to_string();
    assert_eq!(code(".js"), code(".wasm"));
    assert_ne!(code(".css"), code(".wasm"));
    for file in ["split_server_route.wasm", "__wasm_split.______________________.js"] {
        let url = format!("/pkg/{}/{file}", code(".wasm"));
        let res = app.client.get(app.url(&url)).header(ACCEPT_ENCODING, "br").send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(res.headers()[CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(res.text().await.unwrap(), format!("br of {file}"));
    }
    // The manifest is the server's to read, and another version is not this build.
    for url in
        [format!("/pkg/{}/__wasm_split_manifest.json", code(".wasm")), "/pkg/0123456789abcdef/rackstate.wasm".into()]
    {
        assert_eq!(app.client.get(app.url(&url)).send().await.unwrap().status(), 404, "{url}");
    }
}

/// A page that still names the old, unversioned file (or an old tab) gets it,
/// revalidated on each use rather than cached for a year.
#[tokio::test]
async fn an_unversioned_asset_name_is_served_but_revalidated() {
    let site = site();
    let root = site.path().to_path_buf();
    let app = spawn_app_with(move |s| s.site_root = root).await;
    let res = app.client.get(app.url("/pkg/rackstate.js")).header(ACCEPT_ENCODING, "br").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
    assert_eq!(res.headers()[CONTENT_ENCODING], "br");
}

/// An attacker asks for files beside the asset directory through the asset route.
#[tokio::test]
async fn the_asset_route_serves_nothing_outside_its_directory() {
    let site = site();
    let root = site.path().to_path_buf();
    let app = spawn_app_with(move |s| s.site_root = root).await;
    let version = versioned(&asset_names(&app).await[0]).0.to_string();
    let climbs = ["/pkg/../secret.txt", "/pkg/%2e%2e/secret.txt", "/pkg/..%2fsecret.txt", "/pkg/%2e%2e%2fsecret.txt"];
    let from_version = ["../secret.txt", "..%2fsecret.txt", "../../secret.txt"].map(|p| format!("/pkg/{version}/{p}"));
    for path in climbs.iter().map(|p| p.to_string()).chain(from_version) {
        let path = path.as_str();
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let body = res.text().await.unwrap();
        assert!(!body.contains("outside pkg"), "{path} leaked the file");
    }
}

/// Pages and JSON are compressed for a browser that accepts it; small answers and
/// clients that do not ask are left alone.
#[tokio::test]
async fn pages_and_json_are_compressed_on_the_fly() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/login")).header(ACCEPT_ENCODING, "br").send().await.unwrap();
    assert_eq!(page.headers()[CONTENT_ENCODING], "br");
    let spec = app.client.get(app.url("/api/v1/openapi.json")).header(ACCEPT_ENCODING, "gzip").send().await.unwrap();
    assert_eq!(spec.headers()[CONTENT_ENCODING], "gzip");
    let plain = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    assert!(plain.text().await.unwrap().starts_with('{'));
    let small = app.client.get(app.url("/healthz")).header(ACCEPT_ENCODING, "gzip").send().await.unwrap();
    assert!(small.headers().get(CONTENT_ENCODING).is_none());
}
