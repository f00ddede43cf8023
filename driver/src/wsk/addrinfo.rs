//! The result of `WskGetAddressInfo`, owned: its nodes are read through [`AddrInfoList::addresses`]
//! and the list is freed (`WskFreeAddressInfo`) when the value is dropped.
//!
//! Both calls are PASSIVE_LEVEL only (the list may live in paged pool): a list is read and dropped
//! in a work item, never in the completion routine (see the provider's `resolve`).
//!
//! # Invariants
//! `head` is the list `WskGetAddressInfo` returned to `client`, not freed yet; its nodes are not
//! changed by anyone while the value lives.

use crate::logic::sockaddr;
use crate::sys::{ADDRINFOEXW, PFN_WSK_FREE_ADDRESS_INFO, SOCKADDR_STORAGE, WSK_CLIENT};
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::ptr::NonNull;

/// At most this many addresses are taken from one list.
pub const MAX_ADDRESSES: usize = 64;

/// An address-info list of the WSK provider.
pub struct AddrInfoList {
    head: NonNull<ADDRINFOEXW>,
    client: *mut WSK_CLIENT,
    free: PFN_WSK_FREE_ADDRESS_INFO,
}

// SAFETY: 1. the list is only read and freed by its owner, at PASSIVE_LEVEL on any thread; the WSK
// client handle may be used from any thread.
unsafe impl Send for AddrInfoList {}

impl AddrInfoList {
    /// Takes ownership of a list `WskGetAddressInfo` returned; `None` for an empty (null) one.
    ///
    /// # Safety
    /// `head` is null or the result of a completed `WskGetAddressInfo` of `client`, not freed, and
    /// `free` is that provider's `WskFreeAddressInfo`; nobody else frees it.
    pub unsafe fn from_raw(
        head: *mut ADDRINFOEXW,
        client: *mut WSK_CLIENT,
        free: PFN_WSK_FREE_ADDRESS_INFO,
    ) -> Option<AddrInfoList> {
        // INVARIANT: the caller hands over a live list.
        NonNull::new(head).map(|head| AddrInfoList { head, client, free })
    }

    /// Its addresses with `port` (at most [`MAX_ADDRESSES`]; nodes without a usable address are
    /// skipped). PASSIVE_LEVEL. `Err` if there is no memory for them.
    pub fn addresses(&self, port: u16) -> Result<Vec<SocketAddr>, ()> {
        let mut out = Vec::new();
        let mut next = Some(self.head);
        while let Some(ai) = next {
            if out.len() >= MAX_ADDRESSES {
                break;
            }
            // SAFETY: 1. a node of the live list (invariant), not changed while we read it.
            let node = unsafe { ai.as_ref() };
            let (addr, len) = (node.ai_addr, node.ai_addrlen);
            if !addr.is_null() && len > 0 {
                let n = len.min(core::mem::size_of::<SOCKADDR_STORAGE>());
                // SAFETY: 1. WSK says `ai_addr` points to `ai_addrlen` bytes of the live list; we read
                // at most that.
                let bytes = unsafe { core::slice::from_raw_parts(addr.cast::<u8>(), n) };
                let st = sockaddr::storage_from_bytes(bytes);
                if let Some(a) = sockaddr::from_storage(&st, n) {
                    out.try_reserve(1).map_err(|_| ())?;
                    // Room reserved just above: no allocation.
                    #[allow(clippy::disallowed_methods)]
                    out.push(sockaddr::with_port(a, port));
                }
            }
            next = NonNull::new(node.ai_next);
        }
        Ok(out)
    }
}

impl Drop for AddrInfoList {
    fn drop(&mut self) {
        // SAFETY: 1. the list this value owns (invariant), freed once, here, with its provider's
        // function; 2. PASSIVE_LEVEL (module docs).
        unsafe { (self.free)(self.client, self.head.as_ptr()) };
    }
}
