//! The few system calls that Rust cannot make safely: `fork`, `pidfd_open` and ignoring
//! `SIGCHLD`. They are only ever called from the single-threaded shim process (never from
//! the agent), which is what makes `fork` sound there. And the process's allocator, which
//! depends on whether the process is a shim.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use nix::sys::signal::{signal, SigHandler, Signal};
use nix::unistd::{ForkResult, Pid};

/// The allocator of the `orca` binary: mimalloc in the long-running, many-threaded
/// processes (server, agent), the C library's in re-executed per-pod shims.
///
/// The API server's write path allocates and frees many small objects across threads;
/// glibc's allocator took about a third of its CPU there, and mimalloc nearly doubles the
/// scheduler benchmark's end-to-end throughput. A shim allocates little, once, and then
/// idles for the pod's lifetime: there glibc's heap (trimmed by [`trim_memory`]) stays
/// about 300 KB smaller than mimalloc's, which matters against the per-pod memory budget.
///
/// Which one a process uses is decided at its first allocation, from its command line,
/// and never changes, so every block is freed by the allocator that made it.
pub struct ProcessAllocator;

const UNDECIDED: u8 = 0;
const SYSTEM: u8 = 1;
const MIMALLOC: u8 = 2;

static ALLOCATOR: AtomicU8 = AtomicU8::new(UNDECIDED);

impl ProcessAllocator {
    #[inline]
    fn mimalloc() -> bool {
        match ALLOCATOR.load(Ordering::Relaxed) {
            MIMALLOC => true,
            SYSTEM => false,
            _ => Self::decide(),
        }
    }

    #[cold]
    fn decide() -> bool {
        let choice = if is_shim_command_line() {
            SYSTEM
        } else {
            MIMALLOC
        };
        // The first allocation happens before any thread is started, but a lost race
        // still ends with one choice for everybody.
        match ALLOCATOR.compare_exchange(UNDECIDED, choice, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => choice == MIMALLOC,
            Err(decided) => decided == MIMALLOC,
        }
    }
}

