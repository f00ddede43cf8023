//! Which WSK the emulator imitates, and how it delivers completions.

use std::time::Duration;

/// The WSK implementation the host provider imitates.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum Profile {
    /// Windows' WSK (netio.sys): everything implemented, cancel works, graceful and abortive
    /// disconnect behave as documented.
    #[default]
    Windows,
    /// Wine 8's netio.sys (`dlls/netio.sys/netio.c`): cancel does nothing, `WskDisconnect`,
    /// `WskControlSocket` and the address queries return STATUS_NOT_IMPLEMENTED synchronously,
    /// at most [`WINE_MAX_PENDING`] operations pending per socket, no datagram sockets, and
    /// `WskCloseSocket` always ends the connection with FIN.
    Wine8,
}

/// Wine's `MAX_PENDING_IO`: pending accepts, connects, sends and receives per socket. The next
/// one completes at once with STATUS_UNSUCCESSFUL, as Wine's `allocate_pending_io` failure does.
pub const WINE_MAX_PENDING: usize = 10;

/// When completions may run on the calling thread.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum CompletionMode {
    /// An operation that can finish at once (data already there, buffer space free, a local
    /// call such as bind) finishes on the calling thread before the call returns, as WSK
    /// completes IRPs synchronously; others complete later on the event-loop thread. This is the
    /// fast path: a send writes straight from the caller's thread.
    #[default]
    Inline,
    /// Every call is handed to the event-loop thread: nothing completes before the call
    /// returns (except contract failures and Wine's synchronous stubs). The most asynchronous
    /// schedule, for shaking out races.
    Deferred,
    /// Calls run as in `Inline`, but every completion and every timer callback is handed to a
    /// pool of delivery threads ([`Config::delivery_threads`]) that run them concurrently and in
    /// random order — as on Windows, where the close IRP, the other IRPs of a socket and the
    /// linger DPC complete on several CPUs at once. Nothing completes inside its call.
    Concurrent,
}

/// Settings of a [`crate::HostProvider`].
#[derive(Clone, Debug)]
pub struct Config {
    /// WSK flavour.
    pub profile: Profile,
    /// Completion scheduling.
    pub completions: CompletionMode,
    /// How often a graceful disconnect re-checks that the peer acknowledged everything.
    pub drain_poll: Duration,
    /// Delivery threads of [`CompletionMode::Concurrent`].
    pub delivery_threads: usize,
    /// Keep a log of the calls whose arguments tests check ([`crate::HostProvider::recorded`]):
    /// socket creations with their owner, sends and receives with their flags. Off by default
    /// (the log grows with every send).
    pub record_calls: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            profile: Profile::Windows,
            completions: CompletionMode::Inline,
            drain_poll: Duration::from_millis(2),
            delivery_threads: 3,
            record_calls: false,
        }
    }
}

impl Config {
    /// The default settings with another profile.
    pub fn with_profile(profile: Profile) -> Self {
        Config {
            profile,
            ..Config::default()
        }
    }

    /// These settings with the call log on or off.
    #[must_use]
    pub fn record_calls(mut self, on: bool) -> Self {
        self.record_calls = on;
        self
    }

    /// These settings with another completion mode.
    #[must_use]
    pub fn completions(mut self, mode: CompletionMode) -> Self {
        self.completions = mode;
        self
    }
}
