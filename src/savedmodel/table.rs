//! The LevelDB table ("SSTable") layout of a TensorBundle `.index` file, read in full.
//!
//! TF writes these tables without compression or filter blocks, so the reader only has to
//! walk the index block and then every data block in order. Everything is checked against the
//! file: block handles, trailers and their masked CRC32C, the footer magic, entry bounds, and
//! that keys strictly increase (which also rules out a block being read twice).

use std::ops::Range;

/// Footer length: two block handles padded to 40 bytes, then the 8-byte magic.
const FOOTER_LEN: usize = 48;
/// `0xdb4775248b80fb57`, stored as two little-endian words (low word first).
const MAGIC: [u8; 8] = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb];
/// Compression byte and masked CRC32C after every block.
const TRAILER_LEN: usize = 5;
/// A hostile table can share ever longer prefixes between tiny entries, so rebuilt keys could
/// grow quadratically in the file size. TF restarts prefixes every 16 entries, which bounds
/// its keys to 16 times the block bytes; anything beyond this budget is rejected.
const KEY_BUDGET_FACTOR: usize = 16;
const KEY_BUDGET_SLACK: usize = 1 << 20;
/// Fuzz builds (cargo-fuzz sets `--cfg fuzzing`) skip the CRC comparisons, so mutated
/// inputs reach the parsing behind them; everything else is checked the same.
pub const FUZZING: bool = cfg!(fuzzing);