// SAFETY: every method forwards to one of two allocators that implement `GlobalAlloc`
// correctly; the choice is made once, before the first block is handed out, and never
// changes, so a block is always reallocated and freed by the allocator that made it.
unsafe impl GlobalAlloc for ProcessAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which is passed on unchanged.
        unsafe {
            if Self::mimalloc() {
                mimalloc::MiMalloc.alloc(layout)
            } else {
                System.alloc(layout)
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe {
            if Self::mimalloc() {
                mimalloc::MiMalloc.alloc_zeroed(layout)
            } else {
                System.alloc_zeroed(layout)
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from the same (never changing) allocator.
        unsafe {
            if Self::mimalloc() {
                mimalloc::MiMalloc.dealloc(ptr, layout)
            } else {
                System.dealloc(ptr, layout)
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from the same (never changing) allocator.
        unsafe {
            if Self::mimalloc() {
                mimalloc::MiMalloc.realloc(ptr, layout, new_size)
            } else {
                System.realloc(ptr, layout, new_size)
            }
        }
    }
}

/// Whether this process was started as a shim (`orca __runtime-shim DIR`), read from
/// `/proc/self/cmdline` without allocating (this runs inside the allocator).
fn is_shim_command_line() -> bool {
    let mut buf = [0u8; 256];
    // SAFETY: the path is a NUL-terminated literal; the descriptor is ours until closed.
    let fd = unsafe {
        libc::open(
            c"/proc/self/cmdline".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return false;
    }
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: the kernel writes at most `buf.len() - len` bytes into the rest of `buf`.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    // SAFETY: `fd` was opened above and is closed once.
    unsafe { libc::close(fd) };
    is_shim_arguments(&buf[..len])
}

/// Whether a NUL-separated command line's first argument is the shim's mode.
fn is_shim_arguments(cmdline: &[u8]) -> bool {
    cmdline
        .split(|b| *b == 0)
        .nth(1)
        .is_some_and(|arg| arg == crate::shim::MODE.as_bytes())
}

/// Forks the calling process.
///
/// Callers must be single-threaded (the shim is: it is a freshly re-executed binary that
/// never starts a thread), so the child can keep running Rust code.
pub(crate) fn fork_single_threaded() -> nix::Result<ForkResult> {
    debug_assert!(thread_count() <= 1, "fork from a multi-threaded process");
    // SAFETY: the shim process is single-threaded (checked above in debug builds), so
    // no lock can be held by another thread at the time of the fork, and the child may
    // allocate and run arbitrary code.
    unsafe { nix::unistd::fork() }
}

/// A pollable descriptor that becomes readable when process `pid` exits.
pub(crate) fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integer arguments and returns a new descriptor or -1;
    // no memory is passed to the kernel.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("pidfd out of range"))?;
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes the kernel reap this process's children automatically (the pod's PID 1 "pause"
/// process does this so orphans never linger as zombies).
pub(crate) fn ignore_sigchld() -> nix::Result<()> {
    // SAFETY: installing SIG_IGN involves no handler code, so no async-signal-safety
    // requirement applies.
    unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) }.map(|_| ())
}

/// The number of threads of the calling process (from /proc/self/status).
pub(crate) fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(1)
}

/// Restores the default disposition of every signal, real-time ones included, and
/// unblocks them all. Runs in a container's init right before it executes the
/// container's program: the shim (a Rust program) ignores SIGPIPE, it may have inherited
/// more ignored signals, and ignored signals stay ignored across `execve`.
pub(crate) fn reset_signals() {
    /// The kernel's `struct sigaction` (all zero here: SIG_DFL, so where an
    /// architecture has no `sa_restorer` the kernel still reads zeros).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `dfl` is a valid kernel sigaction (SIG_DFL, no handler code) that
        // outlives the call, the old action is not asked for (null) and the size is that
        // of the kernel's signal set; glibc's wrapper is bypassed because it refuses the
        // real-time signals it reserves, which a parent may still have set to SIG_IGN.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
}

/// Drops this process's page-table entries for read-only file mappings that hold no
/// private copies (code, read-only data: never written, so they fault back in unchanged
/// from the page cache, where they stay shared with every other shim and the agent) and
/// returns freed heap to the kernel. An idle shim then keeps only its own private memory
/// resident. Mappings with anonymous (copied-on-write, e.g. relocated) pages are left
/// alone: dropping those would lose their contents.
pub(crate) fn trim_memory() {
    // Another thread could unmap a range and map something else there meanwhile.
    if thread_count() > 1 {
        return;
    }
    // SAFETY: malloc_trim only releases free heap memory; no pointer is involved.
    unsafe {
        libc::malloc_trim(0);
    }
    // Collected before any page is dropped, so that the work after the last madvise
    // (which faults code back in) is as short as possible.
    let ranges = match std::fs::read_to_string("/proc/self/smaps") {
        Ok(smaps) => droppable_mappings(&smaps),
        Err(_) => return,
    };
    for &(start, end) in &ranges {
        let Some(addr) = std::ptr::NonNull::new(start as *mut libc::c_void) else {
            continue;
        };
        // SAFETY: the range is a read-only, file-backed private mapping of this process
        // without anonymous pages (from /proc/self/smaps; the process is single-threaded,
        // so it cannot change meanwhile): MADV_DONTNEED only drops its pages from the page
        // tables and the next access maps the same file contents again.
        let _ = unsafe {
            nix::sys::mman::madvise(addr, end - start, nix::sys::mman::MmapAdvise::MADV_DONTNEED)
        };
    }
}

/// The (start, end) of the read-only file mappings in an smaps listing whose pages all
/// come from their file.
pub(crate) fn droppable_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or_default();
        if let Some((a, b)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            current = None;
            let perms = f.next().unwrap_or_default();
            let (_off, _dev, inode, path) = (
                f.next(),
                f.next(),
                f.next().unwrap_or("0"),
                f.next().unwrap_or_default(),
            );
            if (perms == "r-xp" || perms == "r--p") && inode != "0" && path.starts_with('/') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    current = Some((a, b));
                }
            }
        } else if first == "Anonymous:" {
            if let Some(range) = current.take() {
                if f.next() == Some("0") {
                    out.push(range);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shims_are_told_apart_by_their_first_argument() {
        let shim = format!("/usr/bin/orca\0{}\0/run/x\0", crate::shim::MODE);
        assert!(is_shim_arguments(shim.as_bytes()));
        assert!(!is_shim_arguments(b"/usr/bin/orca\0server\0"));
        assert!(!is_shim_arguments(b"/usr/bin/orca\0"));
        assert!(!is_shim_arguments(b""));
        // The test binary itself is not a shim, so it allocates with mimalloc.
        assert!(!is_shim_command_line());
        assert!(ProcessAllocator::mimalloc());
    }

    #[test]
    fn only_clean_read_only_file_mappings_are_dropped() {
        let smaps = "\
55a0-55b0 r--p 00000000 fe:00 42 /usr/bin/orca
Rss:                 896 kB
Anonymous:             0 kB
55b0-55c0 r-xp 00001000 fe:00 42 /usr/bin/orca
Anonymous:             0 kB
55c0-55d0 r--p 00002000 fe:00 42 /usr/bin/orca
Anonymous:           724 kB
55d0-55e0 rw-p 00003000 fe:00 42 /usr/bin/orca
Anonymous:             0 kB
7f00-7f10 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
7f10-7f20 rw-p 00000000 00:00 0
Anonymous:             8 kB
";
        assert_eq!(
            droppable_mappings(smaps),
            vec![(0x55a0, 0x55b0), (0x55b0, 0x55c0)]
        );
    }
}
