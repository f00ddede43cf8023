//! The front ends: client requests (IRPs) in, engine calls out.
//!
//! - [`wdm`]: the WDM front end (no WDK needed; the `DriverEntry` of the Linux cross build).
//! - `kmdf` (`cfg(kmdf_front)`): the KMDF front end over wdk-sys (the product; built with the WDK,
//!   or on Linux against the stand-in — see the crate docs).
//! - `security` (WDM): the device's security descriptor (SYSTEM and Administrators only), built
//!   by hand; the KMDF front end hands the framework the same rule as an SDDL string.
//!
//! Both serve requests through `crate::irp::request` and share, here, what `DriverEntry` does
//! first ([`load`]) and what unload does last ([`unload`]); the test build's [`ledger`] counts
//! the requests they are given and complete.
//!
//! # Unload (both front ends)
//! 1. `Engine::unload`, and a wait on an event for its `on_idle`: every socket closed, every
//!    request completed.
//! 2. `WskReleaseProviderNPI` + `WskDeregister`.
//! 3. The engine and provider dropped; then the wait — on an event, never polled — until no
//!    completion routine, timer DPC or work item of ours has work left (`kernel::outstanding`).
//! 4. The retired timers reaped (`kernel::timer::reap`: under Wine, `KeCancelTimer` waits for
//!    each timer's callback to have returned), then `KeFlushQueuedDpcs` where it works (Windows):
//!    every DPC the driver queued has returned.
//! 5. The device is deleted (WDM) or the framework deletes it (KMDF). The last instructions of a
//!    completion routine or work item are covered by the kernel: `IoSetCompletionRoutineEx` and
//!    `IoQueueWorkItem` hold a device reference, and so the image, until the routine returned.
//!    Under Wine nothing holds the image (it is unmapped right after `DriverUnload`): see
//!    docs/DRIVER.md, "Unload".
//!
//! Unload allocates nothing: what it needs (the idle event and `on_idle`) was allocated at load,
//! in an [`UnloadKit`] — `DriverEntry` fails with STATUS_INSUFFICIENT_RESOURCES without it
//! (docs/DRIVER.md, "Memory").

#[cfg(not(kmdf_front))]
pub mod security;

#[cfg(not(kmdf_front))]
pub mod wdm;

#[cfg(kmdf_front)]
pub mod kmdf;

pub mod ledger;

use crate::irp::request::{self, Backend};
use crate::kernel::event::Event;
use crate::kernel::print::kprint;
use crate::kernel::{outstanding, platform, timer};
use crate::sys::UNICODE_STRING;
use crate::wsk::provider::WskProvider;
use crate::wsk::registration::Registration;
use alloc::boxed::Box;
use alloc::sync::Arc;

/// The engine as the front ends instantiate it.
pub type DriverEngine<B> = wsksock_core::Engine<WskProvider, request::IrpRequest<B>>;
/// A client (one open file object).
pub type DriverClient<B> = wsksock_core::ClientRef<WskProvider, request::IrpRequest<B>>;

/// What `DriverEntry` does first: in the test build, reads which allocation to fail and starts
/// counting; finds out what the kernel offers, starts the callback count, and says both in the
/// log.
///
/// # Safety
/// `registry` is `DriverEntry`'s registry path (a valid `UNICODE_STRING` for the call), at
/// PASSIVE_LEVEL.
pub unsafe fn load(registry: *const UNICODE_STRING) {
    #[cfg(feature = "alloc-faults")]
    {
        // SAFETY: 1. DriverEntry's registry path (caller contract).
        let n = unsafe { crate::kernel::registry::dword(registry, &ALLOC_FAIL_AT) }.unwrap_or(0);
        crate::GLOBAL.configure(u64::from(n));
        ledger::reset();
        kprint!("alloc-faults: allocation {} fails (0: none)", n);
    }
    #[cfg(not(feature = "alloc-faults"))]
    let _ = registry;
    let found = platform::init();
    outstanding::init();
    kprint!(
        "kernel: {}; system space from {:#x}; KeFlushQueuedDpcs {}; IoSetCompletionRoutineEx {}; IRQL {}",
        if found.wine { "Wine" } else { "Windows" },
        found.system_range_start,
        match (found.flush_queued_dpcs, found.wine) {
            (false, _) => "absent",
            (true, true) => "a no-op (Wine): the timers' own flush stands in",
            (true, false) => "used",
        },
        if platform::unload_safe_completions() {
            "used"
        } else {
            "not used (a stub under Wine)"
        },
        found.irql
    );
}

/// The service key's value naming the allocation the test build fails.
#[cfg(feature = "alloc-faults")]
static ALLOC_FAIL_AT: [u16; 11] = crate::logic::names::wide("AllocFailAt");

/// In the test build, says how many allocations were counted and failed (`when`: the point of
/// the driver's life); the Wine suite reads it from the log.
pub fn report_allocations(when: &str) {
    #[cfg(feature = "alloc-faults")]
    {
        let (made, failed) = crate::GLOBAL.counts();
        let (given, completed) = ledger::counts();
        kprint!(
            "alloc-faults: run {}: {}: {} allocations, {} failed ({:?}); requests {} given, {} completed",
            crate::GLOBAL.fail_at(),
            when,
            made,
            failed,
            crate::GLOBAL.failed_kind(),
            given,
            completed
        );
    }
    #[cfg(not(feature = "alloc-faults"))]
    let _ = when;
}

/// What unload needs, allocated at load so that unload allocates nothing: the event `on_idle`
/// sets, and `on_idle` itself.
pub struct UnloadKit {
    idle: Arc<Event>,
    on_idle: Box<dyn FnOnce() + Send>,
}

impl UnloadKit {
    /// Allocates it; `None` for want of memory (`DriverEntry` then fails).
    pub fn allocate() -> Option<UnloadKit> {
        let idle = Arc::try_new(Event::new()?).ok()?;
        let signal = idle.clone();
        let on_idle = Box::try_new(move || signal.set()).ok()?;
        Some(UnloadKit { idle, on_idle })
    }
}

/// What a front end runs on from `DriverEntry` to unload (the WDM device extension's and the
/// KMDF driver's one state).
pub struct Running<B: Backend> {
    /// The engine.
    pub engine: DriverEngine<B>,
    /// The WSK registration.
    pub registration: Arc<Registration>,
    /// What unload needs, allocated by `DriverEntry`.
    pub unload: UnloadKit,
}

/// Unloads the engine, then WSK, then waits until no callback of ours is left (module docs,
/// steps 1–4); with no state (`DriverEntry` made none), steps 3–4 only. PASSIVE_LEVEL, once,
/// from the unload routine, with the state taken back from wherever it was kept. Allocates
/// nothing.
pub fn unload<B: Backend>(state: Option<Box<Running<B>>>) {
    if let Some(state) = state {
        let Running {
            engine,
            registration,
            unload: UnloadKit { idle, on_idle },
        } = *state;
        engine.unload(on_idle);
        idle.wait();
        registration.release();
        drop(engine);
        drop(registration);
    }
    drain_callbacks();
}

/// Steps 3–4 of the module docs: the rundown of the callback count, the retired timers, the DPC
/// flush. Also what an unload without an engine (none was made) does.
pub fn drain_callbacks() {
    outstanding::rundown();
    timer::reap();
    if platform::flush_queued_dpcs() == platform::Flush::Absent {
        kprint!("unload: no KeFlushQueuedDpcs; the timers' own flush stands in");
    }
}
