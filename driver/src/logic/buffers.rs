//! Where a device-control request's buffers are, per transfer method, and MDL offset arithmetic.
//!
//! | method | input (the request struct) | output (reply, data) |
//! |---|---|---|
//! | `METHOD_BUFFERED` | `SystemBuffer` | `SystemBuffer` (copied back by the I/O manager) |
//! | `METHOD_IN_DIRECT` | `SystemBuffer` | `MdlAddress`, probed and locked **for reading**: data the driver sends, never written |
//! | `METHOD_OUT_DIRECT` | `SystemBuffer` | `MdlAddress`, probed and locked for writing |
//! | `METHOD_NEITHER` | `Type3InputBuffer` (raw, kernel requestors only) | `UserBuffer` (raw) |
//!
//! The engine refuses METHOD_NEITHER from user mode; the front end additionally never
//! dereferences a METHOD_NEITHER pointer of a user-mode request (it hands the engine an empty
//! input instead), so a wrong engine decision cannot turn into a kernel access to user memory.
//! A kernel requestor's raw pointers — the METHOD_NEITHER request and reply, and the data
//! buffers the `*_KERNEL` requests name — must lie in system space ([`kernel_range`]) and be
//! resident, or the request fails with STATUS_INVALID_USER_BUFFER before anything is read.
//!
//! Where a reply may go is [`reply_to`]'s to say, from the layout alone: an input MDL has no
//! reply destination at all, so nothing can write through it.

use wsksock_abi::ioctl::{method_of, METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_OUT_DIRECT};
use wsksock_abi::NtStatus;

/// Where the input and output of one request are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Layout {
    /// Input and output share `SystemBuffer`.
    Buffered,
    /// Input in `SystemBuffer`; output described by `MdlAddress`, locked for reading only.
    DirectIn,
    /// Input in `SystemBuffer`; output described by `MdlAddress`, locked for writing.
    DirectOut,
    /// Raw `Type3InputBuffer` / `UserBuffer` pointers, trusted only from kernel mode.
    Neither {
        /// Whether the pointers may be dereferenced (kernel-mode requestor).
        trusted: bool,
    },
}

impl Layout {
    /// Whether the output buffer is an MDL (direct I/O).
    pub fn is_direct(self) -> bool {
        matches!(self, Layout::DirectIn | Layout::DirectOut)
    }
}

/// The layout of a control code for a requestor.
pub fn layout(code: u32, kernel_requestor: bool) -> Layout {
    match method_of(code) {
        METHOD_BUFFERED => Layout::Buffered,
        METHOD_IN_DIRECT => Layout::DirectIn,
        METHOD_OUT_DIRECT => Layout::DirectOut,
        // `method_of` masks two bits: the last value is METHOD_NEITHER.
        _ => Layout::Neither {
            trusted: kernel_requestor,
        },
    }
}

/// Where a reply (the struct at the start of the output buffer) is written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplyTo {
    /// `SystemBuffer`, which the I/O manager copies back.
    SystemBuffer,
    /// The first bytes of the output MDL (locked for writing).
    OutputMdl,
    /// A kernel requestor's `UserBuffer`.
    UserBuffer,
    /// Nowhere: the reply is dropped (an input MDL, or an untrusted raw pointer).
    Nowhere,
}

/// Where a reply of a request with `layout` goes. An input MDL (`METHOD_IN_DIRECT`) was probed
/// for reading only: it is never a destination.
pub fn reply_to(layout: Layout) -> ReplyTo {
    match layout {
        // The I/O manager's own buffer, copied back to the caller.
        Layout::Buffered => ReplyTo::SystemBuffer,
        // Locked for writing: the reply is its first bytes.
        Layout::DirectOut => ReplyTo::OutputMdl,
        // A kernel requestor's buffer, checked to be in system space (`kernel_range`).
        Layout::Neither { trusted: true } => ReplyTo::UserBuffer,
        // An input MDL is locked for reading only: writing would break the I/O manager's
        // contract. A user-mode raw pointer is never dereferenced.
        Layout::DirectIn | Layout::Neither { trusted: false } => ReplyTo::Nowhere,
    }
}

