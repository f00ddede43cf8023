//! The test payload `byte[i] = i % 251` ([`wsksock_tools::pattern`]), generated and checked with
//! slice copies and comparisons instead of byte loops — the suites run unoptimised and move
//! hundreds of MiB.

use wsksock_tools::pattern;

const PERIOD: usize = 251;

/// Two periods of the pattern from offset 0: any window of `PERIOD` bytes starting in the first
/// period is the pattern from that phase.
fn cycle() -> [u8; 2 * PERIOD] {
    let mut c = [0u8; 2 * PERIOD];
    for (i, b) in c.iter_mut().enumerate() {
        *b = pattern::byte(i as u64);
    }
    c
}

fn phase(offset: u64) -> usize {
    // < 251: the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let p = (offset % PERIOD as u64) as usize;
    p
}

/// `len` bytes of the pattern from stream offset `offset` (same as `pattern::bytes`).
pub fn bytes(offset: u64, len: usize) -> Vec<u8> {
    let c = cycle();
    let p = phase(offset);
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        let n = PERIOD.min(len - v.len());
        v.extend_from_slice(&c[p..p + n]);
    }
    v
}

/// The offset of the first byte of `data` (at stream offset `offset`) that is not the pattern.
pub fn first_mismatch(offset: u64, data: &[u8]) -> Option<u64> {
    let c = cycle();
    let p = phase(offset);
    let mut at = 0;
    while at < data.len() {
        let n = PERIOD.min(data.len() - at);
        if data[at..at + n] != c[p..p + n] {
            return pattern::first_mismatch(offset + at as u64, &data[at..at + n]);
        }
        at += n;
    }
    None
}

#[cfg(test)]
mod tests {
    use wsksock_tools::pattern;

    #[test]
    fn same_as_the_reference_pattern() {
        for (offset, len) in [(0, 0), (0, 1), (3, 250), (250, 503), (1_000_003, 4096)] {
            let v = super::bytes(offset, len);
            assert_eq!(v, pattern::bytes(offset, len));
            assert_eq!(super::first_mismatch(offset, &v), None);
        }
        let mut v = super::bytes(7, 2000);
        v[1234] ^= 1;
        assert_eq!(super::first_mismatch(7, &v), Some(7 + 1234));
        assert_eq!(super::first_mismatch(8, &v), Some(8));
    }
}
