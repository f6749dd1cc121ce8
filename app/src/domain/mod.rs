//! Pure types and rules. No I/O: this module compiles to wasm so the browser shows
//! exactly what the server will accept.
