//! The WSK registration: `WskRegister`, `WskCaptureProviderNPI`, and their release.
//!
//! # Invariants
//! The `WSK_REGISTRATION` and the `WSK_CLIENT_NPI` it was registered with live in one heap
//! block that never moves and outlives the registration (Wine keeps the NPI pointer). The
//! provider NPI is valid from `register` until `release`, which runs once, at PASSIVE_LEVEL,
//! after the engine reported that no socket and no operation is left.

use crate::kernel::foreign::ForeignOwnable;
use crate::sys::imports::{WskCaptureProviderNPI, WskDeregister, WskRegister, WskReleaseProviderNPI};
use crate::sys::{
    NTSTATUS, WSK_CLIENT, WSK_CLIENT_DISPATCH, WSK_CLIENT_NPI, WSK_PROVIDER_DISPATCH, WSK_PROVIDER_NPI,
    WSK_REGISTRATION, WSK_VERSION_1_0,
};
use alloc::boxed::Box;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

/// How long DriverEntry waits for the WSK subsystem (never `WSK_INFINITE_WAIT` there).
pub const CAPTURE_WAIT_MS: u32 = 5_000;

/// No event callbacks: every operation is IRP-based.
static CLIENT_DISPATCH: WSK_CLIENT_DISPATCH = WSK_CLIENT_DISPATCH {
    Version: WSK_VERSION_1_0,
    Reserved: 0,
    WskClientEvent: None,
};

struct Block {
    registration: UnsafeCell<WSK_REGISTRATION>,
    client_npi: WSK_CLIENT_NPI,
    provider_npi: UnsafeCell<WSK_PROVIDER_NPI>,
}

/// A registered WSK client with a captured provider NPI.
pub struct Registration {
    /// The foreign form of the `Box<Block>` WSK holds pointers into; taken back by `Drop` only
    /// after `release`.
    block: NonNull<c_void>,
    released: AtomicBool,
}

// SAFETY: 1. the registration block is only written by `register` (before sharing) and by the WSK
// subsystem under its own lock; 2. the provider NPI is read-only between register and release.
unsafe impl Send for Registration {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers with WSK and captures the provider NPI, waiting at most [`CAPTURE_WAIT_MS`];
    /// STATUS_INSUFFICIENT_RESOURCES without memory for the registration.
    pub fn register() -> Result<Registration, NTSTATUS> {
        let block = Box::try_new(Block {
            registration: UnsafeCell::new(WSK_REGISTRATION {
                ReservedRegistrationState: 0,
                ReservedRegistrationContext: core::ptr::null_mut(),
                ReservedRegistrationLock: 0,
            }),
            client_npi: WSK_CLIENT_NPI {
                ClientContext: core::ptr::null_mut(),
                Dispatch: &raw const CLIENT_DISPATCH,
            },
            provider_npi: UnsafeCell::new(WSK_PROVIDER_NPI {
                Client: core::ptr::null_mut(),
                Dispatch: core::ptr::null(),
            }),
        })
        .map_err(|_| crate::status::nt(crate::status::NtStatus::STATUS_INSUFFICIENT_RESOURCES))?;
        // SAFETY: 1. both structs live in the heap block, which outlives the registration
        // (invariant); 2. PASSIVE_LEVEL (DriverEntry).
        let st = unsafe { WskRegister(&raw const block.client_npi, block.registration.get()) };
        if st < 0 {
            return Err(st);
        }
        // INVARIANT: from here on the block is never moved nor freed before `release`.
        let block = block.into_foreign();
        // SAFETY: 1. just handed over, taken back only by `Drop`.
        let b = unsafe { <Box<Block> as ForeignOwnable>::borrow(block) };
        // SAFETY: 1. registered above; 2. finite wait; 3. the NPI is written into the heap block.
        let st =
            unsafe { WskCaptureProviderNPI(b.registration.get(), CAPTURE_WAIT_MS, b.provider_npi.get()) };
        if st < 0 {
            // SAFETY: 1. registered above, nothing captured, no socket exists.
            unsafe { WskDeregister(b.registration.get()) };
            // SAFETY: 1. deregistered: WSK no longer uses the block, which is ours again, once.
            drop(unsafe { <Box<Block> as ForeignOwnable>::from_foreign(block) });
            return Err(st);
        }
        Ok(Registration {
            block,
            released: AtomicBool::new(false),
        })
    }

    /// The provider's client handle and dispatch table.
    pub fn npi(&self) -> (*mut WSK_CLIENT, &'static WSK_PROVIDER_DISPATCH) {
        // SAFETY: 1. written once by WskCaptureProviderNPI before `self` existed; 2. the dispatch
        // table is the provider's static table, valid while the NPI is captured — and no call
        // uses it after `release` (the engine is idle by then).
        let npi = unsafe { &*self.block().provider_npi.get() };
        // SAFETY: 1. as above: the provider's static dispatch table.
        (npi.Client, unsafe { &*npi.Dispatch })
    }

    /// `WskReleaseProviderNPI` then `WskDeregister` (which waits for WSK to let go). Call once
    /// the engine reported idle, at PASSIVE_LEVEL; later calls do nothing.
    pub fn release(&self) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: 1. captured in `register`; 2. released once (the flag above); 3. no socket
        // or operation is left (caller contract); 4. PASSIVE_LEVEL.
        unsafe { WskReleaseProviderNPI(self.block().registration.get()) };
        // SAFETY: 1. as above; the block outlives the call.
        unsafe { WskDeregister(self.block().registration.get()) };
    }

    fn block(&self) -> &Block {
        // SAFETY: 1. the block is the registration's until `Drop` (invariant).
        unsafe { <Box<Block> as ForeignOwnable>::borrow(self.block) }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.released.load(Ordering::Acquire) {
            // SAFETY: 1. handed over in `register`; WSK no longer uses it (released); taken back once.
            drop(unsafe { <Box<Block> as ForeignOwnable>::from_foreign(self.block) });
        } else {
            // Freeing it would pull memory from under WSK: keep it (a leak, never a crash).
            crate::kernel::print::kprint!("registration dropped before release; leaking it");
        }
    }
}
