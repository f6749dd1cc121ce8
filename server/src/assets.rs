//! The site's compiled assets (wasm, JS, CSS): under content-versioned URLs, served
//! precompressed (brotli, gzip) and cached by browsers for a year.
//!
//! Each asset is served as `/pkg/<version>/<file>`, where the version is a hash of the
//! files' contents: the CSS alone, and the code (JS glue, main wasm, the split-off page
//! chunks and their loader) as one group. A directory rather than a name per file
//! because the code files name each other (the loader imports `./rackstate.js` and
//! fetches `./split_*.wasm` relative to itself): in one versioned directory those
//! relative names keep working and the browser keeps one instance of each module.
//!
//! Why the versioning is ours and not cargo-leptos' `hash-files`: Leptos reads those
//! hashes from a file next to the running binary, so a binary copied elsewhere (or
//! started from another target directory) would name files that do not exist. Here the
//! server hashes what is really under `RACKSTATE_SITE_ROOT/pkg` when it starts, so the
//! names it writes into pages and the files it serves cannot disagree.

use app::ui::{AssetNames, SplitAssets};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// A versioned name never changes content, so browsers may keep it without asking again.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Unversioned names (old pages, the favicon) are revalidated on each use.
const REVALIDATE: &str = "no-cache";
/// What cargo-leptos calls the split build's manifest (lazy function -> wasm chunks)
/// and the start of its loader's name.
const SPLIT_MANIFEST: &str = "__wasm_split_manifest.json";
const SPLIT_LOADER: &str = "__wasm_split.";

/// The assets found at start-up: each versioned URL path and the file behind it.
#[derive(Clone, Debug, Default)]
pub struct Assets {
    pkg_dir: PathBuf,
    /// `<version>/<file>` -> the file.
    versioned: Arc<HashMap<String, PathBuf>>,
    names: AssetNames,
}

impl Assets {
    /// Reads `<site_root>/pkg`: the CSS gets a version of its own, every other file
    /// (JS, wasm, chunks, snippets; not the `.br`/`.gz` siblings) the code's version.
    /// The wasm is `<name>.wasm` from cargo-leptos, or `<name>_bg.wasm` from
    /// wasm-bindgen alone. Nothing there keeps the plain names (pages still render;
    /// `main` warns that assets are missing).
    pub fn load(site_root: &FsPath, output_name: &str) -> Assets {
        let pkg_dir = site_root.join("pkg");
        let css_name = format!("{output_name}.css");
        let mut code = BTreeMap::new();
        let mut css = BTreeMap::new();
        // The compressed siblings follow their originals; the manifest is the server's.
        let served = |name: &str| !(name.ends_with(".br") || name.ends_with(".gz") || name == SPLIT_MANIFEST);
        for (name, bytes) in read_tree(&pkg_dir, served) {
            if name == css_name { &mut css } else { &mut code }.insert(name, bytes);
        }
        let (code_version, css_version) = (version(&code), version(&css));
        let mut versioned = HashMap::new();
        for (group, v) in [(&code, &code_version), (&css, &css_version)] {
            for name in group.keys() {
                versioned.insert(format!("{v}/{name}"), pkg_dir.join(name));
            }
        }
        let url = |v: &str, candidates: &[String], group: &BTreeMap<String, Vec<u8>>| -> String {
            match candidates.iter().find(|c| group.contains_key(*c)) {
                Some(file) => format!("/pkg/{v}/{file}"),
                None => format!("/pkg/{}", candidates[0]),
            }
        };
        let split = split_assets(&pkg_dir, &code, &code_version);
        if split.is_none() && code.keys().any(|n| n.ends_with(".wasm")) {
            // The pages are lazy routes: their wasm imports the loader that only a split
            // build writes, so without it pages render but never hydrate.
            tracing::warn!(pkg = %pkg_dir.display(), "the wasm was built without --split: pages will work without their scripts only (build with `cargo leptos build --release --precompress --split`)");
        }
        let names = AssetNames {
            js: url(&code_version, &[format!("{output_name}.js")], &code),
            wasm: url(&code_version, &[format!("{output_name}.wasm"), format!("{output_name}_bg.wasm")], &code),
            css: url(&css_version, &[css_name], &css),
            split,
        };
        Assets { pkg_dir, versioned: Arc::new(versioned), names }
    }

