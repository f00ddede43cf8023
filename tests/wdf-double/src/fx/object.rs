//! The object header every framework object starts with: kind, liveness, owning driver, typed
//! contexts and the attributes' callbacks; handle checks; allocation that fails instead of
//! panicking.
//!
//! # Invariants
//! - A handle the double gives out is the address of a live `#[repr(C)]` object whose first
//!   field is its [`Header`], with `magic == MAGIC` until the object is destroyed.
//! - Contexts are zeroed pool blocks owned by the header, freed with it.

use super::loader::Globals;
use super::report::{fatal, Who};
use crate::logic::validate::status;
use alloc::alloc::{alloc, alloc_zeroed, dealloc, Layout};
use alloc::boxed::Box;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use lock_api::Mutex;
use wdk_sys_standin::{
    NTSTATUS, PCWDF_OBJECT_CONTEXT_TYPE_INFO, PFN_WDF_OBJECT_CONTEXT_CLEANUP, PFN_WDF_OBJECT_CONTEXT_DESTROY,
    WDF_OBJECT_ATTRIBUTES, WDF_OBJECT_CONTEXT_TYPE_INFO,
};
use wsksock_nt::spin::RawSpinLock;

/// A spin-locked value.
pub type SpinMutex<T> = Mutex<RawSpinLock, T>;

const MAGIC: u32 = u32::from_le_bytes(*b"WDFo");
const DEAD: u32 = u32::from_le_bytes(*b"dead");

/// The kinds of objects the double makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// `WDFDRIVER`.
    Driver = 1,
    /// `WDFDEVICE`.
    Device,
    /// `WDFQUEUE`.
    Queue,
    /// `WDFREQUEST`.
    Request,
    /// `WDFFILEOBJECT`.
    File,
}

/// One typed context: its type's unique key and a zeroed block.
struct Context {
    unique: PCWDF_OBJECT_CONTEXT_TYPE_INFO,
    data: NonNull<u8>,
    layout: Layout,
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: 1. allocated in `Context::new` with this layout, freed once (here).
        unsafe { dealloc(self.data.as_ptr(), self.layout) };
    }
}

/// The key a context type is looked up by (`UniqueType`, or what
/// `EvtDriverGetUniqueContextType` returns, or the type info itself).
fn unique(t: &WDF_OBJECT_CONTEXT_TYPE_INFO) -> PCWDF_OBJECT_CONTEXT_TYPE_INFO {
    if let Some(get) = t.EvtDriverGetUniqueContextType {
        // SAFETY: 1. the driver's callback, which returns its static type info.
        return unsafe { get() };
    }
    if t.UniqueType.is_null() {
        core::ptr::from_ref(t)
    } else {
        t.UniqueType
    }
}

impl Context {
    fn new(t: &WDF_OBJECT_CONTEXT_TYPE_INFO, size_override: usize) -> Option<Context> {
        let size = t.ContextSize.max(size_override).max(1);
        let layout = Layout::from_size_align(size, 16).ok()?;
        // SAFETY: 1. a non-zero size.
        let data = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        Some(Context {
            unique: unique(t),
            data,
            layout,
        })
    }
}

// SAFETY: 1. the raw pointers are a static type key and an owned block.
unsafe impl Send for Context {}

/// The first field of every object.
#[repr(C)]
pub struct Header {
    magic: AtomicU32,
    kind: Kind,
    globals: NonNull<Globals>,
    contexts: SpinMutex<[Option<Context>; 2]>,
    cleanup: PFN_WDF_OBJECT_CONTEXT_CLEANUP,
    destroy: PFN_WDF_OBJECT_CONTEXT_DESTROY,
}

/// A framework object: `#[repr(C)]` with its [`Header`] first.
///
/// # Safety
/// Implementors are `#[repr(C)]` structs whose first field is their `Header`, of kind `KIND`.
pub unsafe trait Object: Sized {
    /// The kind its handles carry.
    const KIND: Kind;
    /// Its header.
    fn header(&self) -> &Header;
    /// Its handle.
    fn handle(&self) -> *mut c_void {
        core::ptr::from_ref(self).cast_mut().cast()
    }
}

impl Header {
    /// A header for a new object of `globals`' driver.
    pub fn new(kind: Kind, globals: NonNull<Globals>) -> Header {
        Header {
            magic: AtomicU32::new(MAGIC),
            kind,
            globals,
            contexts: SpinMutex::new([None, None]),
            cleanup: None,
            destroy: None,
        }
    }

    /// The kind of object.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The driver this object belongs to.
    pub fn globals(&self) -> &Globals {
        // SAFETY: 1. the driver's globals outlive its objects (they are freed at unbind, after
        // the framework deleted every object).
        unsafe { self.globals.as_ref() }
    }

