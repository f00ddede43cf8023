//! The WSK emulator: a [`wsksock_core::Provider`] on real host sockets, with Windows' or Wine's
//! WSK semantics, plus two wrappers usable around any provider — a contract checker
//! ([`Verifier`], Driver Verifier for the WSK rules) and seeded fault injection
//! ([`FaultInjector`]).
//!
//! - [`HostProvider`]: the provider ([`host`] module docs: design, threads, teardown);
//!   [`Profile`] picks Windows or Wine 8 behaviour, [`CompletionMode`] inline or deferred
//!   completions.
//! - [`Checker`]: records broken WSK rules; built into [`HostProvider::checker`] and
//!   [`Verifier::checker`]; `assert_clean()` fails a test.
//! - [`FaultInjector`]: fails the k-th call, delays and reorders completions, injects peer
//!   resets, reproducibly from a seed ([`FaultPlan`]).
//! - [`testutil`]: completion channels with timeouts, for tests that drive a provider directly.
//!
//! See `docs/EMULATOR.md` for the WSK semantics emulated and the decisions taken.
#![deny(unsafe_code)]

pub mod buffer;
pub mod checker;
pub mod fault;
pub mod host;
pub mod profile;
pub mod status;
pub mod testutil;
pub mod verifier;

pub use buffer::EmuBuffer;
pub use checker::{Call, Checker, Violation, ViolationKind};
pub use fault::{FaultAction, FaultEvent, FaultInjector, FaultPlan, FaultSocket};
pub use host::{HostOp, HostProvider, HostSocket, HostTimer, Recorded};
pub use profile::{CompletionMode, Config, Profile, WINE_MAX_PENDING};
pub use verifier::{VerifiedOp, VerifiedSocket, Verifier};
