//! Outputs staged in temporary files beside their destination and renamed into place only
//! when the whole run succeeded. Live temporary files are registered, so a signal handler
//! can remove them ([`remove_all_staged`]).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A temporary file for `dest`; removed on drop unless committed.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Staged {
    /// Creates `.NAME.tflq-PID.tmp` next to `dest`.
    pub fn create(dest: &Path) -> std::io::Result<(Staged, File)> {
        // A symlink is written through, as a shell redirection would: its target is replaced.
        let resolved;
        let dest = if fs::symlink_metadata(dest).is_ok_and(|m| m.file_type().is_symlink()) {
            resolved = fs::canonicalize(dest)?;
            resolved.as_path()
        } else {
            dest
        };
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest.file_name().ok_or_else(|| std::io::Error::other("not a file path"))?;
        let tmp = dir.join(format!(".{}.tflq-{}.tmp", name.to_string_lossy(), std::process::id()));
        // Registered before it exists, so a signal arriving in between still removes it.
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(tmp.clone());
        let staged = Staged { tmp, dest: dest.to_path_buf(), done: false };
        let file = File::create(&staged.tmp)?;
        Ok((staged, file))
    }

    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Renames the file into place.
    pub fn commit(mut self) -> std::io::Result<()> {
        fs::rename(&self.tmp, &self.dest)?;
        self.done = true;
        unregister(&self.tmp);
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
            unregister(&self.tmp);
        }
    }
}

fn unregister(p: &Path) {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|q| q != p);
}

/// Removes every staged file not yet committed (for SIGINT/SIGTERM handlers).
pub fn remove_all_staged() {
    let live = match LIVE.try_lock() {
        Ok(l) => l.clone(),
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner().clone(),
        Err(std::sync::TryLockError::WouldBlock) => return,
    };
    for p in live {
        let _ = fs::remove_file(p);
    }
}
