//! Zero-filled byte buffers on pages mapped fresh from the kernel, whatever
//! state the heap is in.
//!
//! A serving worker's receive buffer is sized for a full batch of the
//! largest packets (32 × 2 049 bytes by default) but at idle only its first
//! slot is ever written. Taken from the allocator zero-filled
//! (`vec![0; n]`), such a buffer is backed only where written *if* glibc
//! maps it fresh; but glibc serves any request, however large, from the
//! heap's free top when that has room (its mmap threshold is consulted only
//! when the heap must grow) and then clears it by writing every page.
//! Measured on the static binary at idle: both workers' 64 kB receive
//! buffers resident in the heap, 136 kB, in most starts (docs/performance.md,
//! footprint, sixth round). [`ZeroPages`] maps them itself, so the kernel
//! backs a page only when a datagram lands in it.

#![allow(unsafe_code)] // An OS-interface module: every unsafe block carries a SAFETY comment.

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The smallest page size: touching every 4 kB touches every page.
const PAGE: usize = 4096;

/// `len` bytes, all zero, on private anonymous pages of their own; unmapped
/// when dropped. The bytes never move, so pointers into them stay valid for
/// the buffer's life.
pub struct ZeroPages {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: `ZeroPages` owns its mapping exclusively (like a `Box<[u8]>`);
// shared access hands out only `&[u8]`, mutation needs `&mut self`.
unsafe impl Send for ZeroPages {}
// SAFETY: as above.
unsafe impl Sync for ZeroPages {}

impl ZeroPages {
    /// `len` zero bytes. Running out of memory ends the process, as any
    /// allocation failure does.
    pub fn new(len: usize) -> ZeroPages {
        if len == 0 {
            return ZeroPages { ptr: NonNull::dangling(), len: 0 };
        }
        // SAFETY: a new private anonymous mapping at an address of the
        // kernel's choice: it overlaps nothing the program uses, and the
        // kernel fills it with zeros.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        match NonNull::new(p.cast::<u8>()).filter(|_| p != libc::MAP_FAILED) {
            Some(ptr) => ZeroPages { ptr, len },
            None => std::alloc::handle_alloc_error(std::alloc::Layout::array::<u8>(len).expect("buffer size")),
        }
    }
}

/// `n` values of `T`, all-zero, on fresh pages of their own (see
/// [`ZeroPages`]): a table sized for the worst case that costs resident
/// memory only where it is written. Elements are never dropped, hence
/// `T: Copy`.
pub struct ZeroSlice<T: Copy> {
    pages: ZeroPages,
    n: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: Copy> ZeroSlice<T> {
    /// `n` all-zero values.
    ///
    /// # Safety
    ///
    /// All-zero bytes must be a valid `T`.
    pub unsafe fn new(n: usize) -> ZeroSlice<T> {
        assert!(std::mem::align_of::<T>() <= 4096, "page alignment suffices");
        let bytes = n.checked_mul(std::mem::size_of::<T>()).expect("table size");
        ZeroSlice { pages: ZeroPages::new(bytes), n, _t: std::marker::PhantomData }
    }
}

impl<T: Copy> Deref for ZeroSlice<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        if self.n == 0 || std::mem::size_of::<T>() == 0 {
            return &[];
        }
        // SAFETY: the mapping holds `n` values of `T` (page-aligned, so
        // aligned for `T`), each all-zero, which `new`'s caller vouched is a
        // valid `T`, or written through `deref_mut` as a `T`.
        unsafe { std::slice::from_raw_parts(self.pages.ptr.as_ptr().cast::<T>(), self.n) }
    }
}

impl<T: Copy> DerefMut for ZeroSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        if self.n == 0 || std::mem::size_of::<T>() == 0 {
            return &mut [];
        }
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.pages.ptr.as_ptr().cast::<T>(), self.n) }
    }
}

