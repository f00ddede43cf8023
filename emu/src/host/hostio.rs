//! The host socket of an emulated socket, and single attempts to move a send or a receive on
//! it: straight from and into the operation's buffer, never copying.

use super::shared::Shared;
use super::sock::{Pending, SockEntry};
use crate::profile::Profile;
use crate::status::from_io;
use mio::unix::SourceFd;
use mio::Interest;
use socket2::SockRef;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use wsksock_abi::NtStatus;

/// The host socket.
pub(crate) enum Io {
    /// Closed, aborted or reset.
    None,
    /// A TCP connection socket (maybe not yet connected).
    Stream(TcpStream),
    /// A TCP listening socket.
    Listener(TcpListener),
    /// A UDP socket.
    Dgram(UdpSocket),
}

impl Io {
    pub fn sock_ref(&self) -> Option<SockRef<'_>> {
        match self {
            Io::None => None,
            Io::Stream(s) => Some(SockRef::from(s)),
            Io::Listener(s) => Some(SockRef::from(s)),
            Io::Dgram(s) => Some(SockRef::from(s)),
        }
    }

    pub fn raw_fd(&self) -> Option<RawFd> {
        match self {
            Io::None => None,
            Io::Stream(s) => Some(s.as_raw_fd()),
            Io::Listener(s) => Some(s.as_raw_fd()),
            Io::Dgram(s) => Some(s.as_raw_fd()),
        }
    }
}

/// The outcome of one attempt.
pub(crate) enum Step {
    /// The operation finished with this status.
    Finished(NtStatus),
    /// The host socket would block: keep it queued.
    Blocked,
}

/// One attempt to move a send (or send-to) on.
pub(crate) fn send_step(io: &Io, p: &mut Pending, writable: &mut bool, profile: Profile) -> Step {
    let Some(buf) = p.buf.as_ref() else {
        return Step::Finished(NtStatus::STATUS_INVALID_PARAMETER);
    };
    let data = buf.as_slice();
    loop {
        let r = match io {
            Io::Stream(s) => {
                if p.progress >= data.len() {
                    return Step::Finished(NtStatus::STATUS_SUCCESS);
                }
                (&*s).write(&data[p.progress..])
            }
            Io::Dgram(u) => match p.addr {
                Some(a) => match u.send_to(data, a) {
                    Ok(n) => {
                        p.progress = n;
                        return Step::Finished(NtStatus::STATUS_SUCCESS);
                    }
                    Err(e) => Err(e),
                },
                None => return Step::Finished(NtStatus::STATUS_INVALID_PARAMETER),
            },
            Io::None | Io::Listener(_) => return Step::Finished(NtStatus::STATUS_INVALID_DEVICE_STATE),
        };
        match r {
            Ok(0) => return Step::Finished(NtStatus::STATUS_CONNECTION_DISCONNECTED),
            Ok(n) => p.progress += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *writable = false;
                return Step::Blocked;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Step::Finished(from_io(profile, &e)),
        }
    }
}

/// One attempt to move a receive (or receive-from) on.
pub(crate) fn recv_step(io: &Io, p: &mut Pending, readable: &mut bool, profile: Profile) -> Step {
    let Some(buf) = p.buf.as_mut() else {
        return Step::Finished(NtStatus::STATUS_INVALID_PARAMETER);
    };
    let data = buf.as_mut_slice();
    loop {
        let r = match io {
            Io::Stream(s) => (&*s).read(&mut data[p.progress..]),
            Io::Dgram(u) => match u.recv_from(data) {
                Ok((n, from)) => {
                    p.addr = Some(from);
                    p.progress = n;
                    return Step::Finished(NtStatus::STATUS_SUCCESS);
                }
                Err(e) => Err(e),
            },
            Io::None | Io::Listener(_) => return Step::Finished(NtStatus::STATUS_INVALID_DEVICE_STATE),
        };
        match r {
            // The peer's FIN: success with what we have (0 bytes: end of stream).
            Ok(0) => return Step::Finished(NtStatus::STATUS_SUCCESS),
            Ok(n) => {
                p.progress += n;
                if !p.waitall || p.progress == data.len() {
                    return Step::Finished(NtStatus::STATUS_SUCCESS);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *readable = false;
                return Step::Blocked;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Data already received is not lost: report it; the error shows on the next call.
            Err(_) if p.progress > 0 => return Step::Finished(NtStatus::STATUS_SUCCESS),
            Err(e) => return Step::Finished(from_io(profile, &e)),
        }
    }
}

/// Registers a host socket with the event loop.
pub(crate) fn register(sh: &Shared, io: &Io, id: u64) -> io::Result<()> {
    match io.raw_fd() {
        Some(fd) => sh.registry.register(
            &mut SourceFd(&fd),
            SockEntry::token(id),
            Interest::READABLE | Interest::WRITABLE,
        ),
        None => Ok(()),
    }
}
