//! Build script: the link arguments of a `.sys` for the Windows target (a native-subsystem
//! driver, no C runtime, entry point `DriverEntry`). Emitted here rather than in RUSTFLAGS, like
//! the driver's, so every kernel-mode crate built into `target/cross` shares one set of flags
//! and one build of core/alloc.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "windows") {
        for arg in [
            "/DRIVER",
            "/SUBSYSTEM:NATIVE",
            "/NODEFAULTLIB",
            "/ENTRY:DriverEntry",
        ] {
            println!("cargo::rustc-cdylib-link-arg={arg}");
        }
    }
}
