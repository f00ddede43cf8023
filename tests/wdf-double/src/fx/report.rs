//! What the double says: `WDF VERIFIER:` lines for misuses (the Wine suite fails on any), a bug
//! check for the fatal ones, `WDF DOUBLE:` lines for the rest.

use super::WDF_VIOLATION;
use core::fmt::{Arguments, Write};
use wsksock_nt::print::Line;
use wsksock_nt::sys::imports::KeBugCheckEx;

/// One `DbgPrint` line.
pub fn line(args: Arguments<'_>) {
    let mut l = Line::new();
    let _ = l.write_fmt(args);
    l.emit();
}

/// The name a driver goes by in the lines (its service name, from the bind).
#[derive(Clone, Copy)]
pub struct Who<'a>(pub &'a [u8]);

impl core::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.0.iter().take_while(|&&b| b != 0) {
            f.write_char(if b.is_ascii_graphic() { char::from(b) } else { '?' })?;
        }
        Ok(())
    }
}

/// A misuse the framework rejects or mishandles: one `WDF VERIFIER:` line.
pub fn verifier(who: Who<'_>, function: &str, why: &str) {
    line(format_args!("WDF VERIFIER: {who}: {function}: {why}"));
}

/// A misuse the framework bug-checks on: the line, then `WDF_VIOLATION`.
pub fn fatal(who: Who<'_>, function: &str, why: &str) -> ! {
    line(format_args!(
        "WDF VERIFIER: {who}: {function}: {why} (bug check 0x10D)"
    ));
    // SAFETY: 1. KeBugCheckEx may be called at any IRQL; 2. it does not return.
    unsafe { KeBugCheckEx(WDF_VIOLATION, 0, 0, 0, 0) }
}

/// Information (not a misuse).
pub fn note(who: Who<'_>, what: Arguments<'_>) {
    line(format_args!("WDF DOUBLE: {who}: {what}"));
}
