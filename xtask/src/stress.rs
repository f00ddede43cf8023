//! `cargo xtask stress`: randomized stress with seeded fault injection (owned by the reliability work).

/// Runs it.
pub fn run(_args: &[String]) -> Result<(), String> {
    Err("cargo xtask stress: not written yet".into())
}
