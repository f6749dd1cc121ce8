//! Forms that call a server function, with one client-side code path for all of them.
//!
//! Why not Leptos' `ServerAction` and `ActionForm`: for each server function they
//! compile into the wasm a serde_qs reader of the submitted form into the function's
//! arguments, a serde_qs writer of those arguments back into the same urlencoded
//! body, and an action, its signals and its request code over the function's own
//! types: 450 KB of the 2.2 MB of wasm this app's ~50 forms compiled to. Here a
//! submitted form's fields are posted as the browser encodes them (exactly the body a
//! form sends without JavaScript, which the server function reads either way), and
//! the answer is kept as its JSON text, read into the function's output type only
//! where a page shows it. Requests, answers, errors, redirects and the no-JavaScript
//! path are the same as Leptos' (`server_fn`'s browser client sends them).

use std::marker::PhantomData;

use leptos::prelude::*;
use server_fn::ServerFn;

use crate::api::ActionError;

/// A server function's form submissions on one page: what the last one answered and
/// how many there were (pages refetch their data when that count moves). Copy, like
/// Leptos' actions.
pub struct FormAction<S> {
    posts: Posts,
    _function: PhantomData<fn() -> S>,
}

impl<S> Clone for FormAction<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for FormAction<S> {}

/// The part of a [`FormAction`] that does not depend on the function: where its form
/// posts and the action that posts it (urlencoded body in, answer's JSON text out).
#[derive(Clone, Copy)]
struct Posts {
    url: &'static str,
    action: Action<String, Result<String, ActionError>>,
}

impl<S> FormAction<S>
where
    S: ServerFn<Error = ActionError>,
    S::Output: serde::de::DeserializeOwned,
{
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        FormAction { posts: Posts::new(S::PATH, S::url()), _function: PhantomData }
    }

    /// The last submission's answer, read into the function's output (tracked): None
    /// before the first. Without JavaScript, the error a refused form was redirected
    /// back with.
    pub fn result(&self) -> Option<Result<S::Output, ActionError>> {
        self.posts.action.value().get().map(|r| r.and_then(|text| read_answer(&text)))
    }

    /// Where the function's form posts (its `action` attribute): without JavaScript the
    /// browser posts there and the function redirects back to the page.
    pub fn url(&self) -> &'static str {
        self.posts.url
    }

    /// The form's submit handler (`on:submit`): with JavaScript the fields are posted
    /// through this action and the page stays, showing the answer in place.
    pub fn on_submit(&self) -> impl Fn(leptos::ev::SubmitEvent) + Clone + Send + Sync + 'static {
        self.posts.on_submit()
    }

    /// How many submissions have been answered (tracked).
    pub fn version(&self) -> RwSignal<usize> {
        self.posts.action.version()
    }
}

/// An answer's JSON text as the function's output; an unreadable one is a transport
/// error, in the same words as any other answer the page cannot read.
pub(super) fn read_answer<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ActionError> {
    serde_json::from_str(text).map_err(|e| {
        use server_fn::error::FromServerFnError;
        ActionError::from_server_fn_error(server_fn::error::ServerFnErrorErr::Deserialization(e.to_string()))
    })
}

impl Posts {
    /// `path` is the function's (to match a no-JavaScript error to its form), `url`
    /// where its form posts.
    fn new(path: &'static str, url: &'static str) -> Posts {
        // A form posted without JavaScript and refused comes back to its page with the
        // error in the URL; the server's render shows it where the answer would be (in
        // the browser there is no such error: the wasm need not read it).
        #[cfg(feature = "ssr")]
        let refused = use_context::<leptos::server::ServerActionError>().and_then(|e| {
            (e.path() == path).then(|| Err(server_fn::error::ServerFnUrlError::<ActionError>::decode_err(e.err())))
        });
        #[cfg(not(feature = "ssr"))]
        let refused = None;
        let action = Action::new_with_value(refused, move |body: &String| {
            let body = body.clone();
            async move { post(path, body).await }
        });
        Posts { url, action }
    }

    /// Handles a form's submit: posts its fields through the action instead of
    /// leaving the page. One closure type for every form.
    fn on_submit(self) -> impl Fn(leptos::ev::SubmitEvent) + Clone + Send + Sync + 'static {
        move |ev: leptos::ev::SubmitEvent| {
            if ev.default_prevented() {
                return;
            }
            ev.prevent_default();
            submit(self, &ev);
        }
    }
}

/// Posts a form's urlencoded fields to a server function as Leptos' client does
/// (answer wanted as JSON; an error status carries an `ActionError`; a redirect the
/// function asked for is followed by the router).
#[cfg(feature = "hydrate")]
pub(super) async fn post(path: &str, body: String) -> Result<String, ActionError> {
    use server_fn::error::FromServerFnError;
    post_answer(path, body).await?.map_err(|text| ActionError::de(text.into()))
}

