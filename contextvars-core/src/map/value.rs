//! Stored values, and the record of a variable that every one of its bindings points to.
//!
//! A binding is two words beside its key: the value's word and a pointer to its variable's
//! [`Meta`]. The word holds a plain value of at most eight bytes itself ([`InlineValue`]), or
//! points to a [`Stored`] allocation: a reference count and the value. Which of the two, and how
//! to view, compare and drop the value, comes from the `Meta`, made once per variable name,
//! inheritance and value type (see [`Meta::of`]).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::sync::{Mutex, PoisonError};

/// A stored value: any `Send + Sync + 'static` type, with its type name for diagnostics.
pub(crate) trait Value: Any + Send + Sync {
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    fn type_name(&self) -> &'static str;
    /// Whether this is an [`InlineValue`], which lives in its map entry and moves with it.
    fn is_inline(&self) -> bool {
        false
    }
}

/// A value that is not stored inline: its reference count and the value, in one allocation
/// shared by every snapshot that holds it. The count comes first (`repr(C)`), so a
/// [`ValueRef`] counts without knowing `T`.
#[repr(C)]
pub(crate) struct Stored<T> {
    count: AtomicUsize,
    value: T,
}

impl<T: Any + Send + Sync> Value for Stored<T> {
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        &self.value
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// Whether `T` is one of the primitive types whose clone is a bitwise copy that runs no user
/// code and whose values have no interior mutability: integers, floats, `bool`, `char`, `()`.
/// Decided at compile time (the comparisons of constant type ids fold away).
#[inline]
pub(crate) fn is_plain<T: Any>() -> bool {
    let id = TypeId::of::<T>();
    id == TypeId::of::<u64>()
        || id == TypeId::of::<u32>()
        || id == TypeId::of::<usize>()
        || id == TypeId::of::<i64>()
        || id == TypeId::of::<i32>()
        || id == TypeId::of::<isize>()
        || id == TypeId::of::<u16>()
        || id == TypeId::of::<u8>()
        || id == TypeId::of::<i16>()
        || id == TypeId::of::<i8>()
        || id == TypeId::of::<u128>()
        || id == TypeId::of::<i128>()
        || id == TypeId::of::<bool>()
        || id == TypeId::of::<char>()
        || id == TypeId::of::<f64>()
        || id == TypeId::of::<f32>()
        || id == TypeId::of::<()>()
}

/// Whether values of `T` are stored inline, as an [`InlineValue`]: the plain types of at most
/// eight bytes. Everything else is stored behind a pointer, in a [`Stored`].
#[inline]
pub(crate) fn is_inline<T: Any>() -> bool {
    is_plain::<T>()
        && std::mem::size_of::<T>() <= std::mem::size_of::<u64>()
        && std::mem::align_of::<T>() <= std::mem::align_of::<u64>()
}

/// What every binding of a variable shares: its name, whether children inherit it, and how its
/// values are stored. Bindings reach it through one pointer instead of each carrying a copy.
///
/// One record per distinct (name, `inherit`, value type), made the first time a variable with
/// that triple binds a value and kept for the life of the process: a context may hold a
/// binding after its variable is gone. Names are `&'static str`, so a program that makes
/// records without bound is one that already leaks names without bound; variables made at run
/// time with a fixed name share one record.
pub(crate) struct Meta {
    pub(crate) name: &'static str,
    pub(crate) inherit: bool,
    type_name: &'static str,
    type_id: TypeId,
    layout: Layout,
}

/// How a variable's values are kept, with the operations that depend on their type.
enum Layout {
    /// In the binding's word: see [`InlineValue`].
    Inline {
        as_any: for<'a> fn(&'a u64) -> &'a (dyn Any + Send + Sync),
    },
    /// In a [`Stored`] the word points to.
    Shared {
        /// The `dyn Value` of the `Stored` at the pointer.
        as_dyn: unsafe fn(*const ()) -> *const dyn Value,
        /// Drops and frees the `Stored` at the pointer, whose count reached zero.
        free: unsafe fn(*const ()),
    },
}

