//! Socket handles: an index into the client's handle table and the generation of that slot.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A client's name for one of its sockets.
///
/// # Invariants
/// A live handle never has generation 0, so [`Handle::NULL`] never names a socket. When a slot is
/// freed its generation is bumped, so a closed handle stays invalid even after the slot is reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Handle {
    /// Slot in the client's handle table.
    pub index: u32,
    /// Generation of the slot when the handle was issued (never 0 for a live handle).
    pub generation: u32,
}

impl Handle {
    /// The handle that names nothing (used for "global" in STATISTICS).
    pub const NULL: Handle = Handle {
        index: 0,
        generation: 0,
    };

    /// Whether this is [`Handle::NULL`].
    pub const fn is_null(self) -> bool {
        self.index == 0 && self.generation == 0
    }
}