    /// The URLs pages link to.
    pub fn names(&self) -> AssetNames {
        self.names.clone()
    }

    /// `/pkg/<version>/<file>` from the start-up scan, `/pkg/<file>` from the
    /// directory; both with their `.br`/`.gz` siblings when the browser accepts them.
    pub fn router(self) -> Router {
        Router::new()
            .route("/pkg/{file}", axum::routing::get(serve_plain))
            .route("/pkg/{version}/{*file}", axum::routing::get(serve_versioned))
            .with_state(self)
    }
}

/// Every file under `dir` whose relative name (with `/`) `wanted` accepts, with its
/// bytes, in name order; none when the directory is missing.
fn read_tree(dir: &FsPath, wanted: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, prefix)) = todo.pop() {
        let entries = match std::fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(dir = %path.display(), error = %app::backend::error_chain(&e), "reading the site's assets");
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            match entry.file_type() {
                Ok(t) if t.is_dir() => todo.push((entry.path(), format!("{name}/"))),
                Ok(_) if !wanted(&name) => {}
                Ok(_) => match std::fs::read(entry.path()) {
                    Ok(bytes) => out.push((name, bytes)),
                    Err(e) => {
                        tracing::warn!(file = %entry.path().display(), error = %app::backend::error_chain(&e), "reading a site asset")
                    }
                },
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// 16 hex digits of the SHA-256 over the files' names and contents.
fn version(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    for (name, bytes) in files {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The split build's chunks, when the site was built with `--split`.
fn split_assets(pkg_dir: &FsPath, code: &BTreeMap<String, Vec<u8>>, version: &str) -> Option<SplitAssets> {
    let loader = code.keys().find(|n| n.starts_with(SPLIT_LOADER) && n.ends_with(".js"))?;
    let chunks = match std::fs::read(pkg_dir.join(SPLIT_MANIFEST)).map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            tracing::warn!(error = %app::backend::error_chain(&e), "the split build's manifest is unreadable: pages will not preload their wasm");
            HashMap::new()
        }
        Err(_) => HashMap::new(),
    };
    Some(SplitAssets { dir: format!("/pkg/{version}"), loader: loader.clone(), chunks })
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

async fn serve_versioned(
    State(assets): State<Assets>,
    Path((version, file)): Path<(String, String)>,
    req: Request,
) -> Response {
    // Only names found at start-up: an old version, or a path that climbs out, is 404.
    let Some(path) = assets.versioned.get(&format!("{version}/{file}")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let result = ServeFile::new(path).precompressed_br().precompressed_gzip().oneshot(req).await;
    finish(result, IMMUTABLE)
}

async fn serve_plain(State(assets): State<Assets>, req: Request) -> Response {
    let result = ServeDir::new(&assets.pkg_dir).precompressed_br().precompressed_gzip().oneshot(strip_pkg(req)).await;
    finish(result, REVALIDATE)
}

/// Adds the caching headers to a served file.
fn finish<R: IntoResponse>(result: Result<R, std::convert::Infallible>, cache: &'static str) -> Response {
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

    /// A new build of the wasm gets a new version, so a browser never keeps an old one.
    #[test]
    fn a_changed_file_gets_a_new_version() {
        let files = |wasm: &[u8]| BTreeMap::from([("rackstate.wasm".to_string(), wasm.to_vec())]);
        let (a, b) = (version(&files(b"one")), version(&files(b"two")));
        assert_ne!(a, b);
        assert!(a.len() == 16 && a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_eq!(a, version(&files(b"one")));
        // Moving bytes from one file to the next is a change too.
        let split = |x: &[u8], y: &[u8]| BTreeMap::from([("a".to_string(), x.to_vec()), ("b".to_string(), y.to_vec())]);
        assert_ne!(version(&split(b"ab", b"c")), version(&split(b"a", b"bc")));
    }
}