impl Meta {
    /// The record of variables named `name`, with this inheritance, holding `T`s; made on first
    /// request (see the type's docs). Called once per variable: the variable keeps it.
    #[cold]
    pub(crate) fn of<T: Any + Send + Sync>(name: &'static str, inherit: bool) -> &'static Meta {
        type Records = HashMap<(&'static str, bool, TypeId), &'static Meta>;
        static RECORDS: Mutex<Option<Records>> = Mutex::new(None);
        // The map is never left half-changed: a panic while holding the lock changed nothing.
        let mut records = RECORDS.lock().unwrap_or_else(PoisonError::into_inner);
        records
            .get_or_insert_with(HashMap::new)
            .entry((name, inherit, TypeId::of::<T>()))
            .or_insert_with(|| Box::leak(Box::new(Meta::new::<T>(name, inherit))))
    }

    fn new<T: Any + Send + Sync>(name: &'static str, inherit: bool) -> Meta {
        let layout = if is_inline::<T>() {
            Layout::Inline {
                as_any: inline_as_any::<T>,
            }
        } else {
            Layout::Shared {
                as_dyn: shared_as_dyn::<T>,
                free: shared_free::<T>,
            }
        };
        Meta {
            name,
            inherit,
            type_name: std::any::type_name::<T>(),
            type_id: TypeId::of::<T>(),
            layout,
        }
    }

    #[inline]
    fn is_inline(&self) -> bool {
        matches!(self.layout, Layout::Inline { .. })
    }
}

/// `bits` as the `T` written into them.
///
/// # Safety
/// `bits` must hold a `T` written by [`store`] (so `T` is inline).
unsafe fn inline_as<T>(bits: &u64) -> &T {
    // SAFETY: a `T` fits in and is no more aligned than a `u64` (`is_inline`), and `store`
    // wrote one at the start of `bits`.
    unsafe { &*std::ptr::from_ref(bits).cast::<T>() }
}

fn inline_as_any<T: Any + Send + Sync>(bits: &u64) -> &(dyn Any + Send + Sync) {
    // SAFETY: this function is only in the `Meta` of an inline `T` (`Meta::new`), and every
    // value stored with that record holds a `T` (`store`'s contract).
    unsafe { inline_as::<T>(bits) }
}

/// # Safety
/// `ptr` must point to a live `Stored<T>`.
unsafe fn shared_as_dyn<T: Any + Send + Sync>(ptr: *const ()) -> *const dyn Value {
    ptr.cast::<Stored<T>>() as *const dyn Value
}

/// # Safety
/// `ptr` must come from `store::<T>` and its count must have reached zero: nothing else
/// points to it.
unsafe fn shared_free<T>(ptr: *const ()) {
    // SAFETY: `store` made the allocation with `Box::new` of a `Stored<T>`; the caller's
    // guarantee makes this the only access.
    drop(unsafe { Box::from_raw(ptr.cast_mut().cast::<Stored<T>>()) });
}

/// A plain value of at most eight bytes, kept in its map entry: no allocation and no reference
/// count. The same layout as a [`ValueRef`] that holds it (both `repr(C)`), so a pointer to such
/// a `ValueRef` is a pointer to its `InlineValue`.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct InlineValue {
    /// The value's bytes at the start, zeros after.
    bits: u64,
    meta: &'static Meta,
}

impl Value for InlineValue {
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        match self.meta.layout {
            Layout::Inline { as_any } => as_any(&self.bits),
            Layout::Shared { .. } => unreachable!("an inline value of a shared type"),
        }
    }

    fn type_name(&self) -> &'static str {
        self.meta.type_name
    }

    fn is_inline(&self) -> bool {
        true
    }
}

/// The word of a binding: an inline value's bits, or a pointer to its [`Stored`].
#[derive(Clone, Copy)]
#[repr(C)]
union Word {
    bits: u64,
    ptr: *const (),
}

/// A value as a map holds it, with its variable's [`Meta`]: inline when plain and small, else
/// a counted pointer to a [`Stored`] shared by every snapshot that holds it and dropped with the
/// last. Two words.
#[repr(C)]
pub(crate) struct ValueRef {
    word: Word,
    meta: &'static Meta,
}

