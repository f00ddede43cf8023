//! The system under test: the engine in-process over a fresh [`HostProvider`] of one profile.
//!
//! The provider is built here and a clone is kept, so that after the device is unloaded the test
//! can deregister it (WskDeregister: no socket may be left open) and assert that its contract
//! checker recorded nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wsksock_core::Config;
use wsksock_emu::testutil::with_timeout;
use wsksock_emu::{CompletionMode, HostProvider, Profile};
use wsksock_tools::{Client, HostDevice};

/// The emulator's completion mode for the suites: `WSKSOCK_COMPLETIONS` = `inline` (the
/// default), `deferred` or `concurrent` (`cargo xtask ci` runs the end-to-end suites again with
/// `concurrent`: completions and timers delivered at once and reordered on several threads).
pub fn completions_from_env() -> CompletionMode {
    match std::env::var("WSKSOCK_COMPLETIONS").as_deref() {
        Ok("deferred") => CompletionMode::Deferred,
        Ok("concurrent") => CompletionMode::Concurrent,
        _ => CompletionMode::Inline,
    }
}

/// How long unload may take to report idle at the end of a test.
pub const UNLOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The engine over an emulator, as a test sees it.
pub struct Rig {
    profile: Profile,
    completions: CompletionMode,
    provider: HostProvider,
    device: HostDevice,
    unloaded: AtomicBool,
}

impl Rig {
    /// A fresh engine over a fresh emulator with `profile`.
    pub fn new(profile: Profile) -> Rig {
        Rig::with_config(profile, Config::default())
    }

    /// A fresh engine with `config` over a fresh emulator with `profile`, completing as
    /// [`completions_from_env`] says (inline unless the suite runs under another mode).
    pub fn with_config(profile: Profile, config: Config) -> Rig {
        Rig::with_completions(profile, completions_from_env(), config)
    }

    /// A fresh engine with `config` over a fresh emulator with `profile` and `completions`
    /// ([`CompletionMode::Deferred`]: nothing completes inside its call — the most asynchronous
    /// schedule).
    pub fn with_completions(profile: Profile, completions: CompletionMode, config: Config) -> Rig {
        Rig::with_emulator(
            wsksock_emu::Config::with_profile(profile).completions(completions),
            config,
        )
    }

    /// A fresh engine whose emulator logs the calls whose arguments tests check (socket owners,
    /// data flags: [`HostProvider::recorded`]).
    pub fn recording(profile: Profile) -> Rig {
        let emu = wsksock_emu::Config::with_profile(profile)
            .completions(completions_from_env())
            .record_calls(true);
        Rig::with_emulator(emu, Config::default())
    }

    /// A fresh engine with `config` over an emulator with `emu`.
    pub fn with_emulator(emu: wsksock_emu::Config, config: Config) -> Rig {
        let (profile, completions) = (emu.profile, emu.completions);
        let provider = HostProvider::with_config(emu).expect("start the emulator");
        let device = HostDevice::with_provider(provider.clone(), config).expect("an engine on the host");
        Rig {
            profile,
            completions,
            provider,
            device,
            unloaded: AtomicBool::new(false),
        }
    }

    /// The emulated WSK.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// How the emulator completes operations.
    pub fn completions(&self) -> CompletionMode {
        self.completions
    }

    /// Whether this is Wine 8's WSK.
    pub fn is_wine(&self) -> bool {
        self.profile == Profile::Wine8
    }

    /// The emulator (its call log, its checker).
    pub fn provider(&self) -> &HostProvider {
        &self.provider
    }

    /// The device (engine statistics, extra channels).
    pub fn device(&self) -> &HostDevice {
        &self.device
    }

    /// Opens a client (IRP_MJ_CREATE); dropping every clone of it is IRP_MJ_CLEANUP.
    pub fn client(&self) -> Client {
        self.client_with_id().0
    }

    /// Opens a client and returns its id too (the target of a cross-client DUPLICATE).
    pub fn client_with_id(&self) -> (Client, u64) {
        let chan = self.device.open().expect("open a client");
        let id = chan.client_id();
        (Client::new(chan), id)
    }

    /// Unloads the engine now (a test of unload itself); `true` if it reported idle within
    /// `timeout`. [`Rig::finish`] then only checks what is left.
    pub fn unload(&self, timeout: Duration) -> bool {
        assert!(!self.unloaded.swap(true, Ordering::SeqCst), "unload runs once");
        self.device.unload(timeout)
    }

    /// Ends a test: unloads the engine (unless the test did) and asserts it reported idle with no
    /// socket alive, then deregisters the provider (recording any socket left open) and asserts
    /// the WSK contract checker is clean.
    #[track_caller]
    pub fn finish(self) {
        if !self.unloaded.load(Ordering::SeqCst) {
            assert!(
                self.unload(UNLOAD_TIMEOUT),
                "the engine did not report idle within {UNLOAD_TIMEOUT:?} of unload"
            );
        }
        let Rig { provider, device, .. } = self;
        let stats = device.engine().stats();
        assert_eq!(stats.sockets_alive, 0, "sockets alive after unload: {stats:?}");
        assert_eq!(
            stats.ops_started, stats.ops_completed,
            "operations still pending after unload: {stats:?}"
        );
        drop(device);
        provider.deregister();
        provider.checker().assert_clean();
    }
}

/// Runs `scenario` against a fresh [`Rig`] of `profile` and finishes it, failing if the whole
/// thing takes longer than `limit` (a hang fails fast instead of sticking the suite).
#[track_caller]
pub fn run(profile: Profile, limit: Duration, scenario: impl FnOnce(&Rig) + Send + 'static) {
    run_with(profile, Config::default(), limit, scenario);
}

/// [`run`] over an emulator that logs calls ([`Rig::recording`]).
#[track_caller]
pub fn run_recording(profile: Profile, limit: Duration, scenario: impl FnOnce(&Rig) + Send + 'static) {
    with_timeout(limit, move || {
        let rig = Rig::recording(profile);
        scenario(&rig);
        rig.finish();
    });
}

/// [`run`] with an engine [`Config`].
#[track_caller]
pub fn run_with(
    profile: Profile,
    config: Config,
    limit: Duration,
    scenario: impl FnOnce(&Rig) + Send + 'static,
) {
    with_timeout(limit, move || {
        let rig = Rig::with_config(profile, config);
        scenario(&rig);
        rig.finish();
    });
}

/// [`run`] over an emulator in [`CompletionMode::Concurrent`].
#[track_caller]
pub fn run_concurrent(profile: Profile, limit: Duration, scenario: impl FnOnce(&Rig) + Send + 'static) {
    with_timeout(limit, move || {
        let rig = Rig::with_completions(profile, CompletionMode::Concurrent, Config::default());
        scenario(&rig);
        rig.finish();
    });
}

/// [`run`] over an emulator in [`CompletionMode::Deferred`].
#[track_caller]
pub fn run_deferred(profile: Profile, limit: Duration, scenario: impl FnOnce(&Rig) + Send + 'static) {
    with_timeout(limit, move || {
        let rig = Rig::with_completions(profile, CompletionMode::Deferred, Config::default());
        scenario(&rig);
        rig.finish();
    });
}
