//! The `twinflow` command line; all logic lives in the library's `cli` module.

use std::process::ExitCode;

// dfdx allocates a fresh buffer per op; glibc malloc spent ~40% of training time in page faults.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (the same index in its v2 and v3
/// headers); libmimalloc-sys 0.1 does not export a constant for it.
#[cfg(feature = "mimalloc")]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never hand freed pages back to the OS. A training step frees and reallocates the same
/// large buffers every few milliseconds; with mimalloc's default 10 ms purge delay they were
/// unmapped and faulted back in (zeroed by the kernel) each time: 27k page faults and ~10%
/// more CPU time over a 4-step `bench train`. The footprint stays at the peak of one step.
/// A `MIMALLOC_PURGE_DELAY` set by the user still wins.
#[cfg(feature = "mimalloc")]
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores an integer option; any value is valid for it.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// Lets a closed output pipe end the process quietly, as it ends other command-line tools:
/// Rust ignores SIGPIPE, so `twinflow stages | head -1` panicked in `println!` instead.
/// A training run ended this way is like one killed any other way: it resumes from its checkpoint.
#[cfg(unix)]
fn default_sigpipe() {
    // SAFETY: restoring a signal's default disposition at start, before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

fn main() -> ExitCode {
    #[cfg(unix)]
    default_sigpipe();
    #[cfg(feature = "mimalloc")]
    keep_freed_memory();
    match twinflow::cli::run() {
        Ok(code) => code,
        Err(err) => {
            // Each cause once, also where a library both prints and returns its cause.
            eprintln!("error: {}", twinflow::errors::chain(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}
