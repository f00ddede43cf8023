//! Build script: with the `kmdf` feature, windows-drivers-rs' `wdk-build` configures the KMDF
//! link (WDK libraries, `/DRIVER`, entry point). Without it there is nothing to do: the WDM build's
//! link arguments come from `cargo xtask cross`.

fn main() {
    #[cfg(feature = "kmdf")]
    if let Err(e) = wdk_build::configure_wdk_binary_build() {
        println!("cargo::error=wdk-build could not configure the KMDF build: {e:?}");
    }
}
