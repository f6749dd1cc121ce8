//! Forms inside cards the server renders: one submit handler in the browser for all
//! of them, and each answer handed back to the server, which shows it in its card.
//!
//! Why: a card drawn in the browser compiles its view and its functions' answer types
//! into the wasm, and the server page's cards (status, processes, power, BMC access,
//! hardware changes, job, operating system) were about 80 KB of its brotli. Here the
//! server renders them with plain forms, which post without JavaScript as before;
//! with JavaScript a submit inside such a card is posted by [`Answers`] through the
//! same untyped request as `FormAction` (`form_action::post`), and the page reads its
//! data again with the answer, so the card shows the outcome (or the refusal, under
//! its fields) where the form is.

use crate::api::ActionError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The last form answer on a page, as the page hands it to the server to render.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FormAnswer {
    /// Where the form posted: its server function's URL.
    pub path: String,
    /// The function's answer as its JSON text, when it succeeded.
    #[serde(default)]
    pub ok: Option<String>,
    /// Why it did not.
    #[serde(default)]
    pub error: Option<ActionError>,
}

impl FormAnswer {
    /// As a load function's argument: one JSON text, "" for none.
    pub fn encode(answer: Option<FormAnswer>) -> String {
        answer.and_then(|a| serde_json::to_string(&a).ok()).unwrap_or_default()
    }

    /// The argument read back; anything unreadable is no answer (it only decides a
    /// message on the caller's own page).
    pub fn decode(text: &str) -> Option<FormAnswer> {
        if text.is_empty() { None } else { serde_json::from_str(text).ok() }
    }
}

/// A page's answers to forms in its server-rendered cards: the last one, and how many
/// there were (the page reads its data again when that count moves). Copy.
#[derive(Clone, Copy)]
pub struct Answers {
    last: RwSignal<Option<FormAnswer>>,
    count: RwSignal<u64>,
}

impl Answers {
    /// On the server, a form posted without JavaScript and refused comes back with the
    /// error in the URL: it is the first answer (the browser's copy never needs it,
    /// since the server's rendering of it arrives with the page).
    #[allow(clippy::new_without_default)]
    pub fn new() -> Answers {
        #[cfg(feature = "ssr")]
        let refused = use_context::<leptos::server::ServerActionError>().map(|e| FormAnswer {
            path: e.path().to_string(),
            ok: None,
            error: Some(server_fn::error::ServerFnUrlError::<ActionError>::decode_err(e.err())),
        });
        #[cfg(not(feature = "ssr"))]
        let refused = None;
        Answers { last: RwSignal::new(refused), count: RwSignal::new(0) }
    }

    /// The last answer, for a load function's argument (untracked: [`count`] is what
    /// the page's resources follow).
    pub fn last(&self) -> String {
        FormAnswer::encode(self.last.get_untracked())
    }

    /// How many answers came (tracked).
    pub fn count(&self) -> u64 {
        self.count.get()
    }

    /// The submit handler of a container of server-rendered cards: posts the submitted
    /// form's fields (and the button that submitted it) to where the form posts, as
    /// the browser would, and keeps the answer.
    pub fn on_submit(self) -> impl Fn(leptos::ev::SubmitEvent) + Clone + Send + Sync + 'static {
        move |ev: leptos::ev::SubmitEvent| {
            if ev.default_prevented() {
                return;
            }
            #[cfg(feature = "hydrate")]
            {
                use wasm_bindgen::JsCast;
                let Some(path) = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                    .and_then(|form| form.get_attribute("action"))
                else {
                    return;
                };
                ev.prevent_default();
                let body = super::form_action::form_body(&ev);
                leptos::task::spawn_local(async move {
                    let answer = match body {
                        Some(body) => super::form_action::post(&path, body).await,
                        None => Err(super::form_action::unreadable_form()),
                    };
                    let (ok, error) = match answer {
                        Ok(text) => (Some(text), None),
                        Err(e) => (None, Some(e)),
                    };
                    self.last.set(Some(FormAnswer { path, ok, error }));
                    self.count.update(|n| *n += 1);
                });
            }
        }
    }
}

/// On the server: a server function's forms in a card it renders, and the answer the
/// page handed back if it was this function's.
#[cfg(feature = "ssr")]
pub struct Answered<S> {
    answer: Option<FormAnswer>,
    _function: std::marker::PhantomData<fn() -> S>,
}

#[cfg(feature = "ssr")]
impl<S> Clone for Answered<S> {
    fn clone(&self) -> Self {
        Answered { answer: self.answer.clone(), _function: std::marker::PhantomData }
    }
}

#[cfg(feature = "ssr")]
impl<S> Answered<S>
where
    S: server_fn::ServerFn<Error = ActionError>,
    S::Output: serde::de::DeserializeOwned,
{
    pub fn new(answer: Option<&FormAnswer>) -> Self {
        let answer = answer.filter(|a| a.path == S::url() || a.path == S::PATH).cloned();
        Answered { answer, _function: std::marker::PhantomData }
    }

    /// Where the function's forms post (their `action`).
    pub fn url(&self) -> &'static str {
        S::url()
    }

    /// The answer in the function's output type: None when the last answer was not
    /// this function's.
    pub fn result(&self) -> Option<Result<S::Output, ActionError>> {
        let answer = self.answer.as_ref()?;
        Some(match (&answer.error, &answer.ok) {
            (Some(e), _) => Err(e.clone()),
            (None, Some(text)) => super::form_action::read_answer(text),
            (None, None) => Err(ActionError::new("the answer was lost")),
        })
    }

    /// The refusal, if the last answer was this function's and it failed.
    pub fn error(&self) -> Option<ActionError> {
        self.answer.as_ref().and_then(|a| a.error.clone())
    }
}

/// The refusal as a card shows it under its forms.
#[cfg(feature = "ssr")]
pub fn error_view(error: Option<ActionError>) -> impl IntoView {
    error.map(|e| view! { <p class="error" role="alert">{crate::ui::components::error_text(&e)}</p> })
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::api::servers::{RetryJob, RotateBmcPassword};
    use server_fn::ServerFn;

    /// The page hands the server the answer to a Rotate the BMC password: the BMC card
    /// reads it as the job's number, and no other card takes it for its own.
    #[test]
    fn an_answer_belongs_to_the_function_that_gave_it() {
        let answer = FormAnswer { path: RotateBmcPassword::url().into(), ok: Some("42".into()), error: None };
        let back = FormAnswer::decode(&FormAnswer::encode(Some(answer.clone()))).expect("read back");
        assert_eq!(back, answer);
        assert_eq!(Answered::<RotateBmcPassword>::new(Some(&back)).result(), Some(Ok(42)));
        assert_eq!(Answered::<RetryJob>::new(Some(&back)).result(), None);
        assert_eq!(FormAnswer::decode("not json"), None);
    }
}
