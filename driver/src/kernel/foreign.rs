//! Ownership that crosses into the kernel and comes back: the one way the driver turns an owned
//! value into the `PVOID` a kernel callback gets, and back (Linux `rust/kernel/types.rs`
//! `ForeignOwnable`).
//!
//! A value is handed over once with [`ForeignOwnable::into_foreign`] — a completion context, a
//! DPC's context, a work item's job, a file object's client, a cancel routine's reference — and
//! taken back exactly once with [`ForeignOwnable::from_foreign`], by whoever the protocol names
//! (the callback, or the code that learned the callback will never run). In between, the owner
//! is the kernel: the value may only be borrowed ([`ForeignOwnable::borrow`]).
//!
//! Every `unsafe` call of `from_foreign` / `borrow` names, in its SAFETY comment, the
//! `into_foreign` it undoes and why no one else undoes it.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::NonNull;

/// An owned value that can be turned into a raw pointer for the kernel and back.
///
/// # Safety
/// `into_foreign` returns a non-null pointer that `from_foreign` turns back into the same value;
/// `borrow` of such a pointer gives a reference valid while the value is not taken back.
pub unsafe trait ForeignOwnable: Sized {
    /// What a borrow of the foreign pointer gives.
    type Borrowed<'a>;

    /// Hands the value over: the returned pointer owns it until `from_foreign`.
    fn into_foreign(self) -> NonNull<c_void>;

    /// Takes the value back.
    ///
    /// # Safety
    /// `ptr` came from `into_foreign` of this type and was not taken back before; it is not used
    /// afterwards (except through other, still outstanding, foreign references of an `Arc`).
    unsafe fn from_foreign(ptr: NonNull<c_void>) -> Self;

    /// Borrows the value while the foreign side still owns it.
    ///
    /// # Safety
    /// `ptr` came from `into_foreign` of this type and is not taken back while the borrow lives.
    unsafe fn borrow<'a>(ptr: NonNull<c_void>) -> Self::Borrowed<'a>;

    /// `from_foreign` of a pointer that may be null (a context slot that may be empty).
    ///
    /// # Safety
    /// As for [`ForeignOwnable::from_foreign`], when `ptr` is not null.
    unsafe fn try_from_foreign(ptr: *mut c_void) -> Option<Self> {
        // SAFETY: 1. a non-null `ptr` satisfies `from_foreign`'s contract (ours).
        NonNull::new(ptr).map(|p| unsafe { Self::from_foreign(p) })
    }
}

// SAFETY: 1. `Box::into_raw` is never null and `Box::from_raw` of it gives the same box back;
// 2. the box's target lives until `from_foreign` drops it.
unsafe impl<T: 'static> ForeignOwnable for Box<T> {
    type Borrowed<'a> = &'a T;

    fn into_foreign(self) -> NonNull<c_void> {
        NonNull::from(Box::leak(self)).cast()
    }

    unsafe fn from_foreign(ptr: NonNull<c_void>) -> Self {
        // SAFETY: 1. `ptr` is the `Box::leak` of `into_foreign`, taken back once (caller contract).
        unsafe { Box::from_raw(ptr.cast::<T>().as_ptr()) }
    }

    unsafe fn borrow<'a>(ptr: NonNull<c_void>) -> &'a T {
        // SAFETY: 1. a live box's target, not taken back while borrowed (caller contract).
        unsafe { ptr.cast::<T>().as_ref() }
    }
}

// SAFETY: 1. `Arc::into_raw` is never null and `Arc::from_raw` of it gives that strong reference
// back; 2. the target lives while any strong reference, this one included, is outstanding.
unsafe impl<T: 'static> ForeignOwnable for Arc<T> {
    type Borrowed<'a> = &'a T;

    fn into_foreign(self) -> NonNull<c_void> {
        let raw = Arc::into_raw(self).cast_mut();
        // SAFETY: 1. `Arc::into_raw` points into the reference count's live allocation: never null.
        unsafe { NonNull::new_unchecked(raw) }.cast()
    }

    unsafe fn from_foreign(ptr: NonNull<c_void>) -> Self {
        // SAFETY: 1. `ptr` is the `Arc::into_raw` of `into_foreign`; its one strong reference is
        // taken back once (caller contract).
        unsafe { Arc::from_raw(ptr.cast::<T>().as_ptr()) }
    }

    unsafe fn borrow<'a>(ptr: NonNull<c_void>) -> &'a T {
        // SAFETY: 1. the foreign strong reference keeps the target alive while borrowed (caller
        // contract).
        unsafe { ptr.cast::<T>().as_ref() }
    }
}
