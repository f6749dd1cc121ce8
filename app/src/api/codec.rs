//! How server functions' answers travel: JSON, read as text.
//!
//! Why not server_fn's own `Json`: it reads answers with `serde_json::from_slice`,
//! while a resource's hydration data (codee's `JsonSerdeCodec`) is read with
//! `serde_json::from_str`. serde_json's reader is generic over its input, so every
//! answer type a page both hydrates and refetches was compiled into the wasm twice (one
//! reader over bytes, one over text): about a tenth of the client's code. Reading
//! answers as text too keeps one copy. The wire format is the same JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;
use server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};

/// JSON in the body of a `POST` answer, decoded from text: the `output` of every
/// server function.
pub type Json = server_fn::codec::Post<JsonText>;

/// JSON, decoded from UTF-8 text (see the module's note).
pub struct JsonText;

impl ContentType for JsonText {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonText {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonText {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonText {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(<serde_json::Error as serde::de::Error>::custom)?;
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    /// A new server function that forgets `output = crate::api::codec::Json` would
    /// quietly bring the second JSON reader back into the wasm: every `#[server(...)]`
    /// in `src/api` names this codec.
    #[test]
    fn every_server_function_answers_through_this_codec() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("src/api") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("source");
            for (n, line) in text.lines().enumerate() {
                // Item attributes start the line; `#[server(default)]` on arguments is indented.
                if line.starts_with("#[server(") {
                    seen += 1;
                    assert!(
                        line.contains("output = crate::api::codec::Json"),
                        "{}:{}: a server function without the codec: {line}",
                        path.display(),
                        n + 1
                    );
                }
            }
        }
        assert!(seen >= 50, "found only {seen} server functions: did they move?");
    }
}
