//! `cargo xtask bench`: the benchmarks (owned by the performance work).

/// Runs it.
pub fn run(_args: &[String]) -> Result<(), String> {
    Err("cargo xtask bench: not written yet".into())
}
