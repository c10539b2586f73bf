//! Fixed tables taken zero-filled from the allocator.
//!
//! A large zeroed allocation comes from fresh pages (calloc/mmap) that the
//! kernel backs only when first written, so a per-worker table sized for the
//! worst case (client log, rate limiter) costs resident memory in proportion
//! to the clients actually seen, not to its size.

use zerocopy::FromZeros;

/// `n` all-zero elements; an allocation failure ends the process like any
/// other allocation failure would.
pub fn table<T: FromZeros>(n: usize) -> Box<[T]> {
    <[T]>::new_box_zeroed_with_elems(n).expect("out of memory for a fixed table")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables_are_zero_filled_and_sized() {
        let t: Box<[[u64; 5]]> = super::table(4096);
        assert_eq!(t.len(), 4096);
        assert!(t.iter().all(|s| s.iter().all(|v| *v == 0)));
        assert!(super::table::<u64>(0).is_empty());
    }
}
