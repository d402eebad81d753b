//! Byte payloads (buffer data, custom options) that point into the mapped input
//! file until a pass replaces them, or into a `bytes::Bytes` (the importer's
//! view of a mapped `.pb`).

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// The bytes a model was read from: a memory map of the file, or an owned copy.
pub enum Source {
    /// The input file, mapped read-only, and the open file (for in-kernel copies).
    /// The file must not change while mapped.
    Mapped {
        map: memmap2::Mmap,
        file: std::fs::File,
    },
    Owned(Vec<u8>),
}

impl Deref for Source {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Source::Mapped { map, .. } => map,
            Source::Owned(v) => v,
        }
    }
}

impl Source {
    /// The open input file, when these bytes are a map of one.
    pub fn file(&self) -> Option<&std::fs::File> {
        match self {
            Source::Mapped { file, .. } => Some(file),
            Source::Owned(_) => None,
        }
    }

    /// Tells the kernel the mapped pages in `range` are no longer needed, so
    /// they leave the resident set after the writer has copied them.
    pub fn release(&self, range: Range<usize>) {
        #[cfg(unix)]
        if let Source::Mapped { map: m, .. } = self {
            // Page-align inwards: only whole pages inside the range are dropped.
            const PAGE: usize = 4096;
            let start = range.start.div_ceil(PAGE) * PAGE;
            let end = range.end / PAGE * PAGE;
            if end > start {
                // SAFETY: the map is private and read-only; dropped pages are
                // re-read from the file on the next access, so no data is lost.
                unsafe {
                    let _ = m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start);
                }
            }
        }
        #[cfg(not(unix))]
        let _ = range;
    }
}

/// Owns a shared [`Source`] on behalf of a `bytes::Bytes` (see [`Source::bytes`]).
struct SourceOwner(Arc<Source>);

impl AsRef<[u8]> for SourceOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Source {
    /// The whole source as a `bytes::Bytes`, without copying: its slices keep
    /// the source (the map) alive, and `source` can still release their pages.
    pub fn bytes(source: &Arc<Source>) -> bytes::Bytes {
        bytes::Bytes::from_owner(SourceOwner(source.clone()))
    }

    /// Releases the pages under `view` (see [`Source::release`]) when it lies
    /// inside this source; does nothing for bytes that live elsewhere.
    pub fn release_view(&self, view: &[u8]) {
        let base = self.as_ptr() as usize;
        let start = view.as_ptr() as usize;
        if start >= base && start + view.len() <= base + self.len() {
            self.release(start - base..start - base + view.len());
        }
    }
}

/// An immutable byte payload, cheap to clone.
#[derive(Clone, Default)]
pub struct Data(Repr);

#[derive(Clone, Default)]
enum Repr {
    #[default]
    Empty,
    Mapped(Arc<Source>, Range<usize>),
    Owned(Arc<Vec<u8>>),
    /// A shared view, e.g. a slice of a mapped GraphDef (`Bytes::from_owner`).
    Shared(bytes::Bytes),
}

impl Data {
    pub fn empty() -> Data {
        Data(Repr::Empty)
    }

    /// A view of `range` in `source`; the caller has checked the range is in bounds.
    pub fn mapped(source: &Arc<Source>, range: Range<usize>) -> Data {
        debug_assert!(range.end <= source.len());
        if range.is_empty() {
            return Data::empty();
        }
        Data(Repr::Mapped(source.clone(), range))
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Empty => &[],
            Repr::Mapped(s, r) => &s[r.clone()],
            Repr::Owned(v) => v,
            Repr::Shared(b) => b,
        }
    }

    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where these bytes live in the input file, if they are still a view of it.
    pub fn mapped_range(&self) -> Option<(&Arc<Source>, Range<usize>)> {
        match &self.0 {
            Repr::Mapped(s, r) => Some((s, r.clone())),
            _ => None,
        }
    }
}

impl From<Vec<u8>> for Data {
    fn from(v: Vec<u8>) -> Data {
        if v.is_empty() {
            Data::empty()
        } else {
            Data(Repr::Owned(Arc::new(v)))
        }
    }
}

/// A view of the same bytes, not a copy (a `Bytes` made from a `Vec` takes
/// its allocation; a slice of a mapped file stays in the map).
impl From<bytes::Bytes> for Data {
    fn from(b: bytes::Bytes) -> Data {
        if b.is_empty() {
            Data::empty()
        } else {
            Data(Repr::Shared(b))
        }
    }
}

impl PartialEq for Data {
    fn eq(&self, other: &Data) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            Repr::Empty => "empty",
            Repr::Mapped(..) => "mapped",
            Repr::Owned(_) => "owned",
            Repr::Shared(_) => "shared",
        };
        write!(f, "Data({kind}, {} bytes)", self.len())
    }
}

/// What `path` is when it is neither a regular file nor a directory (a FIFO, a device, a
/// socket), found without opening it: opening a FIFO blocks, and a device can be endless.
pub fn special_file(path: &std::path::Path) -> Option<&'static str> {
    let meta = std::fs::metadata(path).ok()?;
    let t = meta.file_type();
    if t.is_file() || t.is_dir() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bytes_view_is_not_copied() {
        let whole = bytes::Bytes::from(vec![1u8, 2, 3, 4, 5, 6]);
        let d = Data::from(whole.slice(2..5));
        assert_eq!(d.as_bytes(), &[3, 4, 5]);
        assert_eq!(d.as_bytes().as_ptr(), whole[2..].as_ptr());
        assert_eq!(d.len(), 3);
        assert!(d.mapped_range().is_none());
        assert_eq!(d, Data::from(vec![3u8, 4, 5]));
        assert_eq!(format!("{d:?}"), "Data(shared, 3 bytes)");
        assert!(Data::from(bytes::Bytes::new()).is_empty());
        assert_eq!(format!("{:?}", Data::from(bytes::Bytes::new())), "Data(empty, 0 bytes)");
    }
}