// SAFETY: the value is `Send + Sync` (`store`'s bound) and its count is atomic.
unsafe impl Send for ValueRef {}
// SAFETY: as for `Send`: a `&ValueRef` gives out only `&T` and count changes.
unsafe impl Sync for ValueRef {}

/// Wraps a value for storage in a map.
///
/// # Safety
/// `meta` must be a record for `T`: one [`Meta::of::<T>`] returned. Every value stored with a
/// record is then read as the record's type.
#[inline]
pub(crate) unsafe fn store<T: Any + Send + Sync>(value: T, meta: &'static Meta) -> ValueRef {
    debug_assert!(
        meta.type_id == TypeId::of::<T>(),
        "a record of another type"
    );
    if is_inline::<T>() {
        let mut bits = 0u64;
        // SAFETY: `T` fits in a `u64` and is no more aligned (`is_inline`); a plain `T` has no
        // destructor, so writing it into the bits and forgetting it loses nothing.
        unsafe { std::ptr::from_mut(&mut bits).cast::<T>().write(value) };
        return ValueRef {
            word: Word { bits },
            meta,
        };
    }
    let stored = Box::new(Stored {
        count: AtomicUsize::new(1),
        value,
    });
    ValueRef {
        word: Word {
            ptr: Box::into_raw(stored).cast_const().cast(),
        },
        meta,
    }
}

impl ValueRef {
    /// The record of the variable the value belongs to.
    #[inline]
    pub(crate) fn meta(&self) -> &'static Meta {
        self.meta
    }

    /// Whether the value lives behind a pointer, so that dropping this may run its `Drop`.
    #[inline]
    pub(crate) fn is_shared(&self) -> bool {
        !self.meta.is_inline()
    }

    /// The count of a shared value.
    ///
    /// # Safety
    /// The value must be shared.
    #[inline]
    unsafe fn count(&self) -> &AtomicUsize {
        // SAFETY: a shared value's word is a pointer to a live `Stored` (this holds one count),
        // whose first field is its count (`repr(C)`).
        unsafe { &*self.word.ptr.cast::<AtomicUsize>() }
    }

    /// The same stored value: the same allocation, or equal inline values of the same type.
    pub(crate) fn same(&self, other: &ValueRef) -> bool {
        match (self.is_shared(), other.is_shared()) {
            // SAFETY: both words are pointers (shared values).
            (true, true) => unsafe { std::ptr::eq(self.word.ptr, other.word.ptr) },
            // SAFETY: both words are bits (inline values).
            (false, false) => unsafe {
                self.word.bits == other.word.bits && self.meta.type_id == other.meta.type_id
            },
            _ => false,
        }
    }
}

impl Clone for ValueRef {
    #[inline]
    fn clone(&self) -> ValueRef {
        if self.is_shared() {
            // SAFETY: the value is shared. Relaxed, as `Arc` does: the new count is made from
            // one the caller holds, so the value cannot go meanwhile.
            let old = unsafe { self.count() }.fetch_add(1, Ordering::Relaxed);
            if old > isize::MAX as usize {
                // Only after ~2^63 leaked clones, as `Arc` guards it.
                std::process::abort();
            }
        }
        ValueRef {
            word: self.word,
            meta: self.meta,
        }
    }
}

impl Drop for ValueRef {
    #[inline]
    fn drop(&mut self) {
        let Layout::Shared { free, .. } = self.meta.layout else {
            return;
        };
        // SAFETY: the value is shared. Release, then Acquire before the free, as `Arc` does:
        // every use of the value through another count happens before it is dropped.
        if unsafe { self.count() }.fetch_sub(1, Ordering::Release) == 1 {
            fence(Ordering::Acquire);
            // SAFETY: the word is a pointer from `store` with this record's type (`store`'s
            // contract) and the count reached zero: this was the last reference.
            unsafe { free(self.word.ptr) };
        }
    }
}

impl std::ops::Deref for ValueRef {
    type Target = dyn Value;

