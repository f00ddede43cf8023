//! Build script.
//!
//! - Both KMDF builds compile the same front end: `cfg(kmdf_front)` is set for feature `kmdf`
//!   (the WDK build) and feature `kmdf-standin` (the Linux build).
//! - With `kmdf`, windows-drivers-rs' `wdk-build` configures the KMDF link (WDK libraries,
//!   `WdfDriverEntry.lib`, `/ENTRY:FxDriverEntry`).
//! - The Linux builds for Windows link the `.sys` with `/DRIVER /SUBSYSTEM:NATIVE /NODEFAULTLIB`
//!   and their entry point: the stand-in's `FxDriverEntry` (feature `kmdf-standin`) or the WDM
//!   front end's `DriverEntry`. Emitted here rather than in RUSTFLAGS so every cross build shares
//!   one set of flags (and one build of core/alloc).
#![allow(clippy::disallowed_methods)] // a build script, not the driver: driver/clippy.toml

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kmdf_front)");
    println!("cargo::rerun-if-changed=build.rs");
    let kmdf = std::env::var_os("CARGO_FEATURE_KMDF").is_some();
    let standin = std::env::var_os("CARGO_FEATURE_KMDF_STANDIN").is_some();
    if kmdf && standin {
        println!(
            "cargo::error=features `kmdf` (the WDK build) and `kmdf-standin` (the Linux build) exclude each other"
        );
    }
    if kmdf && std::env::var_os("CARGO_FEATURE_ALLOC_FAULTS").is_some() {
        println!(
            "cargo::error=feature `alloc-faults` is for the Linux test builds (the WDK build allocates with wdk-alloc)"
        );
    }
    if kmdf || standin {
        println!("cargo::rustc-cfg=kmdf_front");
    }
    let windows = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "windows");
    if windows && !kmdf {
        let entry = if standin { "FxDriverEntry" } else { "DriverEntry" };
        for arg in [
            "/DRIVER",
            "/SUBSYSTEM:NATIVE",
            "/NODEFAULTLIB",
            &format!("/ENTRY:{entry}"),
        ] {
            println!("cargo::rustc-cdylib-link-arg={arg}");
        }
    }
    #[cfg(feature = "kmdf")]
    if let Err(e) = wdk_build::configure_wdk_binary_build() {
        println!("cargo::error=wdk-build could not configure the KMDF build: {e:?}");
    }
}