/// `post`, with a refusal kept as the JSON text the function answered (Err inside Ok);
/// Err: the page could not reach Rackstate or read its answer.
#[cfg(feature = "hydrate")]
pub(super) async fn post_answer(path: &str, body: String) -> Result<Result<String, String>, ActionError> {
    use server_fn::client::{Client, browser::BrowserClient};
    use server_fn::request::{ClientReq, browser::BrowserRequest};
    use server_fn::response::ClientRes;
    let request = <BrowserRequest as ClientReq<ActionError>>::try_new_post(
        path,
        "application/x-www-form-urlencoded",
        "application/json",
        body,
    )?;
    let response = <BrowserClient as Client<ActionError>>::send(request).await?;
    let status = ClientRes::<ActionError>::status(&response);
    let location = ClientRes::<ActionError>::location(&response);
    let redirect = ClientRes::<ActionError>::has_redirect(&response);
    let text = ClientRes::<ActionError>::try_into_string(response).await?;
    if (400..=599).contains(&status) {
        return Ok(Err(text));
    }
    if (300..=399).contains(&status) || redirect {
        server_fn::redirect::call_redirect_hook(&location);
    }
    Ok(Ok(text))
}

/// Forms are posted by the browser, never dispatched while rendering on the server.
#[cfg(not(feature = "hydrate"))]
pub(super) async fn post(_path: &str, _body: String) -> Result<String, ActionError> {
    Err(ActionError::new("a form cannot be submitted from the server"))
}

/// Posts the submitted form's fields through the action.
#[cfg(feature = "hydrate")]
fn submit(posts: Posts, ev: &leptos::ev::SubmitEvent) {
    match form_body(ev) {
        Some(body) => {
            posts.action.dispatch(body);
        }
        None => {
            posts.action.value().set(Some(Err(unreadable_form())));
            posts.action.version().update(|n| *n += 1);
        }
    }
}

/// The submitted form's fields (and the button that submitted it) urlencoded, as the
/// browser would post them.
#[cfg(feature = "hydrate")]
pub(super) fn form_body(ev: &leptos::ev::SubmitEvent) -> Option<String> {
    leptos::form::form_data_from_event(ev)
        .ok()
        .and_then(|data| web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data).ok())
        .and_then(|params| params.to_string().as_string())
}

/// What a form whose fields could not be read answers.
#[cfg(feature = "hydrate")]
pub(super) fn unreadable_form() -> ActionError {
    use server_fn::error::FromServerFnError;
    ActionError::from_server_fn_error(server_fn::error::ServerFnErrorErr::Serialization(
        "the form's fields could not be read".into(),
    ))
}

#[cfg(not(feature = "hydrate"))]
fn submit(_posts: Posts, _ev: &leptos::ev::SubmitEvent) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::{Login, Logout};
    use server_fn::error::ServerFnUrlError;

    /// A sign-in posted without JavaScript with a wrong password comes back to the
    /// login page with the error in its URL: the page shows that error under the
    /// login form, and not under the page's other forms (the log-out button).
    #[test]
    fn a_form_refused_without_javascript_shows_its_error_under_that_form_only() {
        let refused = ActionError::new("wrong username or password");
        let url = ServerFnUrlError::new(Login::PATH, refused.clone()).to_url("http://rackstate.test/login").unwrap();
        let (_, err) = url.query_pairs().find(|(k, _)| k == "__err").expect("the error travels in the URL");
        let owner = Owner::new();
        owner.with(|| {
            provide_context(leptos::server::ServerActionError::new(Login::PATH, &err));
            let login = FormAction::<Login>::new();
            let logout = FormAction::<Logout>::new();
            assert_eq!(login.result(), Some(Err(refused)));
            assert_eq!(logout.result(), None);
            assert_eq!(login.url(), Login::PATH);
        });
    }

    /// Leptos' `ActionForm` or `ServerAction` in a page would quietly bring back a
    /// serde_qs round trip and an action's code per function into the wasm: pages use
    /// `FormAction`.
    #[test]
    fn pages_post_forms_through_form_action() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui");
        let mut files = vec![dir.join("layout.rs")];
        for entry in std::fs::read_dir(dir.join("pages")).expect("src/ui/pages") {
            files.push(entry.expect("entry").path());
        }
        let mut forms = 0;
        for path in files {
            let text = std::fs::read_to_string(&path).expect("source");
            for (n, line) in text.lines().enumerate() {
                assert!(
                    !line.contains("ActionForm") && !line.contains("ServerAction"),
                    "{}:{}: use FormAction (ui/form_action.rs): {line}",
                    path.display(),
                    n + 1
                );
                forms += line.matches("<form ").count();
            }
        }
        assert!(forms >= 30, "found only {forms} forms: did the pages move?");
    }
}
