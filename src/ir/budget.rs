//! The memory budget: the largest single allocation that a model's or a data file's contents
//! may ask for (a tensor the interpreter computes, a constant the importer folds, a decoded
//! input). Every such allocation is checked against it before it is made, so a file of a few
//! bytes that describes a huge tensor gives an error naming the tensor and the size instead of
//! exhausting memory.
//!
//! The default is a quarter of physical memory, kept between 1 and 4 GiB, and at most half of
//! the process's address-space limit (`ulimit -v`) when one is set. [`set_max_bytes`]
//! overrides it (the CLI's `--max-memory`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// 0: not set, use the default.
static MAX: AtomicU64 = AtomicU64::new(0);

const GIB: u64 = 1 << 30;

/// Overrides the budget (bytes; 0 restores the default).
pub fn set_max_bytes(bytes: u64) {
    MAX.store(bytes, Ordering::Relaxed);
}

/// The budget in bytes.
pub fn max_bytes() -> u64 {
    match MAX.load(Ordering::Relaxed) {
        0 => default_bytes(),
        n => n,
    }
}

/// The default budget (see the module documentation).
pub fn default_bytes() -> u64 {
    static DEFAULT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *DEFAULT.get_or_init(|| {
        let ram = physical_memory().unwrap_or(16 * GIB);
        let mut b = (ram / 4).clamp(GIB, 4 * GIB);
        if let Some(limit) = address_space_limit() {
            b = b.min(limit / 2);
        }
        b.max(64 << 20)
    })
}

fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The soft RLIMIT_AS, when one is set (read from /proc, which needs no FFI).
fn address_space_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max address space"))?;
    let soft = line["Max address space".len()..].split_whitespace().next()?;
    soft.parse().ok()
}

/// A size as users write it: bytes, or a number with K, M, G or T (powers of 1024, an optional
/// trailing `B` or `iB`): `512M`, `8G`, `1.5GiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
    let (num, shift) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 10),
        Some('M') => (&t[..t.len() - 1], 20),
        Some('G') => (&t[..t.len() - 1], 30),
        Some('T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let x: f64 = num.trim().parse().map_err(|_| format!("{s:?} is not a size (e.g. 512M, 8G)"))?;
    let bytes = x * (1u64 << shift) as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("{s:?} is not a usable size"));
    }
    Ok(bytes as u64)
}

/// An allocation over the budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} needs {}, over {} (--max-memory raises it)", human(*.bytes), self.limit())]
pub struct OverBudget {
    pub what: String,
    pub bytes: u64,
    pub max: u64,
    /// Set when the limit was what is left of an interpreter run's share ([`Headroom`]).
    pub share: Option<u64>,
}

impl OverBudget {
    fn limit(&self) -> String {
        match self.share {
            None => format!("the memory budget of {}", human(self.max)),
            Some(left) => format!("the {} left of one run's share of the memory budget", human(left)),
        }
    }
}

thread_local! {
    /// What the current thread's interpreter run may still allocate (u64::MAX outside a run).
    static HEADROOM: Cell<u64> = const { Cell::new(u64::MAX) };
}

/// While alive, [`check`] on this thread also refuses allocations over `bytes`: an interpreter
/// run sets it to its share minus the tensors it holds before each op, so an op's output is
/// refused before it is allocated, not after. Dropping it restores the previous limit (runs nest
/// through control-flow subgraphs).
#[must_use]
pub struct Headroom {
    prev: u64,
}

impl Headroom {
    pub fn set(bytes: u64) -> Headroom {
        Headroom { prev: HEADROOM.with(|h| h.replace(bytes)) }
    }
}

impl Drop for Headroom {
    fn drop(&mut self) {
        HEADROOM.with(|h| h.set(self.prev));
    }
}

/// A byte count for people: `6.3 GiB`, `512 MiB`, `900 bytes`.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes >= GIB {
        format!("{:.1} GiB", b / GIB as f64)
    } else if bytes >= 1 << 20 {
        format!("{:.0} MiB", b / (1u64 << 20) as f64)
    } else if bytes >= 1 << 10 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

/// Checks an allocation of `bytes` for `what` (called only when over, to build the message).
pub fn check(bytes: u64, what: impl FnOnce() -> String) -> Result<(), OverBudget> {
    let max = max_bytes();
    if bytes > max {
        return Err(OverBudget { what: what(), bytes, max, share: None });
    }
    let left = HEADROOM.with(Cell::get);
    if bytes > left {
        return Err(OverBudget { what: what(), bytes, max, share: Some(left) });
    }
    Ok(())
}

/// Checks `count` elements of `size` bytes each (overflow counts as over).
pub fn check_elements(count: u64, size: u64, what: impl FnOnce() -> String) -> Result<(), OverBudget> {
    check(count.saturating_mul(size), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_bounded_and_the_message_names_the_size() {
        let d = default_bytes();
        assert!((64 << 20..=4 * GIB).contains(&d), "{d}");
        let e = check_elements(23000 * 23000 * 3, 4, || "tensor x".into()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("tensor x needs 5.9 GiB, over the memory budget of"), "{msg}");
        assert!(check(1 << 20, || unreachable!()).is_ok());
        assert_eq!(human(900), "900 bytes");
        assert_eq!(parse_size("8G"), Ok(8 * GIB));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err() && parse_size("0").is_err() && parse_size("nanG").is_err());
    }

    #[test]
    fn a_run_headroom_limits_this_thread_until_dropped() {
        {
            let _outer = Headroom::set(1 << 20);
            {
                let _inner = Headroom::set(1000);
                let e = check(2000, || "t".into()).unwrap_err();
                assert_eq!(e.to_string(), "t needs 2 KiB, over the 1000 bytes left of one run's share of the memory budget (--max-memory raises it)");
            }
            assert!(check(2000, || unreachable!()).is_ok());
            assert!(check(2 << 20, || "t".into()).is_err());
            std::thread::spawn(|| assert!(check(2 << 20, || unreachable!()).is_ok())).join().unwrap();
        }
        assert!(check(2 << 20, || unreachable!()).is_ok());
    }
}
