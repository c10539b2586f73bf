//! Hands back the stack pages start-up used below the event loop's depth.
//!
//! A thread's stack pages stay resident once touched, however deep the
//! call went only once: start-up (socket, TLS and HTTP set-up, the first
//! plan) runs on the event loop thread, deeper than the running loop ever
//! goes, and measured on the static binary at idle the main stack held
//! 72 kB, of which the loop's own frames (the runtime and the daemon's main
//! future, ≈ 15 kB) are a fraction. [`release_below_caller`] advises
//! `MADV_DONTNEED` on the part of the calling thread's stack mapping below
//! its caller's frame: memory no frame uses (stacks grow down), which the
//! kernel hands back and gives again, zero-filled, if a call goes that deep
//! later.
//!
//! It reads `/proc/self/maps`, which a daemon that switched user cannot
//! (it is no longer dumpable), so it runs just before the privilege drop,
//! with the program's start-up pages (`program_pages`).

#![allow(unsafe_code)] // An OS-interface module: every unsafe block carries a SAFETY comment.

/// Left in place below the caller's frame: this function's own frame and
/// the `madvise` call's (a few hundred bytes together).
const MARGIN: usize = 4 * 1024;

/// The mapping of a `/proc/PID/maps` text that contains `address`.
pub fn mapping_containing(maps: &str, address: usize) -> Option<(usize, usize)> {
    maps.lines().find_map(|line| {
        let (start, end) = line.split_ascii_whitespace().next()?.split_once('-')?;
        let (start, end) = (usize::from_str_radix(start, 16).ok()?, usize::from_str_radix(end, 16).ok()?);
        (start <= address && address < end).then_some((start, end))
    })
}

/// Releases the calling thread's stack pages below its caller's frame
/// (less [`MARGIN`]); returns the bytes advised (0 when there is nothing
/// below, e.g. the stack is not found).
#[inline(never)]
pub fn release_below_caller() -> std::io::Result<usize> {
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let Some((low, _)) = mapping_containing(&maps, here) else {
        return Ok(0);
    };
    drop(maps);
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let top = here.saturating_sub(MARGIN) & !(page - 1);
    if top <= low {
        return Ok(0);
    }
    // SAFETY: [low, top) lies in this thread's own stack mapping (the one
    // holding `marker`) and ends MARGIN below this frame: the stack grows
    // down, so every frame that is live (this one, its callers) and the
    // madvise call's own lie above `top`; below it there is only memory of
    // calls that have returned. MADV_DONTNEED on private anonymous memory
    // makes the next access see a zero-filled page, which is all a later,
    // deeper call may expect of fresh stack. Signal handlers run on this
    // stack only below the frame they interrupt, after the system call.
    let rc = unsafe { libc::madvise(low as *mut libc::c_void, top - low, libc::MADV_DONTNEED) };
    if rc == 0 {
        Ok(top - low)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident_kb_of_mapping(start: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut in_it = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ').filter(|(r, _)| r.contains('-')) {
                in_it = usize::from_str_radix(range.split('-').next().unwrap(), 16).ok() == Some(start);
            } else if in_it && line.starts_with("Rss:") {
                return line.split_ascii_whitespace().nth(1).unwrap().parse().unwrap();
            }
        }
        panic!("mapping at {start:#x} not found");
    }

    /// Touches `depth` kB of stack below the caller and returns a checksum.
    #[inline(never)]
    fn go_deep(depth: usize) -> u64 {
        let mut frame = [0u8; 1024];
        for (i, b) in frame.iter_mut().enumerate() {
            *b = (i ^ depth) as u8;
        }
        let sum = std::hint::black_box(&frame).iter().map(|&b| b as u64).sum::<u64>();
        if depth == 0 {
            sum
        } else {
            sum + go_deep(depth - 1)
        }
    }

    #[test]
    fn finds_the_mapping_holding_an_address() {
        let maps = "7f00-7f80 rw-p 00000000 00:00 0\n7ffc0000-7ffc2000 rw-p 00000000 00:00 0 [stack]\n";
        assert_eq!(mapping_containing(maps, 0x7ffc1000), Some((0x7ffc0000, 0x7ffc2000)));
        assert_eq!(mapping_containing(maps, 0x7f80), None);
    }

    #[test]
    fn deep_pages_go_back_and_live_frames_stay_intact() {
        // A thread of its own, with a known stack to go deep in.
        std::thread::Builder::new()
            .stack_size(4 << 20)
            .spawn(|| {
                let live: Vec<u64> = (0..64).collect();
                let mut frame = [7u8; 4096];
                std::hint::black_box(&mut frame);
                let expected = go_deep(0) + (1..=512).map(go_deep_sum_of).sum::<u64>();
                assert_eq!(go_deep(512), expected);
                let here = std::hint::black_box(&frame) as *const _ as usize;
                let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
                let (low, _) = mapping_containing(&maps, here).unwrap();
                let before = resident_kb_of_mapping(low);
                assert!(before >= 512, "the deep call touched {before} kB");
                let released = release_below_caller().unwrap();
                let after = resident_kb_of_mapping(low);
                assert!(released >= 400 * 1024, "released {released} bytes");
                assert!(after + 400 <= before, "resident {before} -> {after} kB");
                // What the live frames hold is untouched, and going deep again works.
                assert!(frame.iter().all(|&b| b == 7));
                assert_eq!(live.iter().sum::<u64>(), 63 * 64 / 2);
                assert_eq!(go_deep(512), expected);
            })
            .unwrap()
            .join()
            .unwrap();
    }

    /// The checksum of one `go_deep` frame at `depth`.
    fn go_deep_sum_of(depth: usize) -> u64 {
        (0..1024usize).map(|i| ((i ^ depth) as u8) as u64).sum()
    }
}
