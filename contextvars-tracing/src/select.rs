//! Choosing the variables, once: the formats and span layers are made from the choice.

use std::borrow::Cow;
use std::fmt::{self, Display};

use contextvars::registry::{self, Registration};
use contextvars::{ContextVar, VarSet};
use tracing::Level;

use crate::SpanTemplate;
use crate::fields::{Selection, classify_display};

/// The context variables to write on log lines and spans: choose them once, then make the
/// [event format](Self::format) (or the [JSON one](Self::json)), the [span
/// layer](Self::span_layer) and [span templates](Self::span_template) from the same choice;
/// see the [crate documentation](crate).
///
/// Cloning is cheap. Only [`span_template`](Self::span_template) is available with
/// `default-features = false`, which needs `tracing` alone.
///
/// ```
/// use contextvars::ContextVar;
/// use contextvars_tracing::ContextFields;
/// use tracing_subscriber::prelude::*;
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
/// static SESSION_TOKEN: ContextVar<String> = ContextVar::new("session_token");
///
/// let fields = ContextFields::new().var(&REQUEST_ID).skip(&SESSION_TOKEN);
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer().event_format(fields.format()))
///     .with(fields.span_layer());
/// # drop(subscriber);
/// ```
#[derive(Clone)]
pub struct ContextFields {
    pub(crate) selection: Selection,
}

/// What [`ContextFields::skip`] takes: a variable, or the name it was declared with.
pub trait SkipVar {
    /// The variable's name, as declared.
    fn var_name(self) -> &'static str;
}

impl<T> SkipVar for &'static ContextVar<T> {
    fn var_name(self) -> &'static str {
        self.name()
    }
}

impl SkipVar for &'static str {
    fn var_name(self) -> &'static str {
        self
    }
}

impl ContextFields {
    /// No variables yet.
    #[must_use]
    pub fn new() -> ContextFields {
        ContextFields {
            selection: Selection::new(),
        }
    }

    /// Adds `var`, named after the variable in lower case (`REQUEST_ID` gives `request_id`),
    /// on lines logged where it is set. Its default does not count: outside a request, a
    /// request id is not written.
    #[must_use]
    pub fn var<T>(self, var: &'static ContextVar<T>) -> ContextFields
    where
        T: Display + Send + Sync + 'static,
    {
        let name = var.name().to_lowercase();
        self.var_named(name, var)
    }

    /// Adds `var`, written under `name`.
    #[must_use]
    pub fn var_named<T>(
        mut self,
        name: impl Into<Cow<'static, str>>,
        var: &'static ContextVar<T>,
    ) -> ContextFields
    where
        T: Display + Send + Sync + 'static,
    {
        self.selection.push_typed(name.into(), var);
        self
    }

    /// Adds the declared variables of `vars`, such as `module_vars!(crate::request)` or a
    /// set made from [`registry::all`] filtered by module, each under its name in lower case,
    /// in the order of their names.
    #[must_use]
    pub fn vars(mut self, vars: &VarSet) -> ContextFields {
        let mut vars: Vec<&'static Registration> = vars.iter().collect();
        vars.sort_by_key(|reg| (reg.name(), reg.module_path()));
        for reg in vars {
            self.selection.push_registered(reg);
        }
        self
    }

    /// Adds every variable declared with `#[context_var]` in the program.
    #[must_use]
    pub fn registered(self) -> ContextFields {
        let all = VarSet::new(registry::all().collect());
        self.vars(&all)
    }

    /// Never writes `var` (a secret, such as a session token), whether it was chosen before
    /// this call or is chosen after it, by any of the methods above: give the variable
    /// (`.skip(&SESSION_TOKEN)`) or its declared name (`.skip("SESSION_TOKEN")`, for a
    /// variable of another crate). Matches by the variable's name, so every variable of that
    /// name stays out.
    #[must_use]
    pub fn skip(mut self, var: impl SkipVar) -> ContextFields {
        self.selection.secret(var.var_name());
        self
    }

    /// In JSON lines, puts the variables in one object under `key` (`"context":{…}`) instead
    /// of at the top level, where their keys may then be ones the JSON format writes itself;
    /// the key is left out when no variable is set. Text lines are not affected.
    ///
    /// [`json`](Self::json) panics when `key` is one the JSON format writes itself, such as
    /// `fields`.
    #[must_use]
    pub fn nest_under(mut self, key: impl Into<Cow<'static, str>>) -> ContextFields {
        self.selection.nest = Some(key.into());
        self
    }

    /// Lets declared variables of type `T` or `Option<T>` be written with `T`'s `Display`
    /// (strings, numbers, `bool` and `char` are known already).
    #[must_use]
    pub fn display_type<T: Display + Send + Sync + 'static>(mut self) -> ContextFields {
        self.selection.classifiers.push(classify_display::<T>);
        self
    }

