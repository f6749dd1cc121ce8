//! What a server function answers when it does not succeed: a message for a person and,
//! when a form was refused, its invalid fields by name, so a page shows each message
//! under its field without parsing text. Framework failures (a lost connection, an
//! answer the page cannot read) become messages in words, never internals.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionError {
    #[serde(default)]
    pub kind: ErrorKind,
    /// The whole message (a form's fields one "field: message" line each).
    pub message: String,
    /// The refused fields and why, in the form's words (empty: not about fields).
    #[serde(default)]
    pub fields: Vec<FieldMessage>,
}

/// What kind of failure it was: who must act.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The service refused (permission, state, an invalid field, a conflict).
    #[default]
    Refused,
    /// The call's arguments could not be read (one missing, a wrong type): the
    /// caller's mistake, answered 400.
    BadInput,
    /// The page could not reach Rackstate, or could not read its answer.
    Transport,
    /// Something failed inside Rackstate (logged there).
    Internal,
}

/// One refused field of a form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMessage {
    pub field: String,
    pub message: String,
}

impl ActionError {
    /// A refusal that names no field.
    pub fn new(message: impl Into<String>) -> Self {
        ActionError { kind: ErrorKind::Refused, message: message.into(), fields: Vec::new() }
    }

    fn of(kind: ErrorKind, message: impl Into<String>) -> Self {
        ActionError { kind, message: message.into(), fields: Vec::new() }
    }
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActionError {}

impl FromServerFnError for ActionError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(e: ServerFnErrorErr) -> Self {
        match e {
            ServerFnErrorErr::ServerError(m) => ActionError::new(m),
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => ActionError::of(
                ErrorKind::Transport,
                "Rackstate could not be reached: the connection was lost or the server is restarting. \
                 Reload the page to see whether the action was applied.",
            ),
            // On the client: an answer it cannot read. On the server: a request body
            // that is not what the function takes (the caller's mistake).
            ServerFnErrorErr::Deserialization(m) if cfg!(feature = "ssr") => {
                ActionError::of(ErrorKind::BadInput, format!("the request could not be read: {m}"))
            }
            ServerFnErrorErr::Deserialization(_) | ServerFnErrorErr::Serialization(_) => ActionError::of(
                ErrorKind::Transport,
                "Rackstate's answer could not be read (the server may be restarting or newer than this page). \
                 Reload the page and try again.",
            ),
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                ActionError::of(ErrorKind::BadInput, format!("the form was incomplete: {m}"))
            }
            _ => ActionError::of(
                ErrorKind::Internal,
                "Rackstate could not run this action; reload the page and try again.",
            ),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<crate::backend::services::ServiceError> for ActionError {
    /// The service's message; an invalid field (or several) also by name.
    fn from(e: crate::backend::services::ServiceError) -> Self {
        use crate::backend::services::ServiceError;
        let fields = match &e {
            ServiceError::Invalid { field, message } => vec![(*field, message.clone())],
            ServiceError::InvalidFields { errors } => errors.clone(),
            _ => Vec::new(),
        };
        let kind = if matches!(e, ServiceError::Internal(_)) { ErrorKind::Internal } else { ErrorKind::Refused };
        ActionError {
            kind,
            message: e.user_message(),
            fields: fields
                .into_iter()
                .map(|(field, message)| FieldMessage { field: field.to_string(), message })
                .collect(),
        }
    }
}

impl From<ServerFnErrorErr> for ActionError {
    fn from(e: ServerFnErrorErr) -> Self {
        ActionError::from_server_fn_error(e)
    }
}
