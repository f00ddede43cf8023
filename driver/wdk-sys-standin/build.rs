//! Generates `call_unsafe_wdf_function_binding!` the way wdk-sys' build script does: a
//! `macro_rules!` forwarding to the `wdk-macros` proc macro with the absolute path of the file
//! that holds the bindgen-shaped declarations (`src/types.rs`). The proc macro needs a string
//! literal, so the path is written into a generated file.
#![allow(clippy::disallowed_methods)] // a build script, not the driver: driver/clippy.toml

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let types = manifest.join("src").join("types.rs");
    println!("cargo::rerun-if-changed={}", types.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let path = types.to_str().expect("a UTF-8 path").replace('\\', "\\\\");
    let text = format!(
        "/// Calls a WDF function through the driver's function table, by name, with the call syntax\n\
         /// and expansion of wdk-sys' macro of the same name (it is the same proc macro).\n\
         #[macro_export]\n\
         macro_rules! call_unsafe_wdf_function_binding {{\n\
         \x20   ( $($tt:tt)* ) => {{\n\
         \x20       $crate::__proc_macros::call_unsafe_wdf_function_binding!(\"{path}\", $($tt)*)\n\
         \x20   }};\n\
         }}\n"
    );
    std::fs::write(out.join("call_unsafe_wdf_function_binding.rs"), text).expect("OUT_DIR is writable");
}
