//! Pure logic of the driver: no FFI, no `unsafe`, unit-tested on the host.
//!
//! The kernel-facing modules (`kernel`, `irp`, `wsk`, `front`) are thin shells over these: the
//! cancel / complete race of a client request, which control code a request is served as, what a
//! WSK call's return value means for its IRP, buffer selection per transfer method and the checks
//! of a kernel caller's raw buffers, MDL offset arithmetic, where a PASSIVE_LEVEL call runs when a
//! request arrives above it, address and option conversions.
#![forbid(unsafe_code)]

pub mod buffers;
pub mod cancel;
pub mod codes;
pub mod irql;
pub mod names;
pub mod options;
pub mod sockaddr;
pub mod sync;
pub mod sync_return;