    #[inline]
    fn deref(&self) -> &(dyn Value + 'static) {
        match self.meta.layout {
            // SAFETY: an inline `ValueRef` holds bits and has the layout of an `InlineValue`.
            Layout::Inline { .. } => unsafe { &*std::ptr::from_ref(self).cast::<InlineValue>() },
            // SAFETY: a shared word points to a live `Stored` of the record's type (this holds a
            // count), and the borrow of `self` keeps that count.
            Layout::Shared { as_dyn, .. } => unsafe { &*as_dyn(self.word.ptr) },
        }
    }
}

impl dyn Value {
    /// The stored `T`, without a type check.
    ///
    /// # Safety
    /// The value must have been stored as a `T`. Every value bound to a key is of the type of
    /// the one variable that owns the key (keys are never shared or reused, and only that
    /// variable's `set`, `reset` and default bind its key), so a `ContextVar<T>` may read its own
    /// key's values as `T`.
    #[inline]
    pub(crate) unsafe fn downcast_unchecked<T: Any>(&self) -> &T {
        debug_assert!(
            self.as_any().is::<T>(),
            "a `{}` read as a `{}`",
            self.type_name(),
            std::any::type_name::<T>()
        );
        let data = std::ptr::from_ref(self);
        if is_inline::<T>() {
            // SAFETY: a `T` is stored as an `InlineValue` holding it (`store`), so the pointer is
            // aligned for one.
            #[allow(clippy::cast_ptr_alignment)]
            return unsafe { inline_as::<T>(&(*data.cast::<InlineValue>()).bits) };
        }
        // SAFETY: any other `T` is stored as a `Stored<T>`; the data pointer of the trait
        // object points at it.
        unsafe { &(*data.cast::<Stored<T>>()).value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_binding_is_two_words() {
        assert_eq!(
            std::mem::size_of::<ValueRef>(),
            std::mem::size_of::<u64>() + std::mem::size_of::<usize>()
        );
        assert_eq!(
            std::mem::size_of::<Option<ValueRef>>(),
            std::mem::size_of::<ValueRef>()
        );
    }

    #[test]
    fn records_are_shared_by_name_inheritance_and_type() {
        let a = Meta::of::<u64>("value::tests::a", true);
        assert!(std::ptr::eq(a, Meta::of::<u64>("value::tests::a", true)));
        assert!(!std::ptr::eq(a, Meta::of::<u64>("value::tests::a", false)));
        assert!(!std::ptr::eq(a, Meta::of::<u32>("value::tests::a", true)));
        assert!(!std::ptr::eq(a, Meta::of::<u64>("value::tests::b", true)));
    }

    #[test]
    fn shared_values_are_dropped_with_their_last_reference() {
        let meta = Meta::of::<Arc<str>>("value::tests::shared", true);
        let inner: Arc<str> = Arc::from("shared");
        // SAFETY: the record is for `Arc<str>`.
        let value = unsafe { store(inner.clone(), meta) };
        let copy = value.clone();
        assert!(value.is_shared() && value.same(&copy));
        assert_eq!(Arc::strong_count(&inner), 2);
        drop(value);
        assert_eq!(Arc::strong_count(&inner), 2);
        // SAFETY: stored as an `Arc<str>`.
        let read = unsafe { copy.downcast_unchecked::<Arc<str>>() };
        assert_eq!(&**read, "shared");
        assert_eq!(copy.type_name(), std::any::type_name::<Arc<str>>());
        drop(copy);
        assert_eq!(Arc::strong_count(&inner), 1);
    }

    #[test]
    fn inline_values_compare_by_bits_and_type() {
        let meta = Meta::of::<u32>("value::tests::inline", true);
        // SAFETY: the record is for `u32`.
        let (a, b, c) = unsafe { (store(7u32, meta), store(7u32, meta), store(8u32, meta)) };
        assert!(!a.is_shared() && a.same(&b) && !a.same(&c));
        assert_eq!(a.as_any().downcast_ref::<u32>(), Some(&7));
        let copy = c.clone();
        // SAFETY: stored as a `u32`.
        assert_eq!(*unsafe { copy.downcast_unchecked::<u32>() }, 8);
    }
}
