//! Checked decoding of requests: no input can panic it or make it read out of bounds.
//!
//! | input | status |
//! |---|---|
//! | shorter than the header, or than the request struct (in the header's version) | STATUS_BUFFER_TOO_SMALL |
//! | header version neither [`ABI_VERSION`] nor [`ABI_VERSION_MIN`], or a struct that version lacks | STATUS_NOT_SUPPORTED |
//! | longer than the struct, or `size` not the struct's size, or reserved header bits set | STATUS_INVALID_PARAMETER |
//! | version 1, but a field or value only version 2 has ([`Message::valid_in_v1`]) | STATUS_INVALID_PARAMETER |
//!
//! A version-1 request of a struct that grew is read into the current struct with the new fields
//! zero; a version-2 request has the current layout (`msg` module docs: "Versions").

use crate::msg::{Header, Message, ABI_VERSION, ABI_VERSION_MIN};
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
    if !(ABI_VERSION_MIN..=ABI_VERSION).contains(&h.version) {
        return Err(NtStatus::STATUS_NOT_SUPPORTED);
    }
    let size = T::size_in(h.version).ok_or(NtStatus::STATUS_NOT_SUPPORTED)?;
    let want = size as usize;
    if input.len() < want {
        return Err(NtStatus::STATUS_BUFFER_TOO_SMALL);
    }
    if input.len() > want || h.size != size || h.reserved != 0 {
        return Err(NtStatus::STATUS_INVALID_PARAMETER);
    }
    let mut m = T::new_zeroed();
    m.as_mut_bytes()
        .get_mut(..want)
        .ok_or(NtStatus::STATUS_INVALID_PARAMETER)?
        .copy_from_slice(input);
    if h.version == 1 && !m.valid_in_v1() {
        return Err(NtStatus::STATUS_INVALID_PARAMETER);
    }
    Ok(m)
}

/// The ABI version a request's header states, for writing its reply in that version; the
/// current one if the input has no readable header (such a request never gets a reply).
pub fn version_of(input: &[u8]) -> u16 {
    header(input).map_or(ABI_VERSION, |h| h.version)
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
        let mut b = close_bytes();
        for v in [0, ABI_VERSION + 1, 0xFF] {
            b[4..6].copy_from_slice(&v.to_le_bytes());
            assert_eq!(
                decode::<CloseRequest>(&b),
                Err(NtStatus::STATUS_NOT_SUPPORTED),
                "{v}"
            );
        }
    }

    /// Version 3 changed only the control codes (their access bits): a version-2 request has
    /// the version-3 layout, its version-2 fields valid, and its reply is headed version 2.
    #[test]
    fn version_2_requests_read_as_version_3() {
        use crate::msg::{DataRequest, StatisticsReply, DATA_FLAG_NODELAY};
        let mut d = DataRequest::new_zeroed_with_header();
        d.timeout_ms = 5;
        d.flags = DATA_FLAG_NODELAY;
        let mut b = d.as_bytes().to_vec();
        b[4] = 2;
        let got = decode::<DataRequest>(&b).unwrap();
        assert_eq!(
            (got.timeout_ms, got.flags, got.header.version),
            (5, DATA_FLAG_NODELAY, 2)
        );
        let mut r = StatisticsReply::new_zeroed_with_header();
        let bytes = r.bytes_for_version(2).to_vec();
        assert_eq!(bytes.len(), core::mem::size_of::<StatisticsReply>());
        assert_eq!(header(&bytes).map(|h| h.version), Ok(2));
    }

    fn v1(mut bytes: Vec<u8>, size: usize) -> Vec<u8> {
        bytes.truncate(size);
        bytes[0..4].copy_from_slice(&u32::try_from(size).unwrap().to_le_bytes());
        bytes[4] = 1;
        bytes
    }

    #[test]
    fn version_1_requests_decode_with_new_fields_zero() {
        use crate::msg::{AcceptRequest, DatagramRequest, ResolveRequest};
        let mut a = AcceptRequest::new_zeroed_with_header();
        a.handle = crate::Handle {
            index: 3,
            generation: 4,
        };
        a.timeout_ms = 77;
        let got = decode::<AcceptRequest>(&v1(a.as_bytes().to_vec(), 16)).unwrap();
        assert_eq!(got.handle, a.handle);
        assert_eq!(got.timeout_ms, 0, "version 1 has no deadline");
        assert_eq!(got.header.version, 1);
        let d = DatagramRequest::new_zeroed_with_header();
        assert!(decode::<DatagramRequest>(&v1(d.as_bytes().to_vec(), 48)).is_ok());
        // The version-2 size under a version-1 header, and the reverse, are refused.
        let mut long = d.as_bytes().to_vec();
        long[4] = 1;
        assert_eq!(
            decode::<DatagramRequest>(&long),
            Err(NtStatus::STATUS_INVALID_PARAMETER)
        );
        let mut short = v1(d.as_bytes().to_vec(), 48);
        short[4] = 2;
        assert_eq!(
            decode::<DatagramRequest>(&short),
            Err(NtStatus::STATUS_BUFFER_TOO_SMALL)
        );
        let r = ResolveRequest::new_zeroed_with_header();
        assert!(decode::<ResolveRequest>(&v1(r.as_bytes().to_vec(), 272)).is_ok());
    }

    #[test]
    fn version_1_refuses_what_only_version_2_has() {
        use crate::msg::{DataRequest, OptionRequest, PeerCloseReply, DATA_FLAG_NODELAY};
        let mut d = DataRequest::new_zeroed_with_header();
        d.timeout_ms = 5;
        let b = v1(d.as_bytes().to_vec(), 40);
        assert_eq!(decode::<DataRequest>(&b), Err(NtStatus::STATUS_INVALID_PARAMETER));
        d.timeout_ms = 0;
        d.flags = DATA_FLAG_NODELAY;
        let b = v1(d.as_bytes().to_vec(), 40);
        assert_eq!(decode::<DataRequest>(&b), Err(NtStatus::STATUS_INVALID_PARAMETER));
        let mut o = OptionRequest::new_zeroed_with_header();
        o.option = crate::msg::SocketOption::ReceiveTimeout as u32;
        let b = v1(o.as_bytes().to_vec(), 32);
        assert_eq!(
            decode::<OptionRequest>(&b),
            Err(NtStatus::STATUS_INVALID_PARAMETER)
        );
        assert_eq!(decode::<OptionRequest>(o.as_bytes()).map(|m| m.option), Ok(7));
        let p = PeerCloseReply::new_zeroed_with_header();
        let b = v1(p.as_bytes().to_vec(), 16);
        assert_eq!(decode::<PeerCloseReply>(&b), Err(NtStatus::STATUS_NOT_SUPPORTED));
    }

    #[test]
    fn version_of_reads_the_header() {
        assert_eq!(version_of(&v1(close_bytes(), 32)), 1);
        assert_eq!(version_of(&close_bytes()), crate::msg::ABI_VERSION);
        assert_eq!(version_of(&[]), crate::msg::ABI_VERSION);
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
