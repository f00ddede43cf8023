//! IRQL decisions: where a call that needs PASSIVE_LEVEL runs when a request arrives above it.
//!
//! A kernel caller may send IRP_MJ_INTERNAL_DEVICE_CONTROL at DISPATCH_LEVEL, and KMDF may present
//! a request at DISPATCH_LEVEL; `WskGetAddressInfo` (RESOLVE) may only be called at
//! PASSIVE_LEVEL. [`resolve_route`] decides; the provider only follows it.

use wsksock_abi::NtStatus;

/// `PASSIVE_LEVEL`.
pub const PASSIVE_LEVEL: u8 = 0;
/// `APC_LEVEL`.
pub const APC_LEVEL: u8 = 1;
/// `DISPATCH_LEVEL`.
pub const DISPATCH_LEVEL: u8 = 2;

/// Where `WskGetAddressInfo` is called for a RESOLVE dispatched at some IRQL.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ResolveRoute {
    /// Now, in the dispatching thread (it is at PASSIVE_LEVEL).
    Now,
    /// From a work item (a system worker thread at PASSIVE_LEVEL): the request was dispatched at
    /// APC_LEVEL or DISPATCH_LEVEL, where queueing a work item is allowed.
    WorkItem,
    /// Refused with this status: above DISPATCH_LEVEL nothing may be queued (and no
    /// device-control request may legally be sent there).
    Refuse(NtStatus),
}

/// The route for a RESOLVE dispatched at `irql`.
pub fn resolve_route(irql: u8) -> ResolveRoute {
    match irql {
        PASSIVE_LEVEL => ResolveRoute::Now,
        APC_LEVEL | DISPATCH_LEVEL => ResolveRoute::WorkItem,
        _ => ResolveRoute::Refuse(NtStatus::STATUS_INVALID_DEVICE_STATE),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests are not the driver: driver/clippy.toml
mod tests {
    use super::*;

    #[test]
    fn only_passive_level_calls_wsk_get_address_info_in_place() {
        assert_eq!(resolve_route(PASSIVE_LEVEL), ResolveRoute::Now);
    }

    #[test]
    fn apc_and_dispatch_level_go_through_a_work_item() {
        assert_eq!(resolve_route(APC_LEVEL), ResolveRoute::WorkItem);
        assert_eq!(resolve_route(DISPATCH_LEVEL), ResolveRoute::WorkItem);
    }

    #[test]
    fn above_dispatch_level_is_refused_with_a_status() {
        for irql in 3..=15 {
            assert_eq!(
                resolve_route(irql),
                ResolveRoute::Refuse(NtStatus::STATUS_INVALID_DEVICE_STATE),
                "IRQL {irql}"
            );
        }
    }
}
