//! The CLI's progress output while calibrating: on a terminal a bar redrawn in place, with
//! samples per second and the time left; elsewhere (a notebook cell, CI, `nohup`) one line
//! every few seconds. `TFLQ_PROGRESS_INTERVAL_MS` sets the interval (default 200 ms on a
//! terminal, 5 s elsewhere); nothing is printed before the first interval has passed.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The interval between progress lines: `TFLQ_PROGRESS_INTERVAL_MS`, else `default`.
fn interval(default: Duration) -> Duration {
    std::env::var("TFLQ_PROGRESS_INTERVAL_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(default, |ms| Duration::from_millis(ms.max(1)))
}

/// `12 s`, `3 min 05 s`, `1 h 02 min`.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s / 60 % 60),
    }
}

/// The progress text (without a bar) for `done` of `total` after `elapsed`.
fn status(what: &str, done: usize, total: usize, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = done as f64 / secs;
    let eta =
        if done == 0 { "ETA unknown".to_string() } else { format!("ETA {}", duration((total - done) as f64 / rate)) };
    format!("{what}: {done}/{total} samples, {rate:.1} samples/s, {eta}")
}

/// Runs `work` with a progress callback for `total` samples, printing progress to stderr on a
/// helper thread (none when `quiet`).
pub fn with_progress<T>(what: &str, total: usize, quiet: bool, work: impl FnOnce(&(dyn Fn(usize) + Sync)) -> T) -> T {
    if quiet {
        return work(&|_| {});
    }
    let terminal = std::io::stderr().is_terminal();
    let every = interval(if terminal { Duration::from_millis(200) } else { Duration::from_secs(5) });
    let done = AtomicUsize::new(0);
    let start = Instant::now();
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let done = &done;
        scope.spawn(move || {
            let mut drawn = false;
            loop {
                let finished = !matches!(stopped.recv_timeout(every), Err(RecvTimeoutError::Timeout));
                let n = done.load(Ordering::Relaxed).min(total);
                let mut err = std::io::stderr().lock();
                if terminal {
                    if finished && !drawn {
                        return;
                    }
                    const WIDTH: usize = 24;
                    let filled = (n * WIDTH).checked_div(total).unwrap_or(WIDTH);
                    let bar = format!("[{}{}]", "#".repeat(filled), " ".repeat(WIDTH - filled));
                    let _ = write!(err, "\r{bar} {}\x1b[K", status(what, n, total, start.elapsed()));
                    drawn = true;
                    if finished {
                        let _ = writeln!(err);
                    }
                } else if !finished {
                    let _ = writeln!(err, "{}", status(what, n, total, start.elapsed()));
                }
                let _ = err.flush();
                if finished {
                    return;
                }
            }
        });
        let result = work(&|n| {
            done.fetch_max(n, Ordering::Relaxed);
        });
        drop(stop);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line() {
        assert_eq!(
            status("calibrating", 50, 200, Duration::from_secs(10)),
            "calibrating: 50/200 samples, 5.0 samples/s, ETA 30 s"
        );
        assert_eq!(
            status("calibrating", 0, 2, Duration::from_secs(1)),
            "calibrating: 0/2 samples, 0.0 samples/s, ETA unknown"
        );
        assert_eq!(duration(185.0), "3 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
    }
}
