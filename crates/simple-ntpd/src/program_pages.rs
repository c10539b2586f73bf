//! Hands the program's start-up pages back to the kernel once start-up is
//! done. Starting the daemon runs code it never needs again (the command
//! line, configuration parsing and validation, TLS and socket set-up), and
//! the kernel maps each first touch of the program file 64 kB at a time
//! (fault-around), so after start-up most of the binary stays resident for
//! the life of the process: measured, 5.6 of the static binary's 6.7 MB,
//! the bulk of the daemon's idle memory (docs/performance.md, footprint).
//!
//! [`release_own`] advises the kernel (`MADV_PAGEOUT`, Linux 5.4+) to
//! reclaim the clean, read-only mappings of the program file — never
//! writable or anonymous memory, so no state can be lost; the pages come
//! back from the file when code runs again, which is exactly the working
//! set. Unlike `MADV_DONTNEED`, which would only unmap them, the pages are
//! freed (page cache included), so the memory really returns to the system,
//! and private copies (relocated read-only data) are never discarded.
//!
//! Each mapping is first marked `MADV_RANDOM`: otherwise every later fault
//! reads ahead and maps its neighbours too (readahead and 64 kB
//! fault-around), so the code run after start-up (serving, the idle loop,
//! the first status request) brought pages back in bulk. Measured at idle
//! (static binary): the read-only data mapping 448 -> 170 kB resident. The
//! code mapping still comes back 64 kB at a time around every function that
//! runs (with the file's page cache in large folios, Linux 6.x, fault-around
//! maps cached neighbours regardless of this advice), so the static build
//! places the functions a running daemon runs first, together
//! (deploy/link-order/, bench/link-order.sh): idle, 3 MB -> 1.6 MB resident.
//!
//! The kernel pages out a file's pages only for a process that owns the
//! file or may write it (otherwise it would be a side channel on shared
//! files), so the daemon calls this as root, just before it switches user
//! (after that, `/proc/self` is not even readable). A daemon started as an
//! ordinary user keeps its pages (the container image runs as 65534 with a
//! root-owned binary; making the binary writable by the daemon would be
//! worse than the memory).

#![allow(unsafe_code)] // An OS-interface module: every unsafe block carries a SAFETY comment.

use std::path::Path;

/// One mapping of `/proc/self/maps` worth releasing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First address.
    pub start: usize,
    /// One past the last address.
    pub end: usize,
}

/// The clean, read-only, private mappings of `program` in a
/// `/proc/PID/maps` text: its code and read-only data, never the writable
/// data, the heap or anything anonymous.
pub fn releasable(maps: &str, program: &Path) -> Vec<Region> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let path = fields.nth(3)?;
            let (start, end) = range.split_once('-')?;
            let region =
                Region { start: usize::from_str_radix(start, 16).ok()?, end: usize::from_str_radix(end, 16).ok()? };
            let read_only_private = perms.len() == 4 && perms.as_bytes()[1] == b'-' && perms.ends_with('p');
            (read_only_private && Path::new(path) == program && region.end > region.start).then_some(region)
        })
        .collect()
}

/// What [`release`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Bytes of mappings advised.
    pub bytes: usize,
    /// Mappings the kernel refused (older than Linux 5.4: `EINVAL`).
    pub refused: usize,
}

/// This program's releasable mappings (from `/proc/self/maps`).
pub fn capture() -> std::io::Result<Vec<Region>> {
    let program = std::fs::read_link("/proc/self/exe")?;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    Ok(releasable(&maps, &program))
}

/// Advises the kernel to reclaim this program's read-only file mappings.
pub fn release_own() -> std::io::Result<Released> {
    Ok(release(&capture()?))
}

/// Advises the kernel to reclaim `regions` (from [`capture`]).
pub fn release(regions: &[Region]) -> Released {
    let mut done = Released::default();
    for r in regions {
        // SAFETY: the range is one whole mapping of this process, taken from
        // /proc/self/maps, private and not writable: a file's code or
        // read-only data. MADV_PAGEOUT only drops its resident pages, which
        // the kernel reads back from the unchanged file on the next access,
        // so no memory the program uses changes and no pointer is invalidated.
        // The mapping cannot go away meanwhile: the program file is never
        // unmapped while the process runs.
        // MADV_RANDOM only sets how later faults read the file (one page,
        // no readahead): it changes no memory content either.
        let rc = unsafe {
            libc::madvise(r.start as *mut libc::c_void, r.end - r.start, libc::MADV_RANDOM);
            libc::madvise(r.start as *mut libc::c_void, r.end - r.start, libc::MADV_PAGEOUT)
        };
        if rc == 0 {
            done.bytes += r.end - r.start;
        } else {
            done.refused += 1;
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55b4207f2000-55b4209a4000 r--p 00000000 fd:01 1234 /usr/bin/simple-ntpd
55b4209a4000-55b420e01000 r-xp 001b2000 fd:01 1234 /usr/bin/simple-ntpd
55b420e01000-55b420e43000 r--p 0060f000 fd:01 1234 /usr/bin/simple-ntpd
55b420e43000-55b420e46000 rw-p 00651000 fd:01 1234 /usr/bin/simple-ntpd
55b421000000-55b421100000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000100000 r-xp 00000000 fd:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000200000-7f0000201000 r--p 00000000 fd:01 1234 /usr/bin/simple-ntpd-old (deleted)
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]
";

    #[test]
    fn only_the_programs_read_only_mappings() {
        let regions = releasable(MAPS, Path::new("/usr/bin/simple-ntpd"));
        assert_eq!(
            regions,
            vec![
                Region { start: 0x55b4207f2000, end: 0x55b4209a4000 },
                Region { start: 0x55b4209a4000, end: 0x55b420e01000 },
                Region { start: 0x55b420e01000, end: 0x55b420e43000 },
            ]
        );
        assert!(releasable(MAPS, Path::new("/usr/bin/other")).is_empty());
        assert!(releasable("garbage\n\n1-2\n", Path::new("/usr/bin/simple-ntpd")).is_empty());
    }

    /// Exercised for real on this test process: reclaiming its own code
    /// changes nothing it computes.
    #[test]
    fn releasing_keeps_the_program_working() {
        let before: u64 = (1..=1000u64).sum();
        let regions = capture().expect("/proc is readable");
        assert!(!regions.is_empty(), "the test binary has read-only mappings");
        let done = release(&regions);
        assert_eq!(done.refused, 0, "MADV_PAGEOUT needs Linux 5.4 or later");
        assert_eq!(done.bytes, regions.iter().map(|r| r.end - r.start).sum::<usize>());
        assert_eq!((1..=1000u64).sum::<u64>(), before);
    }
}
