//! Context variables as fields of every log line written through
//! [`tracing_subscriber::fmt()`].
//!
//! [`ContextFields`] wraps an event formatter and appends ` name=value` to each line for every
//! chosen variable that the current context binds: the request id of the request that logged
//! the line, with no code at the call sites. The subscriber formats an event on the thread that
//! emits it, inside the emitting task's context, so each line carries the values of the code
//! that wrote it, also under a multi-thread runtime and with non-blocking writers (which
//! format first and only then hand the bytes over).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! use contextvars::ContextVar;
//! use contextvars_tracing::ContextFields;
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//! static USER_ID: ContextVar<u64> = ContextVar::new("user_id");
//!
//! # #[derive(Clone, Default)]
//! # struct Buffer(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Buffer {
//! #     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
//! #         self.0.lock().unwrap().write(bytes)
//! #     }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let buffer = Buffer::default();
//! # let log = buffer.clone();
//! let format = ContextFields::new()
//!     .var(&REQUEST_ID)
//!     .var(&USER_ID)
//!     .with_format(tracing_subscriber::fmt::format().without_time());
//! let subscriber = tracing_subscriber::fmt()
//!     .event_format(format)
//! #   .with_writer(move || log.clone())
//!     .finish();
//!
//! tracing::subscriber::with_default(subscriber, || {
//!     let _id = REQUEST_ID.set("r-42".into());
//!     tracing::info!("handled");
//! });
//! # let lines = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
//! // INFO rust_out: handled request_id=r-42   (USER_ID is not set: no field)
//! # assert!(lines.trim_end().ends_with("handled request_id=r-42"), "{lines}");
//! ```
//!
//! Declared variables can be chosen by module: `.vars(&get_context_vars!(crate::request))`, or
//! all of them with [`ContextFields::registered`]. Their values are written when their type is
//! one of the common ones (strings, numbers, `bool`, `char`, and `Option`s of those) or was
//! named with [`ContextFields::display_type`].
//!
//! The fields go at the end of the line, so this suits the text formats (full, compact,
//! pretty), not JSON. The wrapped formatter writes without ANSI colours: tracing-subscriber
//! does not let a wrapper pass its writer's colour setting on.

use std::any::Any;
use std::borrow::Cow;
use std::fmt::{self, Display};
use std::sync::Arc;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use contextvars::registry::{self, Registration};
use contextvars::{ContextVar, VarSet};

/// An event formatter that appends the chosen context variables to every line; see the
/// [crate documentation](crate).
///
/// Give it to [`tracing_subscriber::fmt::SubscriberBuilder::event_format`] or
/// [`tracing_subscriber::fmt::Layer::event_format`].
#[derive(Clone)]
pub struct ContextFields<F = Format> {
    inner: F,
    fields: Vec<Field>,
    types: Vec<Displayer>,
}

#[derive(Clone)]
struct Field {
    name: Cow<'static, str>,
    source: Source,
}

/// Calls its argument with the value of the variable in the current context, if bound.
type WithTyped = dyn Fn(&mut dyn FnMut(&dyn Display) -> fmt::Result) -> fmt::Result + Send + Sync;

#[derive(Clone)]
enum Source {
    Typed(Arc<WithTyped>),
    Registered(&'static Registration),
}

/// Finds out whether a value is of one type, and what to write for it.
type Displayer = for<'a> fn(&'a (dyn Any + Send + Sync)) -> Shown<'a>;

enum Shown<'a> {
    /// The value is of another type.
    OtherType,
    /// The value is a `None`: no field.
    Nothing,
    Value(&'a dyn Display),
}

fn display_as<T: Display + 'static>(value: &(dyn Any + Send + Sync)) -> Shown<'_> {
    match value.downcast_ref::<T>() {
        Some(value) => Shown::Value(value),
        None => Shown::OtherType,
    }
}