/// Whether the data buffer (the output MDL) of `layout` may be written (received into).
pub fn data_writable(layout: Layout) -> bool {
    layout == Layout::DirectOut
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

/// x64 page size.
pub const PAGE_SIZE: usize = 4096;

/// A kernel requestor's buffer that passed [`kernel_range`]: non-empty, in system space, no
/// wrap-around, at most a `ULONG` long (what an MDL can describe).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KernelRange {
    /// First byte.
    pub addr: usize,
    /// Bytes.
    pub len: u32,
}

impl KernelRange {
    /// The start of every page the range touches, first to last (each must be resident).
    pub fn pages(self) -> impl Iterator<Item = usize> {
        let first = self.addr & !(PAGE_SIZE - 1);
        // `kernel_range` checked that `addr + len` does not wrap, and `len` > 0.
        let last = (self.addr + (self.len as usize - 1)) & !(PAGE_SIZE - 1);
        (first..=last).step_by(PAGE_SIZE)
    }
}

/// Why a kernel requestor's buffer is refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KernelBufferError {
    /// Empty, longer than a `ULONG`, or wrapping around the address space.
    Malformed,
    /// Not (entirely) in system space: a user-mode address forwarded by a kernel caller.
    NotSystemSpace,
}

impl KernelBufferError {
    /// The status a request gets for it (docs/ABI.md).
    pub fn status(self) -> NtStatus {
        match self {
            // The engine checks the same before a data buffer is taken; here for the raw
            // request and reply pointers.
            KernelBufferError::Malformed => NtStatus::STATUS_INVALID_PARAMETER,
            KernelBufferError::NotSystemSpace => NtStatus::STATUS_INVALID_USER_BUFFER,
        }
    }
}

/// Checks a buffer a kernel requestor names by address — a `*_KERNEL` data buffer, or its
/// METHOD_NEITHER request and reply — against the start of system space (`MmSystemRangeStart`;
/// 0 under Wine, where every address is one of winedevice.exe). Residency of its pages is the
/// kernel's to check ([`KernelRange::pages`]).
pub fn kernel_range(
    addr: u64,
    len: u64,
    system_range_start: usize,
) -> Result<KernelRange, KernelBufferError> {
    let len32 = u32::try_from(len).map_err(|_| KernelBufferError::Malformed)?;
    let addr = usize::try_from(addr).map_err(|_| KernelBufferError::Malformed)?;
    if len32 == 0 || addr.checked_add(len32 as usize).is_none() {
        return Err(KernelBufferError::Malformed);
    }
    if addr < system_range_start {
        return Err(KernelBufferError::NotSystemSpace);
    }
    Ok(KernelRange { addr, len: len32 })
}

