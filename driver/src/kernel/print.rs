//! `DbgPrint` with Rust formatting and the driver's prefix: `kprint!("...{}...", x)` (one
//! [`Line`](wsksock_nt::print::Line); see there for truncation and how the output is seen).

/// Formats and prints one line with the `wsksock: ` prefix.
macro_rules! kprint {
    ($($arg:tt)*) => {{
        let mut line = wsksock_nt::print::Line::new();
        let _ = core::fmt::Write::write_str(&mut line, "wsksock: ");
        let _ = core::fmt::Write::write_fmt(&mut line, format_args!($($arg)*));
        line.emit();
    }};
}
pub(crate) use kprint;
