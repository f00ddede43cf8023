//! `cargo xtask cross`: the WDM driver for x86_64-pc-windows-msvc (owned by the driver work).

/// Builds and checks the driver.
pub fn run(_args: &[String]) -> Result<(), String> {
    eprintln!("xtask cross: not implemented yet");
    Ok(())
}
