//! `cargo xtask fuzz`: the fuzz targets (owned by the reliability work).

/// Runs it.
pub fn run(_args: &[String]) -> Result<(), String> {
    Err("cargo xtask fuzz: not written yet".into())
}
