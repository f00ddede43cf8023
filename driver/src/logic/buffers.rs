//! Where a device-control request's buffers are, per transfer method, and MDL offset arithmetic.
//!
//! | method | input (the request struct) | output (reply, data) |
//! |---|---|---|
//! | `METHOD_BUFFERED` | `SystemBuffer` | `SystemBuffer` (copied back by the I/O manager) |
//! | `METHOD_IN_DIRECT` / `METHOD_OUT_DIRECT` | `SystemBuffer` | `MdlAddress` (probed and locked by the I/O manager) |
//! | `METHOD_NEITHER` | `Type3InputBuffer` (raw, kernel requestors only) | `UserBuffer` (raw) |
//!
//! The engine refuses METHOD_NEITHER from user mode; the front end additionally never
//! dereferences a METHOD_NEITHER pointer of a user-mode request (it hands the engine an empty
//! input instead), so a wrong engine decision cannot turn into a kernel access to user memory.

use wsksock_abi::ioctl::{method_of, METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_OUT_DIRECT};

/// Where the input and output of one request are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Layout {
    /// Input and output share `SystemBuffer`.
    Buffered,
    /// Input in `SystemBuffer`; output described by `MdlAddress`.
    Direct,
    /// Raw `Type3InputBuffer` / `UserBuffer` pointers, trusted only from kernel mode.
    Neither {
        /// Whether the pointers may be dereferenced (kernel-mode requestor).
        trusted: bool,
    },
}

/// The layout of a control code for a requestor.
pub fn layout(code: u32, kernel_requestor: bool) -> Layout {
    match method_of(code) {
        METHOD_BUFFERED => Layout::Buffered,
        METHOD_IN_DIRECT | METHOD_OUT_DIRECT => Layout::Direct,
        // `method_of` masks two bits: the last value is METHOD_NEITHER.
        _ => Layout::Neither {
            trusted: kernel_requestor,
        },
    }
}

/// A byte range inside a buffer described by an MDL: `IoBuildPartialMdl` arguments.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SubRange {
    /// Offset from the start of the source buffer.
    pub offset: usize,
    /// Bytes (fits a `ULONG`).
    pub len: u32,
}

/// Errors of [`sub_range`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RangeError {
    /// The offset is past the end of the buffer.
    OffsetPastEnd,
}

/// The range from `offset` to the end of a buffer of `total` bytes (`total` comes from an MDL's
/// `ByteCount`, so it fits a `ULONG`). An offset equal to the length gives an empty range.
pub fn sub_range(total: u32, offset: usize) -> Result<SubRange, RangeError> {
    let total_usize = total as usize;
    if offset > total_usize {
        return Err(RangeError::OffsetPastEnd);
    }
    let len = total - u32::try_from(offset).map_err(|_| RangeError::OffsetPastEnd)?;
    Ok(SubRange { offset, len })
}

/// Checks a kernel buffer named in a `*_KERNEL` request: non-null, a `ULONG` length (what an MDL
/// can describe), no address-space wrap-around. Returns `(addr, len)` as the MDL wants them.
pub fn kernel_buffer(addr: u64, len: u64) -> Option<(usize, u32)> {
    if addr == 0 {
        return None;
    }
    let len32 = u32::try_from(len).ok()?;
    let addr_usize = usize::try_from(addr).ok()?;
    addr_usize.checked_add(len32 as usize)?;
    Some((addr_usize, len32))
}

/// How many bytes of a reply fit in an output buffer of `output_len`, and whether it all fits.
pub fn reply_fit(reply_len: usize, output_len: usize) -> (usize, bool) {
    let n = reply_len.min(output_len);
    (n, n == reply_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsksock_abi::Op;

    #[test]
    fn layouts_follow_the_abi_methods() {
        assert_eq!(layout(Op::Socket.code(), false), Layout::Buffered);
        assert_eq!(layout(Op::Send.code(), false), Layout::Direct);
        assert_eq!(layout(Op::ReceiveFrom.code(), true), Layout::Direct);
        assert_eq!(
            layout(Op::SendKernel.code(), true),
            Layout::Neither { trusted: true }
        );
        assert_eq!(
            layout(Op::SendKernel.code(), false),
            Layout::Neither { trusted: false }
        );
    }

    #[test]
    fn sub_range_covers_offset_to_end() {
        assert_eq!(sub_range(100, 0), Ok(SubRange { offset: 0, len: 100 }));
        assert_eq!(sub_range(100, 48), Ok(SubRange { offset: 48, len: 52 }));
        assert_eq!(sub_range(100, 100), Ok(SubRange { offset: 100, len: 0 }));
        assert_eq!(sub_range(100, 101), Err(RangeError::OffsetPastEnd));
        assert_eq!(sub_range(0, usize::MAX), Err(RangeError::OffsetPastEnd));
        assert_eq!(
            sub_range(u32::MAX, u32::MAX as usize),
            Ok(SubRange {
                offset: u32::MAX as usize,
                len: 0
            })
        );
    }

    #[test]
    fn kernel_buffers_are_checked() {
        assert_eq!(kernel_buffer(0, 10), None);
        assert_eq!(kernel_buffer(0x1000, u64::from(u32::MAX) + 1), None);
        assert_eq!(kernel_buffer(u64::MAX - 3, 8), None);
        assert_eq!(
            kernel_buffer(0xFFFF_8000_0000_0000, 4096),
            Some((0xFFFF_8000_0000_0000, 4096))
        );
    }

    #[test]
    fn replies_are_truncated_to_the_output() {
        assert_eq!(reply_fit(16, 64), (16, true));
        assert_eq!(reply_fit(16, 8), (8, false));
        assert_eq!(reply_fit(0, 0), (0, true));
    }
}
