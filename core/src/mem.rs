//! Fallible allocation: every allocation of the engine goes through here, so that running out of
//! pool is a status for the request that needed the memory — never a panic, which in the driver is
//! a bug check (`docs/ENGINE.md`, "Memory"). `core/clippy.toml` forbids the infallible
//! constructors (`Box::new`, `Arc::new`, `Vec::push`, `collect`...) everywhere else in the crate.
//!
//! - **Driver builds** (feature `fallible-alloc`: nightly's `allocator_api`, which the driver's
//!   builds enable): `Box::try_new`, `Arc::try_new`; a `Vec` grows with `try_reserve`.
//! - **Host builds** (stable Rust has no fallible `Box` or `Arc`): `Box::new`, `Arc::new`, which
//!   cannot run out there; vectors still grow with `try_reserve`. What the host tests exercise
//!   instead is the *handling* of a failure: before each allocation the engine asks its provider
//!   ([`crate::Provider::allocation_fails`]), and the emulator's fault
//!   injector answers "yes" for the Nth — the same call sites and the same error paths as a
//!   failing `try_new` in the driver.
//! - **Loom**: loom's `Arc::new` (the models do not inject allocation failures).
//!
//! A vector is only asked to grow when it is full, so the hook is consulted exactly where an
//! allocation would happen — as the driver's pool would be.

use crate::provider::Provider;
use crate::sync::Arc;
use alloc::boxed::Box;
use alloc::vec::Vec;
use wsksock_abi::NtStatus;

/// An allocation failed; the request that needed it fails with STATUS_INSUFFICIENT_RESOURCES.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AllocError;

impl From<AllocError> for NtStatus {
    fn from(_: AllocError) -> NtStatus {
        NtStatus::STATUS_INSUFFICIENT_RESOURCES
    }
}

/// Who is asked before an allocation whether it fails (tests only answer yes).
pub trait Hook {
    /// Whether the allocation about to be made fails.
    fn fails(&self) -> bool;
}

impl<P: Provider + ?Sized> Hook for P {
    fn fails(&self) -> bool {
        self.allocation_fails()
    }
}

/// The hook of code that has no provider at hand: never fails by injection.
pub struct NoHook;

impl Hook for NoHook {
    fn fails(&self) -> bool {
        false
    }
}

/// `Box::new`, fallibly. On failure `v` is dropped: never box something that must not be lost
/// (a request, a provider socket).
#[allow(clippy::disallowed_methods)] // the one place Box::new may be called
pub(crate) fn boxed<T>(hook: &(impl Hook + ?Sized), v: T) -> Result<Box<T>, AllocError> {
    if hook.fails() {
        return Err(AllocError);
    }
    #[cfg(feature = "fallible-alloc")]
    {
        Box::try_new(v).map_err(|_| AllocError)
    }
    #[cfg(not(feature = "fallible-alloc"))]
    {
        Ok(Box::new(v))
    }
}

/// `Arc::new` (the crate's [`Arc`], loom's under loom), fallibly. On failure `v` is dropped.
#[allow(clippy::disallowed_methods)] // the one place Arc::new may be called
pub(crate) fn arc<T>(hook: &(impl Hook + ?Sized), v: T) -> Result<Arc<T>, AllocError> {
    if hook.fails() {
        return Err(AllocError);
    }
    #[cfg(all(feature = "fallible-alloc", not(loom)))]
    {
        Arc::try_new(v).map_err(|_| AllocError)
    }
    #[cfg(not(all(feature = "fallible-alloc", not(loom))))]
    {
        Ok(Arc::new(v))
    }
}

/// Makes room for `additional` more elements; allocates (fallibly) only if there is not room yet.
pub(crate) fn reserve<T>(
    hook: &(impl Hook + ?Sized),
    v: &mut Vec<T>,
    additional: usize,
) -> Result<(), AllocError> {
    if v.capacity() - v.len() >= additional {
        return Ok(());
    }
    if hook.fails() {
        return Err(AllocError);
    }
    v.try_reserve(additional).map_err(|_| AllocError)
}

/// Appends `x` within the capacity already reserved; gives it back if there is none (never
/// allocates).
#[allow(clippy::disallowed_methods)] // push within capacity: no allocation
pub(crate) fn push_reserved<T>(v: &mut Vec<T>, x: T) -> Result<(), T> {
    if v.len() < v.capacity() {
        v.push(x);
        Ok(())
    } else {
        Err(x)
    }
}

/// Appends `wrap(x)` within the capacity already reserved; gives `x` back if there is none (never
/// allocates).
pub(crate) fn push_wrapped<T, U>(v: &mut Vec<T>, x: U, wrap: impl FnOnce(U) -> T) -> Result<(), U> {
    if v.len() < v.capacity() {
        let pushed = push_reserved(v, wrap(x));
        debug_assert!(pushed.is_ok(), "room was checked");
        Ok(())
    } else {
        Err(x)
    }
}

/// A hook that fails every allocation (the unit tests').
#[cfg(all(test, not(loom)))]
pub(crate) struct Fails;

#[cfg(all(test, not(loom)))]
impl Hook for Fails {
    fn fails(&self) -> bool {
        true
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_failing_hook_fails_every_allocation_and_nothing_else() {
        assert_eq!(boxed(&Fails, 1).err(), Some(AllocError));
        assert_eq!(arc(&Fails, 1).err(), Some(AllocError));
        let mut v: Vec<u8> = Vec::new();
        assert_eq!(reserve(&Fails, &mut v, 1), Err(AllocError));
        assert_eq!(push_reserved(&mut v, 7), Err(7), "no room, no push");
        // Room already there: nothing is allocated, so nothing can fail.
        reserve(&NoHook, &mut v, 2).unwrap();
        assert_eq!(reserve(&Fails, &mut v, 2), Ok(()));
        assert_eq!(push_reserved(&mut v, 1), Ok(()));
        assert_eq!(push_wrapped(&mut v, 1, |x| x + 1), Ok(()));
        assert_eq!(v, [1, 2]);
        assert_eq!(**boxed(&NoHook, 5).as_ref().unwrap(), 5);
    }
}
