//! The test payload: `byte[i] = i % 251` (a prime, so chunk boundaries never line up with it).

/// `len` bytes of the pattern starting at stream offset `offset`.
pub fn bytes(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| byte(offset + i)).collect()
}

/// The pattern byte at stream offset `i`.
pub fn byte(i: u64) -> u8 {
    // The remainder is < 251, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let b = (i % 251) as u8;
    b
}

/// Checks received bytes against the pattern; returns the offset of the first mismatch.
pub fn first_mismatch(offset: u64, data: &[u8]) -> Option<u64> {
    data.iter()
        .enumerate()
        .find(|(i, b)| **b != byte(offset + *i as u64))
        .map(|(i, _)| offset + i as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pattern_wraps_at_251_and_mismatches_are_found() {
        let b = super::bytes(249, 4);
        assert_eq!(b, vec![249, 250, 0, 1]);
        assert_eq!(super::first_mismatch(249, &b), None);
        assert_eq!(super::first_mismatch(0, &[0, 1, 9]), Some(2));
    }
}
