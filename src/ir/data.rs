//! Byte payloads (buffer data, custom options) that point into the mapped input
//! file until a pass replaces them.

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

/// An immutable byte payload, cheap to clone.
#[derive(Clone, Default)]
pub struct Data(Repr);

#[derive(Clone, Default)]
enum Repr {
    #[default]
    Empty,
    Mapped(Arc<Source>, Range<usize>),
    Owned(Arc<Vec<u8>>),
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
        };
        write!(f, "Data({kind}, {} bytes)", self.len())
    }
}