    /// A [`SpanTemplate`] that opens spans named `name`, with target `target` and level
    /// `level`, that declare the fields `fixed` and then the chosen variables.
    #[must_use]
    pub fn span_template(
        &self,
        name: &'static str,
        target: &'static str,
        level: Level,
        fixed: &[&'static str],
    ) -> SpanTemplate {
        SpanTemplate::new(self.selection.clone(), name, target, level, fixed)
    }
}

#[cfg(feature = "subscriber")]
impl ContextFields {
    /// An event format that writes the chosen variables at the end of tracing-subscriber's
    /// default text line (` name=value`); see [`ContextFormat`](crate::ContextFormat) for
    /// another wrapped format and colours.
    #[cfg_attr(docsrs, doc(cfg(feature = "subscriber")))]
    #[must_use]
    pub fn format(&self) -> crate::ContextFormat {
        crate::ContextFormat::text(self.selection.clone())
    }

    /// An event format that writes JSON lines: tracing-subscriber's JSON format
    /// (`timestamp`, `level`, `fields`, `target`), with every chosen variable bound in the
    /// current context as a key of the line's object, named after the variable.
    ///
    /// Each variable appears once per line: this format leaves out tracing-subscriber's
    /// current span (`span`) and span list (`spans`), where the [span
    /// layer](Self::span_layer) would repeat the variables. To keep them, give the format
    /// back with [`ContextFormat::with_format`](crate::ContextFormat::with_format):
    /// `.json().with_format(tracing_subscriber::fmt::format().json().with_current_span(true)
    /// .with_span_list(true))` (the variables then also appear there when the span layer
    /// records them). With OpenTelemetry, `trace_ids` (feature `opentelemetry`) names the span
    /// a line was logged in.
    ///
    /// Strings become JSON strings, numbers and `bool`s JSON numbers and booleans, other
    /// values the JSON string of their `Display`. Use tracing-subscriber's JSON field
    /// formatter too (`tracing_subscriber::fmt().json()` sets it), so that span fields are
    /// JSON.
    ///
    /// # Panics
    /// When a chosen variable's key is one the format writes itself (`timestamp`, `level`,
    /// `fields`, `message`, `target`, `span`, `spans`, `filename`, `line_number`,
    /// `threadName`, `threadId`, `thread_name`, `thread_id`), or when two variables share a
    /// key: every line is an object with unique keys whose `level`, `target`, `timestamp` and
    /// `fields` are the event's own. The message names the variable and the fix
    /// (`var_named`, [`nest_under`](Self::nest_under) or `skip`). Variables nested under one
    /// key are checked only against each other, and the key against the format's.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    #[must_use]
    #[track_caller]
    pub fn json(
        &self,
    ) -> crate::ContextFormat<
        tracing_subscriber::fmt::format::Json,
        tracing_subscriber::fmt::time::SystemTime,
    > {
        crate::ContextFormat::json(self.selection.clone())
    }

    /// A [`tracing_subscriber::Layer`] that records the chosen variables on every new span;
    /// see [`ContextSpanLayer`](crate::ContextSpanLayer).
    #[cfg_attr(docsrs, doc(cfg(feature = "subscriber")))]
    #[must_use]
    pub fn span_layer(&self) -> crate::ContextSpanLayer {
        crate::ContextSpanLayer::new(self.selection.clone())
    }
}

impl Default for ContextFields {
    fn default() -> ContextFields {
        ContextFields::new()
    }
}

impl fmt::Debug for ContextFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ContextFields")
            .field(&self.selection)
            .finish()
    }
}