fn display_option<T: Display + 'static>(value: &(dyn Any + Send + Sync)) -> Shown<'_> {
    match value.downcast_ref::<Option<T>>() {
        Some(Some(value)) => Shown::Value(value),
        Some(None) => Shown::Nothing,
        None => Shown::OtherType,
    }
}

macro_rules! displayers {
    ($($ty:ty),* $(,)?) => {
        vec![$(display_as::<$ty> as Displayer, display_option::<$ty> as Displayer),*]
    };
}

fn common_types() -> Vec<Displayer> {
    displayers![
        String,
        &'static str,
        Arc<str>,
        Box<str>,
        Cow<'static, str>,
        u64,
        u32,
        usize,
        i64,
        i32,
        isize,
        u128,
        i128,
        u16,
        i16,
        u8,
        i8,
        f64,
        f32,
        bool,
        char,
    ]
}

impl ContextFields {
    /// No variables yet, around tracing-subscriber's default format.
    #[must_use]
    pub fn new() -> ContextFields {
        ContextFields {
            inner: Format::default(),
            fields: Vec::new(),
            types: common_types(),
        }
    }
}

impl Default for ContextFields {
    fn default() -> ContextFields {
        ContextFields::new()
    }
}

impl<F> ContextFields<F> {
    /// The same fields around another event formatter, such as
    /// `tracing_subscriber::fmt::format().compact()`.
    #[must_use]
    pub fn with_format<G>(self, inner: G) -> ContextFields<G> {
        ContextFields {
            inner,
            fields: self.fields,
            types: self.types,
        }
    }

    /// Adds `var`, written as `name=value` with the variable's name in lower case
    /// (`REQUEST_ID` gives `request_id`), on lines logged where it is set. Its default does not
    /// count: outside a request, a request id is not written.
    #[must_use]
    pub fn var<T>(self, var: &'static ContextVar<T>) -> ContextFields<F>
    where
        T: Display + Send + Sync + 'static,
    {
        let name = var.name().to_lowercase();
        self.var_named(name, var)
    }

    /// Adds `var`, written as `name=value`.
    #[must_use]
    pub fn var_named<T>(
        mut self,
        name: impl Into<Cow<'static, str>>,
        var: &'static ContextVar<T>,
    ) -> ContextFields<F>
    where
        T: Display + Send + Sync + 'static,
    {
        let with = move |f: &mut dyn FnMut(&dyn Display) -> fmt::Result| {
            if var.is_set() {
                var.with(|value| value.map_or(Ok(()), |value| f(value)))
            } else {
                Ok(())
            }
        };
        self.fields.push(Field {
            name: name.into(),
            source: Source::Typed(Arc::new(with)),
        });
        self
    }

    /// Adds the declared variables of `vars`, such as `get_context_vars!(crate::request)`,
    /// each under its name in lower case, in the order of their names.
    #[must_use]
    pub fn vars(mut self, vars: &VarSet) -> ContextFields<F> {
        let mut vars: Vec<_> = vars.iter().collect();
        vars.sort_by_key(|reg| (reg.name(), reg.module_path()));
        for reg in vars {
            self.fields.push(Field {
                name: reg.name().to_lowercase().into(),
                source: Source::Registered(reg),
            });
        }
        self
    }

    /// Adds every variable declared with `#[context_var]` in the program.
    #[must_use]
    pub fn registered(self) -> ContextFields<F> {
        let all = VarSet::new(registry::all().collect());
        self.vars(&all)
    }

    /// Lets declared variables of type `T` or `Option<T>` be written (the common types are
    /// known already).
    #[must_use]
    pub fn display_type<T: Display + Send + Sync + 'static>(mut self) -> ContextFields<F> {
        self.types.push(display_as::<T>);
        self.types.push(display_option::<T>);
        self
    }