    /// The name the driver goes by in reports.
    pub fn who(&self) -> Who<'_> {
        self.globals().who()
    }

    /// Takes the callbacks and the context of checked `attributes`.
    pub fn adopt(&mut self, attributes: Option<&WDF_OBJECT_ATTRIBUTES>) -> Result<(), NTSTATUS> {
        let Some(a) = attributes else {
            return Ok(());
        };
        self.cleanup = a.EvtCleanupCallback;
        self.destroy = a.EvtDestroyCallback;
        // SAFETY: 1. NULL or the driver's type info, checked by the attribute validation.
        if let Some(t) = unsafe { a.ContextTypeInfo.as_ref() } {
            let c = Context::new(t, a.ContextSizeOverride).ok_or(status::INSUFFICIENT_RESOURCES)?;
            self.contexts.get_mut()[0] = Some(c);
        }
        Ok(())
    }

    /// The context of type `t`, or null.
    pub fn context(&self, t: &WDF_OBJECT_CONTEXT_TYPE_INFO) -> *mut c_void {
        let key = unique(t);
        self.contexts
            .lock()
            .iter()
            .flatten()
            .find(|c| c.unique == key)
            .map_or(core::ptr::null_mut(), |c| c.data.as_ptr().cast())
    }

    /// `WdfObjectAllocateContext`: a new context of type `t` (`Ok((ptr, true))` if the object
    /// already had one of that type, which is returned).
    pub fn add_context(
        &self,
        t: &WDF_OBJECT_CONTEXT_TYPE_INFO,
        size_override: usize,
    ) -> Result<(*mut c_void, bool), NTSTATUS> {
        let key = unique(t);
        let mut contexts = self.contexts.lock();
        if let Some(c) = contexts.iter().flatten().find(|c| c.unique == key) {
            return Ok((c.data.as_ptr().cast(), true));
        }
        let slot = contexts
            .iter_mut()
            .find(|c| c.is_none())
            .ok_or(status::INSUFFICIENT_RESOURCES)?;
        let c = Context::new(t, size_override).ok_or(status::INSUFFICIENT_RESOURCES)?;
        let data = c.data.as_ptr().cast();
        *slot = Some(c);
        Ok((data, false))
    }
}

/// The header behind any `handle`, checked: a NULL, foreign or deleted handle is the
/// framework's bug check.
///
/// # Safety
/// `handle` is NULL or points to readable memory (a handle the double gave out, maybe dead).
pub unsafe fn header_of<'a>(handle: *mut c_void, who: Who<'_>, function: &str) -> &'a Header {
    if handle.is_null() {
        fatal(who, function, "NULL handle");
    }
    let h = handle.cast::<Header>();
    // SAFETY: 1. readable (caller contract); the magic is an atomic the destroyer writes.
    let magic = unsafe { (*h).magic.load(Ordering::Acquire) };
    if magic == DEAD {
        fatal(who, function, "handle of a deleted object");
    }
    if magic != MAGIC {
        fatal(who, function, "not a framework handle");
    }
    // SAFETY: 1. a live header (magic), alive while the driver may use its handle.
    unsafe { &*h }
}

/// The object behind `handle`, checked as [`header_of`] does, and for its kind.
///
/// # Safety
/// As [`header_of`].
pub unsafe fn get<'a, T: Object>(handle: *mut c_void, who: Who<'_>, function: &str) -> &'a T {
    // SAFETY: 1. caller contract.
    let h = unsafe { header_of(handle, who, function) };
    if h.kind != T::KIND {
        fatal(who, function, "a handle of the wrong kind");
    }
    // SAFETY: 1. a live object of kind `T::KIND`, i.e. a `T` (Object contract).
    unsafe { &*handle.cast::<T>() }
}

/// Moves `value` to the pool, or `None` if the pool is exhausted (never a panic).
pub fn try_box<T>(value: T) -> Option<Box<T>> {
    let layout = Layout::new::<T>();
    // SAFETY: 1. every object type here has a non-zero size.
    let p = unsafe { alloc(layout) }.cast::<T>();
    if p.is_null() {
        return None;
    }
    // SAFETY: 1. a fresh block of `T`'s layout.
    unsafe { p.write(value) };
    // SAFETY: 1. allocated by the global allocator with `T`'s layout and initialized, as a
    // `Box<T>` would be.
    Some(unsafe { Box::from_raw(p) })
}

/// Destroys an object: its `EvtCleanupCallback`, its `EvtDestroyCallback`, then its memory.
///
/// # Safety
/// `object` came from `Box::into_raw` of a `T` and nobody uses its handle any more.
pub unsafe fn destroy<T: Object>(object: NonNull<T>) {
    let (handle, cleanup, destroy) = {
        // SAFETY: 1. live until the end of this function (caller contract).
        let o = unsafe { object.as_ref() };
        (o.handle(), o.header().cleanup, o.header().destroy)
    };
    if let Some(f) = cleanup {
        // SAFETY: 1. the driver's callback, with the live handle.
        unsafe { f(handle) };
    }
    if let Some(f) = destroy {
        // SAFETY: 1. as above.
        unsafe { f(handle) };
    }
    // SAFETY: 1. still live (caller contract).
    unsafe { object.as_ref() }
        .header()
        .magic
        .store(DEAD, Ordering::Release);
    // SAFETY: 1. `Box::into_raw` of a `T` (caller contract), freed once.
    drop(unsafe { Box::from_raw(object.as_ptr()) });
}
