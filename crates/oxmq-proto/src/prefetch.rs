//! Cache prefetch hints, shared by oxmq's crates: a hint changes nothing the program sees and
//! never faults, whatever the address (null included).

/// Asks the CPU to start loading the cache line at `p` to read it, which leaves the line
/// shared with the cores that have it.
#[inline(always)]
pub fn for_reading<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch has no effect on the program's state and never faults.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks the CPU to start taking the cache line at `p` for writing: to own it, so that a store
/// into it soon after does not wait for the other cores to give up their copies.
///
/// PREFETCHW, written out: `_mm_prefetch::<_MM_HINT_ET0>` compiles to it only in builds that
/// enable the `prfchw` target feature, and to PREFETCHT0, a read, in every other (the x86-64
/// baseline's). Processors without PREFETCHW execute its encoding as a no-op.
#[inline(always)]
pub fn for_writing<T>(p: *const T) {
    // Miri runs no assembly; a hint has nothing for it to check.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: a prefetch has no effect on the program's state, reads or writes no memory the
    // program sees, and never faults.
    unsafe {
        std::arch::asm!(
            "prefetchw [{p}]",
            p = in(reg) p,
            options(nostack, preserves_flags, readonly)
        );
    }
    #[cfg(any(not(target_arch = "x86_64"), miri))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_on_any_address_change_nothing() {
        let mut x = [7u8; 64];
        for_reading(x.as_ptr());
        for_writing(x.as_ptr());
        // Addresses that are not the program's, or no address at all: still no fault.
        for_reading(std::ptr::null::<u8>());
        for_writing(std::ptr::null::<u8>());
        for_writing(usize::MAX as *const u8);
        x[0] = 8;
        assert_eq!(x[..2], [8, 7]);
    }
}
