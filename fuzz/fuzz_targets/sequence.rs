//! Sequences of requests against the engine over the emulator (see `src/sequence.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsksock_fuzz::sequence::{run, Action};

fuzz_target!(|actions: Vec<Action>| {
    run(&actions);
});