/// How many bytes of a reply fit in an output buffer of `output_len`, and whether it all fits.
pub fn reply_fit(reply_len: usize, output_len: usize) -> (usize, bool) {
    let n = reply_len.min(output_len);
    (n, n == reply_len)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests are not the driver: driver/clippy.toml
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use wsksock_abi::Op;

    /// The start of system space on x64 Windows.
    const WINDOWS: usize = 0xFFFF_8000_0000_0000;

    #[test]
    fn layouts_follow_the_abi_methods() {
        assert_eq!(layout(Op::Socket.code(), false), Layout::Buffered);
        assert_eq!(layout(Op::Send.code(), false), Layout::DirectIn);
        assert_eq!(layout(Op::SendTo.code(), true), Layout::DirectIn);
        assert_eq!(layout(Op::Receive.code(), false), Layout::DirectOut);
        assert_eq!(layout(Op::ReceiveFrom.code(), true), Layout::DirectOut);
        assert_eq!(
            layout(Op::SendKernel.code(), true),
            Layout::Neither { trusted: true }
        );
        assert_eq!(
            layout(Op::SendKernel.code(), false),
            Layout::Neither { trusted: false }
        );
    }

    /// Every METHOD_IN_DIRECT code: its output MDL (probed for reading) is neither a reply
    /// destination nor a buffer to receive into, whoever sends it.
    #[test]
    fn an_input_mdl_is_never_written() {
        let in_direct: Vec<Op> = Op::ALL
            .iter()
            .copied()
            .filter(|op| method_of(op.code()) == METHOD_IN_DIRECT)
            .collect();
        assert_eq!(in_direct, [Op::Send, Op::SendTo]);
        for op in in_direct {
            for kernel in [false, true] {
                let l = layout(op.code(), kernel);
                assert_eq!(reply_to(l), ReplyTo::Nowhere, "{op:?}");
                assert!(!data_writable(l), "{op:?}");
            }
        }
    }

    #[test]
    fn replies_go_where_the_method_allows() {
        assert_eq!(reply_to(Layout::Buffered), ReplyTo::SystemBuffer);
        assert_eq!(reply_to(Layout::DirectOut), ReplyTo::OutputMdl);
        assert_eq!(reply_to(Layout::Neither { trusted: true }), ReplyTo::UserBuffer);
        assert_eq!(reply_to(Layout::Neither { trusted: false }), ReplyTo::Nowhere);
        assert!(data_writable(layout(Op::Receive.code(), false)));
        assert!(!data_writable(layout(Op::Socket.code(), false)));
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
    fn malformed_kernel_buffers_are_refused() {
        use KernelBufferError::Malformed;
        assert_eq!(kernel_range(WINDOWS as u64, 0, WINDOWS), Err(Malformed));
        assert_eq!(
            kernel_range(WINDOWS as u64, u64::from(u32::MAX) + 1, WINDOWS),
            Err(Malformed)
        );
        assert_eq!(kernel_range(u64::MAX - 3, 8, WINDOWS), Err(Malformed));
        assert_eq!(kernel_range(u64::MAX - 3, 8, 0), Err(Malformed));
    }

    /// A kernel caller forwarding a user-mode pointer (below `MmSystemRangeStart`) is refused
    /// with STATUS_INVALID_USER_BUFFER; a system address passes.
    #[test]
    fn user_addresses_from_kernel_callers_are_refused_on_windows() {
        use KernelBufferError::NotSystemSpace;
        for user in [0u64, 0x1000, 0x7FF6_1234_0000, (WINDOWS - 1) as u64] {
            assert_eq!(kernel_range(user, 16, WINDOWS), Err(NotSystemSpace), "{user:#x}");
        }
        assert_eq!(NotSystemSpace.status(), NtStatus::STATUS_INVALID_USER_BUFFER);
        assert_eq!(
            kernel_range(0xFFFF_A000_1234_5000, 4096, WINDOWS),
            Ok(KernelRange {
                addr: 0xFFFF_A000_1234_5000,
                len: 4096
            })
        );
    }

    /// Under Wine the "kernel" is winedevice.exe: every address is in range, residency decides.
    #[test]
    fn under_wine_every_address_is_in_range() {
        assert_eq!(
            kernel_range(0x1_4000_0000, 100, 0),
            Ok(KernelRange {
                addr: 0x1_4000_0000,
                len: 100
            })
        );
    }

    #[test]
    fn every_touched_page_is_listed() {
        let pages = |addr: usize, len: u32| KernelRange { addr, len }.pages().collect::<Vec<_>>();
        assert_eq!(pages(0x10_0000, 1), [0x10_0000]);
        assert_eq!(pages(0x10_0FFF, 1), [0x10_0000]);
        assert_eq!(pages(0x10_0FFF, 2), [0x10_0000, 0x10_1000]);
        assert_eq!(pages(0x10_0000, 4096), [0x10_0000]);
        assert_eq!(pages(0x10_0001, 8192), [0x10_0000, 0x10_1000, 0x10_2000]);
        assert_eq!(pages(usize::MAX - 4095, 4096), [usize::MAX - 4095]);
    }

    #[test]
    fn replies_are_truncated_to_the_output() {
        assert_eq!(reply_fit(16, 64), (16, true));
        assert_eq!(reply_fit(16, 8), (8, false));
        assert_eq!(reply_fit(0, 0), (0, true));
    }
}
