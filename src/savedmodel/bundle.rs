//! TEMPORARY local reader (replaced by the bundle branch); not committed.
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{0}")]
    Msg(String),
}

pub struct Entry {
    pub dtype: i32,
    pub shape: Vec<i64>,
    shard: i32,
    offset: i64,
    size: i64,
}

pub struct Bundle {
    entries: BTreeMap<String, Entry>,
    shards: Vec<bytes::Bytes>,
}

fn varint(b: &[u8], p: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut s = 0;
    loop {
        let c = b[*p];
        *p += 1;
        v |= ((c & 0x7f) as u64) << s;
        if c < 0x80 {
            return v;
        }
        s += 7;
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct E {
    #[prost(int32, tag = "1")]
    dtype: i32,
    #[prost(message, optional, tag = "2")]
    shape: Option<crate::graphdef::proto::TensorShapeProto>,
    #[prost(int32, tag = "3")]
    shard_id: i32,
    #[prost(int64, tag = "4")]
    offset: i64,
    #[prost(int64, tag = "5")]
    size: i64,
}
#[derive(Clone, PartialEq, prost::Message)]
struct H {
    #[prost(int32, tag = "1")]
    num_shards: i32,
}

fn block(b: &[u8], off: usize, size: usize, out: &mut Vec<(Vec<u8>, Vec<u8>)>) {
    let blk = &b[off..off + size];
    let n = u32::from_le_bytes(blk[size - 4..].try_into().unwrap()) as usize;
    let end = size - 4 - 4 * n;
    let mut p = 0;
    let mut key: Vec<u8> = Vec::new();
    while p < end {
        let shared = varint(blk, &mut p) as usize;
        let ns = varint(blk, &mut p) as usize;
        let vl = varint(blk, &mut p) as usize;
        key.truncate(shared);
        key.extend_from_slice(&blk[p..p + ns]);
        p += ns;
        out.push((key.clone(), blk[p..p + vl].to_vec()));
        p += vl;
    }
}

impl Bundle {
    pub fn open(prefix: &Path) -> Result<Bundle, BundleError> {
        let idx = std::fs::read(prefix.with_extension("index")).map_err(|e| BundleError::Msg(e.to_string()))?;
        let f = &idx[idx.len() - 48..];
        let mut p = 0;
        let _mo = varint(f, &mut p);
        let _ms = varint(f, &mut p);
        let io = varint(f, &mut p) as usize;
        let is = varint(f, &mut p) as usize;
        let mut index = Vec::new();
        block(&idx, io, is, &mut index);
        let mut kv = Vec::new();
        for (_, h) in index {
            let mut p = 0;
            let o = varint(&h, &mut p) as usize;
            let s = varint(&h, &mut p) as usize;
            block(&idx, o, s, &mut kv);
        }
        let mut entries = BTreeMap::new();
        let mut num = 1;
        for (k, v) in kv {
            if k.is_empty() {
                let h: H = prost::Message::decode(v.as_slice()).unwrap();
                num = h.num_shards.max(1);
                continue;
            }
            let e: E = prost::Message::decode(v.as_slice()).unwrap();
            entries.insert(
                String::from_utf8_lossy(&k).into_owned(),
                Entry {
                    dtype: e.dtype,
                    shape: e.shape.map(|s| s.dim.iter().map(|d| d.size).collect()).unwrap_or_default(),
                    shard: e.shard_id,
                    offset: e.offset,
                    size: e.size,
                },
            );
        }
        let mut shards = Vec::new();
        for i in 0..num {
            let p = format!("{}.data-{:05}-of-{:05}", prefix.display(), i, num);
            shards.push(bytes::Bytes::from(std::fs::read(&p).map_err(|e| BundleError::Msg(format!("{p}: {e}")))?));
        }
        Ok(Bundle { entries, shards })
    }
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }
    pub fn tensor(&self, key: &str) -> Result<bytes::Bytes, BundleError> {
        let e = &self.entries[key];
        Ok(self.shards[e.shard as usize].slice(e.offset as usize..(e.offset + e.size) as usize))
    }
    pub fn strings(&self, key: &str) -> Result<Vec<Vec<u8>>, BundleError> {
        let b = self.tensor(key)?;
        let mut p = 0;
        let len = varint(&b, &mut p) as usize;
        p += 4;
        Ok(vec![b[p..p + len].to_vec()])
    }
}
