//! The randomized stress (see `reliability/workload.rs`): a short run in every `cargo test`, the
//! long ones through `cargo xtask stress --ops N --seed S` (the ignored test below, driven by
//! `WSKSOCK_STRESS_OPS`, `WSKSOCK_STRESS_SEED`, `WSKSOCK_STRESS_MODE`, `WSKSOCK_STRESS_WORKERS`).

mod reliability;

use reliability::workload::{run, StressConfig};
use reliability::{env_modes, env_u64};
use std::time::{SystemTime, UNIX_EPOCH};
use wsksock_emu::CompletionMode;

fn check(cfg: &StressConfig) {
    match run(cfg) {
        Ok(r) => {
            eprintln!("{r}");
            assert!(r.requests > r.ops / 2, "most operations issued requests");
            assert!(r.streams_seen > 0, "peers saw streams");
            assert!(r.strict_graceful > 0, "some streams were judged strictly");
            if cfg.faults {
                // The engine's allocations failed too, at random (docs/RELIABILITY.md).
                assert!(
                    r.allocations_failed > 0,
                    "no allocation failed in {} allocations",
                    r.allocations
                );
            }
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn short_stress_inline_with_faults() {
    // Seed 4, not 1: seed 1 draws no allocation failure among the run's first ~2,600 allocations
    // (0.2 % each), and `check` wants some.
    check(&StressConfig::new(4_000, 4, CompletionMode::Inline));
}

#[test]
fn short_stress_deferred_with_faults() {
    check(&StressConfig::new(4_000, 2, CompletionMode::Deferred));
}

#[test]
fn short_stress_concurrent_with_faults() {
    check(&StressConfig::new(4_000, 3, CompletionMode::Concurrent));
}

/// `cargo xtask stress` runs this one with its arguments in the environment.
#[test]
#[ignore = "long: run through cargo xtask stress"]
fn stress_from_env() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let seed = env_u64("WSKSOCK_STRESS_SEED", now);
    let ops = env_u64("WSKSOCK_STRESS_OPS", 50_000);
    let workers = usize::try_from(env_u64("WSKSOCK_STRESS_WORKERS", 4)).unwrap_or(4);
    let modes = env_modes();
    let per_mode = ops / modes.len() as u64;
    for (i, mode) in modes.into_iter().enumerate() {
        let mut cfg = StressConfig::new(per_mode, seed.wrapping_add(i as u64), mode);
        cfg.workers = workers.max(1);
        check(&cfg);
    }
}
