//! The one `unsafe` call of the crate: `ioctl(SIOCOUTQ)`, the bytes a TCP socket still holds
//! (unsent plus sent but not acknowledged, the FIN counting as one).
//!
//! A graceful disconnect completes only when this reaches zero, that is when the peer has
//! acknowledged every byte and the FIN: while the peer does not read, its window stays closed,
//! the count stays above zero and the disconnect stays pending, so a linger timeout is real. No
//! safe API (std, socket2, mio) exposes this count.

use std::io;
use std::os::fd::AsRawFd;

/// Bytes not yet acknowledged by the peer (FIN included), or the ioctl's error.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn unacked_bytes(sock: &impl AsRawFd) -> io::Result<usize> {
    let mut count: libc::c_int = 0;
    // SAFETY:
    // 1. `sock` is borrowed for the whole call, so the descriptor is open and is a socket.
    // 2. SIOCOUTQ (== TIOCOUTQ) writes exactly one `c_int` through its argument, and `count` is a
    //    live, aligned, writable `c_int` on this stack frame.
    // 3. The call has no other memory effect.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::TIOCOUTQ, &raw mut count) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Elsewhere: no portable way to know, so the disconnect completes once the FIN is queued.
#[cfg(not(target_os = "linux"))]
pub fn unacked_bytes(_sock: &impl AsRawFd) -> io::Result<usize> {
    Ok(0)
}
