//! The typed parts of a REST request and answer: the caller (the bearer token's user,
//! holding the permission the handler names in its type), a JSON body, a query, and
//! the failure answer, each turning a bad request into the API's error shape.

use crate::api_error::{error, service_error};
use app::backend::Backend;
use app::backend::services::ServiceError;
use app::domain::Permission;
use app::model::UserView;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// What a handler answers: its typed success, or the API's error answer.
pub(crate) type ApiResult<T> = Result<T, Failure>;

/// An error answer (`{"error": {...}}` with its status). Service errors and the
/// helpers' ready-made answers convert into it, so handlers use `?`.
pub(crate) struct Failure(Response);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        self.0
    }
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        Failure(service_error(e))
    }
}

impl From<Response> for Failure {
    fn from(r: Response) -> Self {
        Failure(r)
    }
}

/// 400 `malformed` with a message.
pub(crate) fn malformed(message: &str) -> Failure {
    Failure(error(StatusCode::BAD_REQUEST, "malformed", message))
}

/// The permission a handler requires of its caller, as a type (`Caller<need::ViewFleet>`).
pub(crate) trait Required {
    const PERMISSION: Option<Permission>;
}

/// The permissions as types, one per `Permission` a handler requires.
pub(crate) mod need {
    use super::{Permission, Required};

    /// Any signed-in user (the handler decides further, e.g. per server).
    pub(crate) struct AnyUser;
    impl Required for AnyUser {
        const PERMISSION: Option<Permission> = None;
    }

    macro_rules! needs {
        ($($name:ident),* $(,)?) => {$(
            pub(crate) struct $name;
            impl Required for $name {
                const PERMISSION: Option<Permission> = Some(Permission::$name);
            }
        )*};
    }

    needs!(
        ViewFleet,
        ViewOwnServers,
        ViewAudit,
        AddServer,
        SetManualState,
        StartRegistration,
        Decommission,
        RetryAbortJobs,
        RevealBmcCredentials,
        EditBmc,
        EditNotes,
        ManageUsers,
        ManageSubscriptions,
        ManageImages,
        DeployAnyServer,
        AcknowledgeHardware,
        ManageFirmwareBaselines,
        ManageWebhooks,
    );
}

/// The token's user, who holds `P`'s permission: 401 without a valid token, 403 when
/// the role may not.
pub(crate) struct Caller<P: Required = need::AnyUser>(pub UserView, pub PhantomData<P>);

impl<P: Required> FromRequestParts<Backend> for Caller<P> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, backend: &Backend) -> Result<Self, Failure> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Failure(error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "send Authorization: Bearer <token> (POST /api/v1/tokens)",
                ))
            })?;
        let user = backend
            .token_user(token)
            .await?
            .ok_or_else(|| Failure(error(StatusCode::UNAUTHORIZED, "unauthorized", "unknown or revoked token")))?;
        if let Some(p) = P::PERMISSION
            && !user.role.can(p)
        {
            let message = format!("your role ({}) may not {}", user.role, p.as_str().replace('_', " "));
            return Err(Failure(error(StatusCode::FORBIDDEN, "forbidden", &message)));
        }
        Ok(Caller(user, PhantomData))
    }
}

/// A JSON request body of type `T`, or 400 saying what is wrong with it. Any content
/// type is read as JSON (`curl -d` sends a form type); the size limit is the router's.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Backend> for JsonBody<T> {
    type Rejection = Failure;

    async fn from_request(req: Request, backend: &Backend) -> Result<Self, Failure> {
        let bytes = Bytes::from_request(req, backend).await.map_err(|e| Failure(e.into_response()))?;
        parse(&bytes).map(JsonBody)
    }
}

/// Like `JsonBody`, but an empty body is `T::default()` (a request whose every field
/// is optional).
pub(crate) struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<Backend> for JsonOrEmpty<T> {
    type Rejection = Failure;

    async fn from_request(req: Request, backend: &Backend) -> Result<Self, Failure> {
        let bytes = Bytes::from_request(req, backend).await.map_err(|e| Failure(e.into_response()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        parse(&bytes).map(JsonOrEmpty)
    }
}

fn parse<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Failure> {
    serde_json::from_slice(bytes).map_err(|e| malformed(&format!("the request body is not valid: {e}")))
}

/// The query string as `T`, or 400 naming what is wrong with it.
pub(crate) struct QueryOf<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<Backend> for QueryOf<T> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, backend: &Backend) -> Result<Self, Failure> {
        let Query(q) = Query::<T>::from_request_parts(parts, backend).await.map_err(|e| malformed(&e.body_text()))?;
        Ok(QueryOf(q))
    }
}

/// The path's parameters as `T` (a server id...), or 400 naming what is wrong.
pub(crate) struct PathOf<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<Backend> for PathOf<T> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, backend: &Backend) -> Result<Self, Failure> {
        let Path(p) = Path::<T>::from_request_parts(parts, backend).await.map_err(|e| malformed(&e.body_text()))?;
        Ok(PathOf(p))
    }
}
