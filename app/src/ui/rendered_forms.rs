//! Forms inside cards the server renders: one submit handler in the browser for all
//! of them, and each answer handed back to the server, which shows it in its card.
//!
//! Why: a card drawn in the browser compiles its view and its functions' answer types
//! into the wasm, and the server page's cards (status, processes, power, BMC access,
//! hardware changes, job, operating system) were about 80 KB of its brotli. Here the
//! server renders them with plain forms, which post without JavaScript as before;
//! with JavaScript a submit inside such a card is posted by [`Answers`] through the
//! same untyped request as `FormAction` (`form_action::post_answer`), and the page reads its
//! data again with the answer, so the card shows the outcome (or the refusal, under
//! its fields) where the form is.

#[cfg(feature = "ssr")]
use crate::api::ActionError;
use leptos::prelude::*;

/// The last form answer on a page, as the page hands it to the server to render: plain
/// text (the browser only passes it on, so the wasm holds no code to write it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FormAnswer {
    /// Where the form posted: its server function's URL.
    pub path: String,
    /// The function's answer as its JSON text, when it succeeded.
    pub ok: Option<String>,
    /// The refusal as the function's JSON text; empty when Rackstate could not be
    /// reached.
    pub error: Option<String>,
}

impl FormAnswer {
    /// As a load function's arguments (path, ok, error; "" for none).
    pub fn args(answer: Option<FormAnswer>) -> (String, String, String) {
        match answer {
            None => Default::default(),
            Some(a) => (a.path, a.ok.unwrap_or_default(), a.error.unwrap_or_default()),
        }
    }

    /// The arguments read back: None without a path.
    pub fn from_args(path: String, ok: String, error: String) -> Option<FormAnswer> {
        if path.is_empty() {
            return None;
        }
        let failed = !error.is_empty() || ok.is_empty();
        Some(FormAnswer { path, ok: (!failed).then_some(ok), error: failed.then_some(error) })
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
        let refused = use_context::<leptos::server::ServerActionError>().map(|e| {
            let error = server_fn::error::ServerFnUrlError::<ActionError>::decode_err(e.err());
            FormAnswer { path: e.path().to_string(), ok: None, error: serde_json::to_string(&error).ok() }
        });
        #[cfg(not(feature = "ssr"))]
        let refused = None;
        Answers { last: RwSignal::new(refused), count: RwSignal::new(0) }
    }

    /// The last answer, as a load function's arguments (untracked: [`count`] is what
    /// the page's resources follow).
    pub fn last(&self) -> (String, String, String) {
        FormAnswer::args(self.last.get_untracked())
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
                        Some(body) => super::form_action::post_answer(&path, body).await,
                        None => Err(super::form_action::unreadable_form()),
                    };
                    let (ok, error) = match answer {
                        Ok(Ok(text)) => (Some(text), None),
                        Ok(Err(refusal)) => (None, Some(refusal)),
                        Err(_) => (None, Some(String::new())),
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
            (Some(e), _) => Err(refusal(e)),
            (None, Some(text)) => super::form_action::read_answer(text),
            (None, None) => Err(refusal("")),
        })
    }

    /// The refusal, if the last answer was this function's and it failed.
    pub fn error(&self) -> Option<ActionError> {
        self.result().and_then(Result::err)
    }
}

/// A refusal as the function wrote it; "" (or text that is not one): the page could not
/// reach Rackstate, so whether the form took effect is unknown.
#[cfg(feature = "ssr")]
fn refusal(text: &str) -> ActionError {
    serde_json::from_str(text).unwrap_or_else(|_| {
        ActionError::new(
            "Rackstate could not be reached when the form was sent: it may not have taken effect. \
             Check what the page shows now and send it again if needed.",
        )
    })
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

    fn path_of<S: ServerFn>() -> String {
        S::url().to_string()
    }

    /// The page hands the server the answer to a Rotate the BMC password: the BMC card
    /// reads it as the job's number, and no other card takes it for its own.
    #[test]
    fn an_answer_belongs_to_the_function_that_gave_it() {
        let answer = FormAnswer { path: RotateBmcPassword::url().into(), ok: Some("42".into()), error: None };
        let (path, ok, error) = FormAnswer::args(Some(answer.clone()));
        let back = FormAnswer::from_args(path, ok, error).expect("read back");
        assert_eq!(back, answer);
        assert_eq!(Answered::<RotateBmcPassword>::new(Some(&back)).result(), Some(Ok(42)));
        assert_eq!(Answered::<RetryJob>::new(Some(&back)).result(), None);
        assert_eq!(FormAnswer::from_args(String::new(), "1".into(), String::new()), None);
        let lost = FormAnswer::from_args(path_of::<RetryJob>(), String::new(), String::new());
        let refused = Answered::<RetryJob>::new(lost.as_ref()).error().expect("a lost answer is not a success");
        assert!(refused.message.contains("may not have taken effect"), "{refused:?}");
    }
}
