//! The site's compiled assets (wasm, JS, CSS): content-hashed names, served
//! precompressed (brotli, gzip) and cached by browsers for a year.
//!
//! Why the hashing is ours and not cargo-leptos' `hash-files`: Leptos reads those
//! hashes from a file next to the running binary, so a binary copied elsewhere (or
//! started from another target directory) would name files that do not exist. Here the
//! server hashes what is really under `RACKSTATE_SITE_ROOT/pkg` when it starts, so the
//! names it writes into pages and the files it serves cannot disagree.

use app::ui::AssetNames;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// A hashed name never changes content, so browsers may keep it without asking again.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Unhashed names (old pages, the favicon) are revalidated on each use.
const REVALIDATE: &str = "no-cache";

/// The assets found at start-up: each hashed URL name and the file behind it.
#[derive(Clone, Debug, Default)]
pub struct Assets {
    pkg_dir: PathBuf,
    hashed: Arc<HashMap<String, PathBuf>>,
    names: AssetNames,
}

impl Assets {
    /// Hashes the JS, wasm and CSS under `<site_root>/pkg` (the wasm is `<name>.wasm`
    /// from cargo-leptos, or `<name>_bg.wasm` from wasm-bindgen alone). A missing file
    /// keeps its plain name (pages still render; `main` warns that assets are missing).
    pub fn load(site_root: &FsPath, output_name: &str) -> Assets {
        let pkg_dir = site_root.join("pkg");
        let mut hashed = HashMap::new();
        let mut name_of = |candidates: &[String]| -> String {
            for file in candidates {
                let path = pkg_dir.join(file);
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let name = hashed_name(file, &bytes);
                        hashed.insert(name.clone(), path);
                        return format!("/pkg/{name}");
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => tracing::warn!(file = %path.display(), error = %e, "reading a site asset"),
                }
            }
            format!("/pkg/{}", candidates[0])
        };
        let js = name_of(&[format!("{output_name}.js")]);
        let wasm = name_of(&[format!("{output_name}.wasm"), format!("{output_name}_bg.wasm")]);
        let css = name_of(&[format!("{output_name}.css")]);
        Assets { pkg_dir, hashed: Arc::new(hashed), names: AssetNames { js, wasm, css } }
    }

    /// The URLs pages link to.
    pub fn names(&self) -> AssetNames {
        self.names.clone()
    }

    /// `/pkg/*`: hashed names from memory of the start-up scan, anything else from the
    /// directory; both with their `.br`/`.gz` siblings when the browser accepts them.
    pub fn router(self) -> Router {
        Router::new().route("/pkg/{file}", axum::routing::get(serve)).with_state(self)
    }
}

/// On-the-fly compression for answers that are text and worth it (pages, JSON, CSS,
/// JS, SVG, wasm built without precompressed siblings), brotli or gzip as the client
/// accepts. Only these types: the live image a BMC downloads must keep its length and
/// ranges, and event streams must not wait in a compressor's buffer.
pub fn compression() -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate + Clone> {
    use tower_http::compression::predicate::{Predicate, SizeAbove};
    let text = |_: StatusCode, _: axum::http::Version, headers: &axum::http::HeaderMap, _: &axum::http::Extensions| {
        let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        COMPRESSIBLE.iter().any(|t| kind.starts_with(t))
    };
    tower_http::compression::CompressionLayer::new().br(true).gzip(true).compress_when(SizeAbove::new(512).and(text))
}

/// The content types `compression` compresses.
const COMPRESSIBLE: &[&str] = &[
    "text/html",
    "text/css",
    "text/plain",
    "text/csv",
    "application/json",
    "application/javascript",
    "text/javascript",
    "image/svg+xml",
    "application/wasm",
];

/// `rackstate.js` with content `bytes` -> `rackstate.<16 hex digits>.js`.
fn hashed_name(file: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    match file.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hex}.{ext}"),
        None => format!("{file}.{hex}"),
    }
}

async fn serve(State(assets): State<Assets>, Path(file): Path<String>, req: Request) -> Response {
    let (result, cache) = match assets.hashed.get(&file) {
        Some(path) => (ServeFile::new(path).precompressed_br().precompressed_gzip().oneshot(req).await, IMMUTABLE),
        None => (
            ServeDir::new(&assets.pkg_dir).precompressed_br().precompressed_gzip().oneshot(strip_pkg(req)).await,
            REVALIDATE,
        ),
    };
    let mut res = match result {
        Ok(r) => r.into_response(),
        Err(never) => match never {},
    };
    if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        // The same URL answers brotli, gzip or plain: caches must keep them apart.
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    res
}

/// `ServeDir` is rooted at the pkg directory: `/pkg/x` becomes `/x`.
fn strip_pkg(mut req: Request) -> Request {
    let rest = req.uri().path().strip_prefix("/pkg").unwrap_or("/").to_string();
    if let Ok(uri) = rest.parse() {
        *req.uri_mut() = uri;
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new build of the wasm gets a new name, so a browser never keeps an old one.
    #[test]
    fn a_changed_file_gets_a_new_name() {
        let a = hashed_name("rackstate.wasm", b"one");
        let b = hashed_name("rackstate.wasm", b"two");
        assert_ne!(a, b);
        assert!(a.starts_with("rackstate.") && a.ends_with(".wasm") && a.len() == "rackstate..wasm".len() + 16, "{a}");
        assert_eq!(a, hashed_name("rackstate.wasm", b"one"));
    }
}