    /// Writes ` name=value` for every chosen variable bound in the current context.
    fn write_fields(&self, out: &mut impl fmt::Write) -> fmt::Result {
        for field in &self.fields {
            let mut write = |value: &dyn Display| write!(out, " {}={value}", field.name);
            match &field.source {
                Source::Typed(with) => with(&mut write)?,
                Source::Registered(reg) => reg.with_value(|value| {
                    let shown = value.and_then(|value| {
                        self.types
                            .iter()
                            .map(|displayer| displayer(value))
                            .find(|shown| !matches!(shown, Shown::OtherType))
                    });
                    match shown {
                        Some(Shown::Value(value)) => write(value),
                        _ => Ok(()),
                    }
                })?,
            }
        }
        Ok(())
    }
}

impl<S, N, F> FormatEvent<S, N> for ContextFields<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = HoldNewline {
            out: writer.by_ref(),
            held: false,
        };
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let HoldNewline { mut out, held } = line;
        self.write_fields(&mut out)?;
        if held {
            out.write_char('\n')?;
        }
        Ok(())
    }
}

/// Passes text through, except a newline at the end of what was written so far, which it
/// holds back: the fields go before the line's end.
struct HoldNewline<'w> {
    out: Writer<'w>,
    held: bool,
}

impl fmt::Write for HoldNewline<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if text.is_empty() {
            return Ok(());
        }
        if std::mem::take(&mut self.held) {
            self.out.write_char('\n')?;
        }
        match text.strip_suffix('\n') {
            Some(text) => {
                self.held = true;
                self.out.write_str(text)
            }
            None => self.out.write_str(text),
        }
    }
}

impl<F: fmt::Debug> fmt::Debug for ContextFields<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextFields")
            .field("inner", &self.inner)
            .field(
                "fields",
                &self
                    .fields
                    .iter()
                    .map(|field| &field.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    static ID: ContextVar<u64> = ContextVar::with_default("ID", || 0);

    fn log_with(format: ContextFields, f: impl FnOnce()) -> Vec<String> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(format.with_format(tracing_subscriber::fmt::format().without_time()))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        buffer.lines()
    }

    #[test]
    fn fields_only_where_set_and_defaults_do_not_count() {
        let lines = log_with(ContextFields::new().var(&ID), || {
            tracing::info!("before");
            let _id = ID.set(7);
            tracing::info!(answer = 42, "during");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].ends_with("before"), "{lines:?}");
        assert!(lines[1].ends_with("during answer=42 id=7"), "{lines:?}");
    }

    #[test]
    fn multi_line_messages_keep_the_fields_on_the_last_line() {
        let lines = log_with(ContextFields::new().var_named("req", &ID), || {
            let _id = ID.set(3);
            tracing::info!("one\ntwo");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[1].ends_with("two req=3"), "{lines:?}");
    }

    mod declared {
        use std::fmt::{self, Display};

        use contextvars::context_var;

        #[context_var(default = None)]
        pub static LABEL: Option<String>;

        pub struct Money(pub u32);

        impl Display for Money {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "${}", self.0)
            }
        }

        #[context_var(default = Money(0))]
        pub static PRICE: Money;
    }

    #[test]
    fn option_values_are_written_only_when_some() {
        use declared::LABEL;
        let format = ContextFields::new().vars(&contextvars::module_vars!(self::declared));
        let lines = log_with(format, || {
            let _none = LABEL.set(None);
            tracing::info!("none");
            let _some = LABEL.set(Some("x".into()));
            tracing::info!("some");
        });
        assert!(lines[0].ends_with("none"), "{lines:?}");
        assert!(lines[1].ends_with("some label=x"), "{lines:?}");
    }

    #[test]
    fn declared_values_of_other_types_need_display_type() {
        use declared::{Money, PRICE};
        let vars = contextvars::module_vars!(self::declared);
        let log = |format: ContextFields| {
            log_with(format, || {
                let _price = PRICE.set(Money(5));
                tracing::info!("sold");
            })
        };
        assert!(log(ContextFields::new().vars(&vars))[0].ends_with("sold"));
        let lines = log(ContextFields::new().vars(&vars).display_type::<Money>());
        assert!(lines[0].ends_with("sold price=$5"), "{lines:?}");
    }
}
