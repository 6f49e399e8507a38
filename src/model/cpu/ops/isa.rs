//! Which instruction-set path the CPU kernels take: the fastest the CPU runs, unless
//! `TWINFLOW_ISA` asks for another (to compare paths, or to match weights trained on
//! another machine bit for bit).
//!
//! Fastest is measured, not the widest. With only the panel tiles, AVX2 was faster on a
//! 2-core Ice Lake Xeon (its AVX-512 panel tile was load-bound). The row-segment
//! convolution (`conv::rows`), whose 24-register tiles only AVX-512 has room for, made
//! AVX-512 the faster path there (docs/performance.md), and the channel-lane convolution
//! (`conv::lanes`) serves its narrow layers, so it is the default where the CPU has it;
//! AVX2 where it has only that.
//!
//! Results differ between paths in the last bits (other tile shapes sum in another order),
//! never within one: the same binary on the same path gives the same weights.

use std::cell::Cell;
use std::sync::OnceLock;

/// The environment variable that forces a path (`avx512`, `avx2` or `scalar`).
pub const ISA_VAR: &str = "TWINFLOW_ISA";

/// An instruction-set path of the conv kernels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable code, no fused multiply-adds (any CPU).
    Scalar,
    /// 256-bit AVX2 with FMA: a 6x16 register tile.
    Avx2,
    /// 512-bit AVX-512F: the row-segment tiles (8x3 and 4x6 registers) for layers at least
    /// 16 outputs wide, the channel-lane tile (32 channels x 12 columns) for narrower ones
    /// with 16+ output channels, and the panel tiles of AVX2 for the rest.
    Avx512,
}

/// `TWINFLOW_ISA` names no path, or one this CPU lacks.
#[derive(Debug, thiserror::Error)]
pub enum IsaError {
    /// Not a path's name.
    #[error("{ISA_VAR}={value} is not an instruction-set path (use avx512, avx2 or scalar)")]
    Unknown {
        /// What the variable holds.
        value: String,
    },
    /// A path the CPU cannot run.
    #[error("{ISA_VAR}={} asks for a path this CPU cannot run (it runs {available})", isa.name())]
    Unsupported {
        /// The path asked for.
        isa: Isa,
        /// The paths this CPU runs, comma-separated.
        available: String,
    },
}

impl Isa {
    /// Every path, lowest first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// The path's name, as `TWINFLOW_ISA` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU runs the path.
    pub fn supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Isa::Avx2.supported() && std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The paths this CPU runs, lowest first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.supported()).collect()
    }

    /// The fastest path this CPU runs: the widest it has (see the module's note).
    pub fn best() -> Isa {
        if Isa::Avx512.supported() {
            Isa::Avx512
        } else if Isa::Avx2.supported() {
            Isa::Avx2
        } else {
            Isa::Scalar
        }
    }

    /// The path `TWINFLOW_ISA` asks for, or the fastest one when it is unset or empty.
    ///
    /// # Errors
    /// An unknown name, or a path the CPU lacks.
    pub fn from_env() -> Result<Isa, IsaError> {
        match std::env::var(ISA_VAR) {
            Ok(value) if !value.trim().is_empty() => Isa::parse(&value),
            _ => Ok(Isa::best()),
        }
    }

    /// The path named `value` (case and surrounding blanks ignored), if this CPU runs it.
    ///
    /// # Errors
    /// An unknown name, or a path the CPU lacks.
    pub fn parse(value: &str) -> Result<Isa, IsaError> {
        let want = value.trim().to_ascii_lowercase();
        let isa = Isa::ALL
            .into_iter()
            .find(|i| i.name() == want)
            .ok_or_else(|| IsaError::Unknown {
                value: value.to_owned(),
            })?;
        if !isa.supported() {
            let names: Vec<_> = Isa::available().iter().map(|i| i.name()).collect();
            return Err(IsaError::Unsupported {
                isa,
                available: names.join(", "),
            });
        }
        Ok(isa)
    }

    /// The path kernels called from this thread take: the one [`with`] set here, else the
    /// process's (from `TWINFLOW_ISA`, falling back to the fastest path if the variable is
    /// invalid; callers that can report errors check [`Isa::from_env`] first).
    pub fn current() -> Isa {
        static PROCESS: OnceLock<Isa> = OnceLock::new();
        OVERRIDE
            .get()
            .unwrap_or_else(|| *PROCESS.get_or_init(|| Isa::from_env().unwrap_or(Isa::best())))
    }
}

thread_local! {
    static OVERRIDE: Cell<Option<Isa>> = const { Cell::new(None) };
}

/// Runs `f` with the kernels it calls from this thread on path `isa` (the ops read the path
/// on the calling thread and hand it to their worker threads), for tests and benchmarks
/// that compare paths side by side.
///
/// # Panics
/// If the CPU cannot run `isa`.
pub fn with<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    assert!(
        isa.supported(),
        "this CPU cannot run the {} path",
        isa.name()
    );
    let before = OVERRIDE.replace(Some(isa));
    // Restores the outer setting even if `f` panics (a failing test must not leak it).
    struct Restore(Option<Isa>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.set(self.0);
        }
    }
    let _restore = Restore(before);
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_the_scalar_path_always_runs() {
        assert!(Isa::available().contains(&Isa::Scalar));
        for isa in Isa::available() {
            assert_eq!(
                Isa::parse(&format!(" {} ", isa.name().to_uppercase())).ok(),
                Some(isa)
            );
        }
        let err = Isa::parse("sse9").unwrap_err().to_string();
        assert!(err.contains("TWINFLOW_ISA=sse9") && err.contains("avx512, avx2 or scalar"));
        assert!(Isa::best().supported());
        assert_eq!(Isa::best(), *Isa::available().last().unwrap());
    }

    #[test]
    fn with_sets_the_path_for_this_thread_only_and_restores_it() {
        let outer = Isa::current();
        with(Isa::Scalar, || {
            assert_eq!(Isa::current(), Isa::Scalar);
            let other = std::thread::spawn(Isa::current).join().expect("thread");
            assert_eq!(other, outer, "other threads keep the process's path");
        });
        assert_eq!(Isa::current(), outer);
    }
}
