//! One `DbgPrint` line with Rust formatting (each image wraps it in a macro with its prefix, e.g.
//! the driver's `kprint!`).
//!
//! The message is formatted into a stack buffer (truncated at 255 bytes), NUL-terminated and
//! passed as `%s` so a `%` in the data is never interpreted. On Windows the output appears in a
//! kernel debugger or DebugView (default filter: see docs/INSTALL.md); under Wine with
//! `WINEDEBUG=warn+debugstr`.

use crate::sys::imports::DbgPrint;
use core::fmt::{self, Write};

/// A fixed buffer that swallows what does not fit.
pub struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Line {
    /// An empty line.
    pub const fn new() -> Self {
        Line {
            buf: [0; 256],
            len: 0,
        }
    }

    /// Sends the line to `DbgPrint`.
    pub fn emit(mut self) {
        let end = self.len.min(self.buf.len() - 1);
        self.buf[end] = 0;
        // SAFETY: 1. both strings are NUL-terminated (`"%s\n\0"` literal; `buf[end]` set above);
        // 2. `%s` consumes exactly the one pointer argument passed.
        unsafe {
            DbgPrint(c"%s\n".as_ptr().cast(), self.buf.as_ptr());
        }
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - 1 - self.len.min(self.buf.len() - 1);
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