/// Why an index file is not a readable table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{len} bytes is too short to be an sstable (the footer alone is 48)")]
    TooShort { len: usize },
    #[error("bad sstable magic {found:02x?} (not a TensorBundle index)")]
    BadMagic { found: [u8; 8] },
    #[error("the footer's {what} block handle is malformed")]
    BadFooter { what: &'static str },
    #[error("{what} block at offset {offset} with size {size} does not fit before byte {limit}")]
    BlockOutOfBounds { what: &'static str, offset: u64, size: u64, limit: usize },
    #[error("{what} block at offset {offset} overlaps the block before it")]
    BlockOverlap { what: &'static str, offset: u64 },
    #[error("{what} block at offset {offset} uses compression type {kind} (only 0, none, is supported)")]
    Compressed { what: &'static str, offset: u64, kind: u8 },
    #[error("{what} block at offset {offset}: CRC32C mismatch (stored {stored:#010x}, computed {actual:#010x})")]
    BlockCrc { what: &'static str, offset: u64, stored: u32, actual: u32 },
    #[error("{what} block at offset {offset} is malformed: {reason}")]
    BadBlock { what: &'static str, offset: u64, reason: &'static str },
    #[error("index entry {key:?} does not hold a valid block handle")]
    BadHandle { key: String },
    #[error("key {key:?} is not greater than the key before it")]
    KeyOrder { key: String },
    #[error("index separator {separator:?} does not separate data block {block} from its neighbours")]
    BadSeparator { separator: String, block: usize },
    #[error("rebuilt keys exceed {budget} bytes, more than the file size justifies")]
    KeysTooLarge { budget: usize },
}

/// One table entry: the full key and where its value lies in the file.
pub struct Item {
    pub key: Vec<u8>,
    pub value: Range<usize>,
}

/// Every entry of the table in `file`, in key order (strictly increasing).
pub fn read_all(file: &[u8]) -> Result<Vec<Item>, TableError> {
    let len = file.len();
    if len < FOOTER_LEN {
        return Err(TableError::TooShort { len });
    }
    let limit = len - FOOTER_LEN;
    let footer = &file[limit..];
    let mut found = [0u8; 8];
    found.copy_from_slice(&footer[40..]);
    if found != MAGIC {
        return Err(TableError::BadMagic { found });
    }
    let mut pos = 0;
    let meta = handle(&footer[..40], &mut pos).ok_or(TableError::BadFooter { what: "metaindex" })?;
    let index = handle(&footer[..40], &mut pos).ok_or(TableError::BadFooter { what: "index" })?;

    // TF's metaindex is always empty (no filters); it is only checked, never used.
    let meta_range = block(file, "metaindex", meta, limit)?;
    entries(file, "metaindex", meta, meta_range, |_, _| Ok(()))?;
    let index_range = block(file, "index", index, limit)?;
    let budget = len.saturating_mul(KEY_BUDGET_FACTOR).saturating_add(KEY_BUDGET_SLACK);
    let mut key_bytes = 0usize;
    let mut spend = |key: &[u8]| {
        key_bytes = key_bytes.saturating_add(key.len());
        if key_bytes > budget {
            return Err(TableError::KeysTooLarge { budget });
        }
        Ok(())
    };
    let mut handles = Vec::new();
    entries(file, "index", index, index_range, |key, value| {
        spend(key)?;
        let mut p = 0;
        let h = handle(&file[value.clone()], &mut p)
            .filter(|_| p == value.len())
            .ok_or_else(|| TableError::BadHandle { key: lossy(key) })?;
        handles.push((key.to_vec(), h));
        Ok(())
    })?;

    // Data blocks come first, in order and without overlap (as every LevelDB writer lays
    // them out); this also keeps the work linear in the file size.
    let data_limit = meta.0.min(index.0).try_into().unwrap_or(usize::MAX).min(limit);
    let mut items: Vec<Item> = Vec::new();
    let mut next_free = 0u64;
    for (i, (separator, h)) in handles.iter().enumerate() {
        if h.0 < next_free {
            return Err(TableError::BlockOverlap { what: "data", offset: h.0 });
        }
        let range = block(file, "data", *h, data_limit)?;
        next_free = (range.end + TRAILER_LEN) as u64;
        let first = items.len();
        entries(file, "data", *h, range, |key, value| {
            if items.last().is_some_and(|last| last.key.as_slice() >= key) {
                return Err(TableError::KeyOrder { key: lossy(key) });
            }
            spend(key)?;
            items.push(Item { key: key.to_vec(), value });
            Ok(())
        })?;
        // TF finds a key through the separators, so they must agree with the blocks:
        // last key of this block <= separator < first key of the next one.
        let bad = || TableError::BadSeparator { separator: lossy(separator), block: i };
        if items.len() == first {
            return Err(TableError::BadBlock { what: "data", offset: h.0, reason: "no entries" });
        }
        if items[items.len() - 1].key > *separator {
            return Err(bad());
        }
        if i > 0 && items[first].key <= handles[i - 1].0 {
            return Err(bad());
        }
    }
    Ok(items)
}

/// A block handle: varint64 offset, varint64 size.
fn handle(bytes: &[u8], pos: &mut usize) -> Option<(u64, u64)> {
    Some((varint(bytes, pos)?, varint(bytes, pos)?))
}

/// The contents of the block at `h`, after checking it and its trailer lie before `limit`,
/// that it is uncompressed, and that the masked CRC32C matches.
fn block(file: &[u8], what: &'static str, h: (u64, u64), limit: usize) -> Result<Range<usize>, TableError> {
    let (offset, size) = h;
    let end = usize::try_from(offset).ok().zip(usize::try_from(size).ok()).and_then(|(o, s)| o.checked_add(s));
    let Some(end) = end.filter(|e| e.checked_add(TRAILER_LEN).is_some_and(|t| t <= limit)) else {
        return Err(TableError::BlockOutOfBounds { what, offset, size, limit });
    };
    let start = end - size as usize;
    let kind = file[end];
    if kind != 0 {
        return Err(TableError::Compressed { what, offset, kind });
    }
    let stored = unmask(u32::from_le_bytes(file[end + 1..end + 5].try_into().unwrap()));
    let actual = crc32c::crc32c(&file[start..=end]);
    if stored != actual && !FUZZING {
        return Err(TableError::BlockCrc { what, offset, stored, actual });
    }
    Ok(start..end)
}

/// Calls `each(key, value range)` for every entry of the block at `range`, rebuilding the
/// prefix-compressed keys.
fn entries(
    file: &[u8],
    what: &'static str,
    h: (u64, u64),
    range: Range<usize>,
    mut each: impl FnMut(&[u8], Range<usize>) -> Result<(), TableError>,
) -> Result<(), TableError> {
    let bad = |reason| TableError::BadBlock { what, offset: h.0, reason };
    let body = &file[range.clone()];
    if body.len() < 4 {
        return Err(bad("shorter than its restart count"));
    }
    let restarts = u32::from_le_bytes(body[body.len() - 4..].try_into().unwrap()) as usize;
    let restart_bytes =
        restarts.checked_mul(4).filter(|&b| b <= body.len() - 4).ok_or_else(|| bad("restart count too large"))?;
    if restarts == 0 {
        return Err(bad("no restart points"));
    }
    let end = body.len() - 4 - restart_bytes;
    for r in body[end..body.len() - 4].chunks_exact(4) {
        if u32::from_le_bytes(r.try_into().unwrap()) as usize > end {
            return Err(bad("restart point past the entries"));
        }
    }
    let mut key: Vec<u8> = Vec::new();
    let mut pos = 0;
    while pos < end {
        let entries = &body[..end];
        let (Some(shared), Some(unshared), Some(value_len)) =
            (varint32(entries, &mut pos), varint32(entries, &mut pos), varint32(entries, &mut pos))
        else {
            return Err(bad("truncated entry header"));
        };
        if shared > key.len() {
            return Err(bad("entry shares more of the key than the previous key has"));
        }
        let key_end =
            pos.checked_add(unshared).filter(|&e| e <= end).ok_or_else(|| bad("key runs past the entries"))?;
        let value_end =
            key_end.checked_add(value_len).filter(|&e| e <= end).ok_or_else(|| bad("value runs past the entries"))?;
        key.truncate(shared);
        key.extend_from_slice(&entries[pos..key_end]);
        each(&key, range.start + key_end..range.start + value_end)?;
        pos = value_end;
    }
    Ok(())
}

/// A base-128 varint of at most 64 bits; `None` if truncated or too long.
pub fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        // The 10th byte may only carry the top bit.
        if shift == 63 && b > 1 {
            return None;
        }
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn varint32(bytes: &[u8], pos: &mut usize) -> Option<usize> {
    varint(bytes, pos).and_then(|v| u32::try_from(v).ok()).map(|v| v as usize)
}

/// LevelDB's CRC masking, undone (facts 2.2): rotate left by 15 after subtracting the delta.
pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(0xa282_ead8).rotate_left(15)
}

/// The masked form of a CRC, as stored in files.
#[cfg(test)]
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

pub fn lossy(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_round_trips_and_matches_leveldb() {
        for c in [0u32, 1, 0xffff_ffff, 0x1234_5678] {
            assert_eq!(unmask(mask(c)), c);
        }
        // TF's stored checksum of a 214-byte string's length (facts 2.5: `d6 01 | 58 23 24 9f`).
        assert_eq!(mask(crc32c::crc32c(&214u32.to_le_bytes())), 0x9f24_2358);
    }

    #[test]
    fn varints() {
        let mut p = 0;
        assert_eq!(varint(&[0xac, 0x02], &mut p), Some(300));
        assert_eq!(p, 2);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(varint(&max, &mut 0), Some(u64::MAX));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(varint(&over, &mut 0), None);
        assert_eq!(varint(&[0x80], &mut 0), None);
        assert_eq!(varint32(&[0x80, 0x80, 0x80, 0x80, 0x10], &mut 0), None);
    }
}
