//! [`EmuBuffer`]: the emulator's data buffer (an MDL in the driver).
//!
//! A buffer is a `Vec<u8>` plus a window into it. A send transmits the window; a receive fills
//! the window from its start and reports how many bytes it wrote in [`OpOutput::bytes`]. The host
//! socket reads and writes the window in place: no byte is copied on the data path.
//!
//! # Invariants
//! `start <= end <= data.len()`.
//!
//! [`OpOutput::bytes`]: wsksock_core::OpOutput::bytes

use core::ops::Range;
use wsksock_core::Buffer;

/// A data buffer for the host provider: a vector and the window of it an operation uses.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct EmuBuffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl EmuBuffer {
    /// A buffer whose window is the whole vector.
    pub fn new(data: Vec<u8>) -> Self {
        let end = data.len();
        EmuBuffer { data, start: 0, end }
    }

    /// A zero-filled buffer of `len` bytes (a receive buffer).
    pub fn zeroed(len: usize) -> Self {
        EmuBuffer::new(vec![0; len])
    }

    /// A buffer whose window is `range` of `data`; `None` if the range is not inside `data`.
    pub fn window(data: Vec<u8>, range: Range<usize>) -> Option<Self> {
        // INVARIANT: checked here, the only place a window is chosen.
        if range.start <= range.end && range.end <= data.len() {
            Some(EmuBuffer {
                data,
                start: range.start,
                end: range.end,
            })
        } else {
            None
        }
    }

    /// The window.
    pub fn as_slice(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// The window, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.end]
    }

    /// The first `n` bytes of the window (what a receive of `n` bytes filled), clamped to it.
    pub fn filled(&self, n: usize) -> &[u8] {
        let s = self.as_slice();
        &s[..n.min(s.len())]
    }

    /// The window's position in the vector.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// Gives the whole vector back.
    pub fn into_vec(self) -> Vec<u8> {
        self.data
    }
}

impl Buffer for EmuBuffer {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

impl From<Vec<u8>> for EmuBuffer {
    fn from(v: Vec<u8>) -> Self {
        EmuBuffer::new(v)
    }
}

impl From<&[u8]> for EmuBuffer {
    fn from(v: &[u8]) -> Self {
        EmuBuffer::new(v.to_vec())
    }
}

impl core::fmt::Debug for EmuBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "EmuBuffer({} bytes, window {}..{})",
            self.data.len(),
            self.start,
            self.end
        )
    }
}

#[cfg(test)]
mod tests {
    use super::EmuBuffer;
    use wsksock_core::Buffer;

    #[test]
    fn window_is_checked_and_used() {
        assert!(EmuBuffer::window(vec![0; 4], 2..5).is_none());
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 3..2;
        assert!(EmuBuffer::window(vec![0; 4], reversed).is_none());
        let mut b = EmuBuffer::window(vec![1, 2, 3, 4], 1..3).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b.as_slice(), &[2, 3]);
        b.as_mut_slice()[0] = 9;
        assert_eq!(b.filled(1), &[9]);
        assert_eq!(b.filled(10), &[9, 3]);
        assert_eq!(b.into_vec(), vec![1, 9, 3, 4]);
    }
}
