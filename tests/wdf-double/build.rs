//! Link arguments of the double for the Windows target (an export driver): like every Linux-built
//! kernel image of the project, emitted here so the cross builds share one set of RUSTFLAGS.

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
