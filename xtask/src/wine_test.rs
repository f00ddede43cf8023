//! `cargo xtask wine-test`: the WDM driver under Wine 8 with the Windows CLI and a kernel consumer
//! (owned by the Wine work).

/// Runs it.
pub fn run(_args: &[String]) -> Result<(), String> {
    Err("cargo xtask wine-test: not written yet".into())
}
