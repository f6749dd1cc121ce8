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