impl ZeroPages {
    /// Backs every page now, keeping the bytes: for a buffer that is about
    /// to be used in full (a server under load), so that its memory is
    /// taken at once rather than page by page over minutes.
    pub fn populate(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: exactly this buffer's mapping; MADV_POPULATE_WRITE (Linux
        // 5.14) only faults its pages in writable, contents unchanged.
        let done = unsafe { libc::madvise(self.ptr.as_ptr().cast(), self.len, libc::MADV_POPULATE_WRITE) } == 0;
        if !done {
            // Older kernels: touch each page, writing back what it holds.
            for offset in (0..self.len).step_by(PAGE) {
                // SAFETY: `offset < len`, within the mapping; `&mut self`
                // makes this the only reference; volatile so the write of
                // the byte just read is not optimised away.
                unsafe {
                    let byte = self.ptr.as_ptr().add(offset);
                    std::ptr::write_volatile(byte, std::ptr::read_volatile(byte));
                }
            }
        }
    }
}

impl<T: Copy> ZeroSlice<T> {
    /// Backs every page now (see [`ZeroPages::populate`]).
    pub fn populate(&mut self) {
        self.pages.populate();
    }
}

impl Deref for ZeroPages {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` initialised (zero-filled by the
        // kernel, or written through `deref_mut`) bytes until drop, or is
        // dangling with `len == 0`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for ZeroPages {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for ZeroPages {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: exactly the mapping made in `new`, unmapped once; no
            // reference into it outlives `self`.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ZeroPages;

    /// Resident pages of `b` (mincore), to see that nothing backs a page
    /// before it is written.
    fn resident_pages(b: &ZeroPages) -> usize {
        let page = 4096;
        let pages = b.len().div_ceil(page);
        let mut v = vec![0u8; pages];
        // SAFETY: `b` is a whole mapping of `b.len()` bytes (page-aligned
        // start), `v` holds one byte per page of it.
        let rc = unsafe { libc::mincore(b.as_ptr() as *mut libc::c_void, b.len(), v.as_mut_ptr()) };
        assert_eq!(rc, 0);
        v.iter().filter(|r| *r & 1 == 1).count()
    }

    #[test]
    fn zero_filled_and_backed_only_where_written() {
        // Heap state that made glibc serve such buffers from its top: a
        // large free block at the top of the heap.
        let big = vec![1u8; 200 * 1024];
        drop(big);
        let mut b = ZeroPages::new(32 * 2049);
        assert_eq!(b.len(), 32 * 2049);
        assert_eq!(resident_pages(&b), 0, "fresh pages are not backed until written");
        b[5000] = 7;
        assert_eq!(resident_pages(&b), 1, "a write backs its own page only");
        // (Reading maps the shared zero page, which mincore counts too.)
        assert!(b.iter().enumerate().all(|(i, x)| *x == if i == 5000 { 7 } else { 0 }));
        assert!(ZeroPages::new(0).is_empty());
    }

    #[test]
    fn zero_slices_hold_values_and_start_unbacked() {
        // SAFETY: all-zero is a valid [u64; 16].
        let mut t: super::ZeroSlice<[u64; 16]> = unsafe { super::ZeroSlice::new(1000) };
        assert_eq!(t.len(), 1000);
        assert_eq!(resident_pages(&t.pages), 0);
        t[999] = [7; 16];
        assert_eq!(resident_pages(&t.pages), 1);
        assert!(t[..999].iter().all(|v| *v == [0; 16]) && t[999] == [7; 16]);
        // SAFETY: as above.
        assert!(unsafe { super::ZeroSlice::<u64>::new(0) }.is_empty());
    }

    #[test]
    fn populate_backs_every_page_and_keeps_the_bytes() {
        let mut b = ZeroPages::new(32 * 2049);
        b[60_000] = 9;
        assert_eq!(resident_pages(&b), 1);
        b.populate();
        assert_eq!(resident_pages(&b), (32 * 2049usize).div_ceil(4096), "all backed");
        assert!(b.iter().enumerate().all(|(i, x)| *x == if i == 60_000 { 9 } else { 0 }));
        ZeroPages::new(0).populate();
    }
}
