//! Checked decoding of requests: no input can panic it or make it read out of bounds.
//!
//! | input | status |
//! |---|---|
//! | shorter than the header, or than the request struct | STATUS_BUFFER_TOO_SMALL |
//! | header version not [`ABI_VERSION`] | STATUS_NOT_SUPPORTED |
//! | longer than the struct, or `size` not the struct's size, or reserved header bits set | STATUS_INVALID_PARAMETER |

use crate::msg::{Header, Message, ABI_VERSION};
use crate::NtStatus;
use zerocopy::FromBytes;

/// Reads the header at the start of `input`.
pub fn header(input: &[u8]) -> Result<Header, NtStatus> {
    Header::read_from_prefix(input)
        .map(|(h, _)| h)
        .map_err(|_| NtStatus::STATUS_BUFFER_TOO_SMALL)
}

/// Decodes a whole request of type `T` from `input` (see the module table for the statuses).
pub fn decode<T: Message>(input: &[u8]) -> Result<T, NtStatus> {
    let h = header(input)?;
    if h.version != ABI_VERSION {
        return Err(NtStatus::STATUS_NOT_SUPPORTED);
    }
    let want = core::mem::size_of::<T>();
    if input.len() < want {
        return Err(NtStatus::STATUS_BUFFER_TOO_SMALL);
    }
    if input.len() > want || h.size != T::SIZE || h.reserved != 0 {
        return Err(NtStatus::STATUS_INVALID_PARAMETER);
    }
    T::read_from_bytes(input).map_err(|_| NtStatus::STATUS_INVALID_PARAMETER)
}

/// Reads a NUL-terminated ASCII string from a fixed field; refuses missing NUL and non-ASCII.
pub fn c_str(field: &[u8]) -> Result<&str, NtStatus> {
    let end = field
        .iter()
        .position(|b| *b == 0)
        .ok_or(NtStatus::STATUS_INVALID_PARAMETER)?;
    let s = &field[..end];
    if !s.is_ascii() {
        return Err(NtStatus::STATUS_INVALID_PARAMETER);
    }
    core::str::from_utf8(s).map_err(|_| NtStatus::STATUS_INVALID_PARAMETER)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::msg::{CloseRequest, HandleRequest};
    use proptest::prelude::*;
    use std::vec::Vec;
    use zerocopy::IntoBytes;

    fn close_bytes() -> Vec<u8> {
        CloseRequest::new_zeroed_with_header().as_bytes().to_vec()
    }

    #[test]
    fn short_input_is_buffer_too_small() {
        assert_eq!(
            decode::<CloseRequest>(&[]),
            Err(NtStatus::STATUS_BUFFER_TOO_SMALL)
        );
        assert_eq!(
            decode::<CloseRequest>(&close_bytes()[..7]),
            Err(NtStatus::STATUS_BUFFER_TOO_SMALL)
        );
        assert_eq!(
            decode::<CloseRequest>(&close_bytes()[..31]),
            Err(NtStatus::STATUS_BUFFER_TOO_SMALL)
        );
    }

    #[test]
    fn oversized_input_is_invalid_parameter() {
        let mut b = close_bytes();
        b.push(0);
        assert_eq!(
            decode::<CloseRequest>(&b),
            Err(NtStatus::STATUS_INVALID_PARAMETER)
        );
    }

    #[test]
    fn wrong_size_field_is_invalid_parameter() {
        let mut b = close_bytes();
        b[0] = 33;
        assert_eq!(
            decode::<CloseRequest>(&b),
            Err(NtStatus::STATUS_INVALID_PARAMETER)
        );
    }

    #[test]
    fn unknown_version_is_not_supported() {
        // The previous version (codes without access bits) and the next one.
        for v in [ABI_VERSION - 1, ABI_VERSION + 1] {
            let mut b = close_bytes();
            b[4..6].copy_from_slice(&v.to_le_bytes());
            assert_eq!(
                decode::<CloseRequest>(&b),
                Err(NtStatus::STATUS_NOT_SUPPORTED),
                "v{v}"
            );
        }
    }

    #[test]
    fn good_input_decodes() {
        let r = decode::<CloseRequest>(&close_bytes()).unwrap();
        assert_eq!(r, CloseRequest::new_zeroed_with_header());
    }

    #[test]
    fn c_str_checks_nul_and_ascii() {
        assert_eq!(c_str(b"abc\0zz"), Ok("abc"));
        assert_eq!(c_str(b"abc"), Err(NtStatus::STATUS_INVALID_PARAMETER));
        assert_eq!(c_str(b"\xff\0"), Err(NtStatus::STATUS_INVALID_PARAMETER));
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let r = decode::<HandleRequest>(&bytes);
            if let Ok(v) = r {
                prop_assert_eq!(v.as_bytes(), &bytes[..]);
            }
            let _ = decode::<crate::msg::ResolveRequest>(&bytes);
            let _ = c_str(&bytes);
        }
    }
}
