//! UTF-16 names for `UNICODE_STRING`s: the device names at compile time, host names at run time.

use alloc::vec::Vec;

/// An ASCII string as UTF-16 code units, at compile time (`N` = its length).
pub const fn wide<const N: usize>(s: &str) -> [u16; N] {
    let b = s.as_bytes();
    assert!(b.len() == N, "length mismatch");
    let mut out = [0u16; N];
    let mut i = 0;
    while i < N {
        assert!(b[i] < 0x80, "ASCII only");
        out[i] = b[i] as u16;
        i += 1;
    }
    out
}

/// `\Device\WskSock` in UTF-16.
pub static DEVICE_NAME: [u16; wsksock_abi::ioctl::WSKSOCK_DEVICE_NAME.len()] =
    wide(wsksock_abi::ioctl::WSKSOCK_DEVICE_NAME);
/// `\DosDevices\WskSock` in UTF-16.
pub static DOS_NAME: [u16; wsksock_abi::ioctl::WSKSOCK_DOS_NAME.len()] =
    wide(wsksock_abi::ioctl::WSKSOCK_DOS_NAME);

/// Who may open the device: SYSTEM and Administrators, full access, nobody else
/// (`SDDL_DEVOBJ_SYS_ALL_ADM_ALL`; a protected DACL, no inherited ACEs).
pub const DEVICE_SDDL: &str = "D:P(A;;GA;;;SY)(A;;GA;;;BA)";
/// [`DEVICE_SDDL`] in UTF-16.
pub static DEVICE_SDDL_WIDE: [u16; DEVICE_SDDL.len()] = wide(DEVICE_SDDL);

/// Longest host name accepted for resolution (DNS limit).
pub const MAX_NODE_CHARS: usize = 255;

/// Why a host name could not be made UTF-16.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NameError {
    /// Empty, too long, or with a NUL or a non-ASCII character.
    Invalid,
    /// No memory for it.
    NoMemory,
}

/// A host name as NUL-terminated UTF-16 (Wine hands the buffer to `GetAddrInfoExW` as a C
/// string). The buffer is allocated fallibly.
pub fn node_utf16(node: &str) -> Result<Vec<u16>, NameError> {
    if node.is_empty() || node.len() > MAX_NODE_CHARS || !node.bytes().all(|b| b.is_ascii() && b != 0) {
        return Err(NameError::Invalid);
    }
    let mut v = Vec::new();
    v.try_reserve_exact(node.len() + 1)
        .map_err(|_| NameError::NoMemory)?;
    // Room reserved above: neither allocates.
    #[allow(clippy::disallowed_methods)]
    v.extend(node.bytes().map(u16::from));
    #[allow(clippy::disallowed_methods)]
    v.push(0);
    Ok(v)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests are not the driver: driver/clippy.toml
mod tests {
    use super::*;
    use wsksock_nt::sddl::{self, Sid};

    #[test]
    fn device_sddl_parses() {
        let dacl = sddl::parse(&DEVICE_SDDL_WIDE).expect("the device SDDL is in the parsed subset");
        assert!(dacl.protected);
        let who: Vec<(u32, Sid)> = dacl.aces().iter().map(|a| (a.mask, a.sid)).collect();
        assert_eq!(
            who,
            [(0x1000_0000, Sid::SYSTEM), (0x1000_0000, Sid::ADMINISTRATORS)]
        );
    }

    #[test]
    fn device_names_are_utf16_of_the_abi_names() {
        assert_eq!(String::from_utf16(&DEVICE_NAME).unwrap(), "\\Device\\WskSock");
        assert_eq!(String::from_utf16(&DOS_NAME).unwrap(), "\\DosDevices\\WskSock");
    }

    #[test]
    fn node_names_are_nul_terminated_ascii() {
        assert_eq!(
            node_utf16("localhost").unwrap(),
            "localhost\0".encode_utf16().collect::<Vec<_>>()
        );
        assert_eq!(node_utf16(""), Err(NameError::Invalid));
        assert_eq!(node_utf16("a\0b"), Err(NameError::Invalid));
        assert_eq!(node_utf16("h\u{e9}te"), Err(NameError::Invalid));
        assert_eq!(node_utf16(&"a".repeat(256)), Err(NameError::Invalid));
        assert!(node_utf16(&"a".repeat(255)).is_ok());
    }
}
