//! TensorBundle checkpoints: TF-written bundles read back exactly as TF reads them, and
//! corrupt or hostile ones give one clear error line, never a panic or a huge allocation.
//!
//! The corrupt bundles come from a small writer below (LevelDB table + protos by hand), so
//! each test changes exactly one thing in an otherwise valid bundle.

use bytes::Bytes;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tflq::savedmodel::bundle::{Bundle, BundleError, TableError};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Every key TF lists (expected.json, from `tf.train.load_checkpoint`) has the same dtype,
/// shape and bytes here, and there are no other keys.
/// Returns the bundle and how many of its entries are partitioned (rejected, as documented).
fn matches_tf(prefix: &Path, expected: &Path) -> (Bundle, usize) {
    let want: Value = serde_json::from_str(&std::fs::read_to_string(expected).unwrap()).unwrap();
    let want = want.as_object().unwrap();
    let b = Bundle::open(prefix).unwrap();
    let mut sliced = 0;
    let keys: Vec<&str> = b.keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "keys() is not sorted");
    assert_eq!(keys, want.keys().map(|k| k.as_str()).collect::<Vec<_>>());
    for (key, w) in want {
        let e = b.entry(key).unwrap();
        assert_eq!(i64::from(e.dtype), w["dtype"].as_i64().unwrap(), "{key}");
        let shape: Vec<i64> = w["shape"].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect();
        assert_eq!(e.shape, shape, "{key}");
        if e.is_sliced() {
            let err = b.tensor(key).unwrap_err();
            assert!(matches!(says(err, &[key, "partitioned"]), BundleError::Sliced { .. }));
            sliced += 1;
        } else if let Some(strings) = w.get("strings") {
            let got = b.strings(key).unwrap();
            let strings: Vec<Vec<u8>> = strings.as_array().unwrap().iter().map(|s| hex(s.as_str().unwrap())).collect();
            assert_eq!(got, strings, "{key}");
            assert!(matches!(b.tensor(key), Err(BundleError::UnsupportedDtype { .. })));
        } else {
            assert_eq!(&b.tensor(key).unwrap()[..], hex(w["hex"].as_str().unwrap()), "{key}");
            assert!(matches!(b.strings(key), Err(BundleError::NotString { .. })));
        }
    }
    (b, sliced)
}

#[test]
fn reads_every_dtype_of_a_tf_savedmodel() {
    let dir = testdata("savedmodel/bundle_dtypes");
    let (b, sliced) = matches_tf(&dir.join("variables/variables"), &dir.join("expected.json"));
    assert_eq!((b.num_shards(), sliced), (1, 0));
    assert!(b.entry("_CHECKPOINTABLE_OBJECT_GRAPH").is_some());
    assert!(b.entry("nope").is_none());
    let err = b.tensor("nope").unwrap_err().to_string();
    assert!(err.contains("variables.index") && err.contains("\"nope\""), "{err}");
}

#[test]
fn reads_a_tf_checkpoint_over_three_shards() {
    let dir = testdata("savedmodel/bundle_shards");
    // MaxShardSizePolicy also split one variable (`flag`) into a slice: TF wrote a partitioned
    // entry and a slice key (which starts with a 0 byte and is not listed).
    let (b, sliced) = matches_tf(&dir.join("ckpt"), &dir.join("expected.json"));
    assert_eq!((b.num_shards(), sliced), (3, 1));
    let used: std::collections::BTreeSet<i32> = b.keys().map(|k| b.entry(k).unwrap().shard_id).collect();
    assert_eq!(used.len(), 3, "every shard holds a tensor");
}

/// Truncating TF's index anywhere, or flipping any one of its bytes, gives an error or a
/// bundle whose reads all return (no panic); CRCs catch every flip inside a block.
#[test]
fn every_truncation_and_byte_flip_of_a_tf_index_is_handled() {
    let dir = testdata("savedmodel/bundle_dtypes/variables");
    let index = std::fs::read(dir.join("variables.index")).unwrap();
    let data = Bytes::from(std::fs::read(dir.join("variables.data-00000-of-00001")).unwrap());
    let prefix = dir.join("variables");
    for len in 0..index.len() {
        assert!(Bundle::from_memory(&prefix, &index[..len], vec![data.clone()]).is_err(), "truncated to {len}");
    }
    let mut opened = 0;
    for i in 0..index.len() {
        let mut bad = index.clone();
        bad[i] ^= 0x20;
        match Bundle::from_memory(&prefix, &bad, vec![data.clone()]) {
            Err(e) => assert!(!e.to_string().contains('\n')),
            Ok(b) => {
                opened += 1;
                for k in b.keys() {
                    let _ = (b.tensor(k), b.strings(k));
                }
            }
        }
    }
    // Only the footer's zero padding is outside every CRC and check.
    assert!(opened <= 40, "{opened} flipped files opened");
}

#[test]
fn every_byte_flip_of_tf_data_is_a_crc_error() {
    let dir = testdata("savedmodel/bundle_dtypes/variables");
    let index = std::fs::read(dir.join("variables.index")).unwrap();
    let data = std::fs::read(dir.join("variables.data-00000-of-00001")).unwrap();
    let prefix = dir.join("variables");
    for i in 0..data.len() {
        let mut bad = data.clone();
        bad[i] ^= 1;
        let b = Bundle::from_memory(&prefix, &index, vec![Bytes::from(bad)]).unwrap();
        let failed = b
            .keys()
            .filter(|k| {
                let e = b.entry(k).unwrap();
                let r = if e.dtype == 7 { b.strings(k).map(|_| ()) } else { b.tensor(k).map(|_| ()) };
                r.is_err()
            })
            .count();
        assert_eq!(failed, 1, "flip at {i}");
    }
}

// ---- a tiny test-only bundle writer ---------------------------------------------------------

fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(out: &mut Vec<u8>, tag: u32, v: u64) {
    varint(out, u64::from(tag) << 3);
    varint(out, v);
}

fn field_bytes(out: &mut Vec<u8>, tag: u32, b: &[u8]) {
    varint(out, u64::from(tag) << 3 | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn header(num_shards: i32, endianness: i32, min_consumer: i32) -> Vec<u8> {
    let mut out = Vec::new();
    field_varint(&mut out, 1, num_shards as i64 as u64);
    if endianness != 0 {
        field_varint(&mut out, 2, endianness as u64);
    }
    let mut v = Vec::new();
    field_varint(&mut v, 1, 1);
    if min_consumer != 0 {
        field_varint(&mut v, 2, min_consumer as u64);
    }
    field_bytes(&mut out, 3, &v);
    out
}

/// A BundleEntryProto; `crc` is stored as given (already masked).
#[derive(Clone)]
struct E {
    dtype: i32,
    shape: Vec<i64>,
    shard: i32,
    offset: i64,
    size: i64,
    crc: u32,
    slices: usize,
    unknown_rank: bool,
}

impl E {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        field_varint(&mut out, 1, self.dtype as u64);
        let mut shape = Vec::new();
        for &d in &self.shape {
            let mut dim = Vec::new();
            field_varint(&mut dim, 1, d as u64);
            field_bytes(&mut shape, 2, &dim);
        }
        if self.unknown_rank {
            field_varint(&mut shape, 3, 1);
        }
        field_bytes(&mut out, 2, &shape);
        field_varint(&mut out, 3, self.shard as i64 as u64);
        field_varint(&mut out, 4, self.offset as u64);
        field_varint(&mut out, 5, self.size as u64);
        varint(&mut out, 6 << 3 | 5);
        out.extend_from_slice(&self.crc.to_le_bytes());
        for _ in 0..self.slices {
            field_bytes(&mut out, 7, &[]);
        }
        out
    }
}

/// One block's contents: prefix-compressed entries with a restart every `restart` entries.
fn block(entries: &[(Vec<u8>, Vec<u8>)], restart: usize) -> Vec<u8> {
    let (mut out, mut restarts, mut prev): (Vec<u8>, Vec<u32>, &[u8]) = (Vec::new(), Vec::new(), &[]);
    for (i, (k, v)) in entries.iter().enumerate() {
        let shared = if i % restart == 0 {
            restarts.push(out.len() as u32);
            0
        } else {
            prev.iter().zip(k).take_while(|(a, b)| a == b).count()
        };
        varint(&mut out, shared as u64);
        varint(&mut out, (k.len() - shared) as u64);
        varint(&mut out, v.len() as u64);
        out.extend_from_slice(&k[shared..]);
        out.extend_from_slice(v);
        prev = k;
    }
    if restarts.is_empty() {
        restarts.push(0);
    }
    for r in &restarts {
        out.extend_from_slice(&r.to_le_bytes());
    }
    out.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
    out
}

/// Appends a block with its trailer; returns its handle.
fn put_block(file: &mut Vec<u8>, contents: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    varint(&mut h, file.len() as u64);
    varint(&mut h, contents.len() as u64);
    file.extend_from_slice(contents);
    file.push(0);
    let crc = crc32c::crc32c(&file[file.len() - contents.len() - 1..]);
    file.extend_from_slice(&mask(crc).to_le_bytes());
    h
}

/// A whole table: `per_block` entries per data block, index keys = each block's last key.
fn table(entries: &[(Vec<u8>, Vec<u8>)], per_block: usize, restart: usize) -> Vec<u8> {
    let mut file = Vec::new();
    let mut index = Vec::new();
    for chunk in entries.chunks(per_block) {
        let h = put_block(&mut file, &block(chunk, restart));
        index.push((chunk.last().unwrap().0.clone(), h));
    }
    footer(&mut file, &index)
}

fn footer(file: &mut Vec<u8>, index: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let meta = put_block(file, &block(&[], 1));
    let idx = put_block(file, &block(index, 1));
    let mut f = [meta, idx].concat();
    f.resize(40, 0);
    f.extend_from_slice(&[0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
    file.extend_from_slice(&f);
    std::mem::take(file)
}

/// A valid bundle: a float [2,2], an int32 [3], a string [2], over one data shard.
struct Fixture {
    header: Vec<u8>,
    entries: Vec<(String, E)>,
    data: Vec<u8>,
}

fn strings_bytes(items: &[&[u8]]) -> (Vec<u8>, u32) {
    let mut out = Vec::new();
    let mut crc = 0;
    for s in items {
        varint(&mut out, s.len() as u64);
        crc = crc32c::crc32c_append(crc, &(s.len() as u32).to_le_bytes());
    }
    let stored = mask(crc).to_le_bytes();
    out.extend_from_slice(&stored);
    crc = crc32c::crc32c_append(crc, &stored);
    for s in items {
        out.extend_from_slice(s);
        crc = crc32c::crc32c_append(crc, s);
    }
    (out, crc)
}

impl Fixture {
    fn new() -> Fixture {
        let mut data = Vec::new();
        let mut entries = Vec::new();
        let mut add = |key: &str, dtype, shape: Vec<i64>, bytes: &[u8], crc: u32| {
            let e = E {
                dtype,
                shape,
                shard: 0,
                offset: data.len() as i64,
                size: bytes.len() as i64,
                crc: mask(crc),
                slices: 0,
                unknown_rank: false,
            };
            data.extend_from_slice(bytes);
            entries.push((key.to_string(), e));
        };
        let f: Vec<u8> = [1.0f32, -2.0, 0.5, 8.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        add("a/float", 1, vec![2, 2], &f, crc32c::crc32c(&f));
        let i: Vec<u8> = [7i32, -1, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
        add("b/int", 3, vec![3], &i, crc32c::crc32c(&i));
        let (s, crc) = strings_bytes(&[b"hello", b""]);
        add("c/str", 7, vec![2], &s, crc);
        Fixture { header: header(1, 0, 0), entries, data }
    }

    fn index(&self) -> Vec<u8> {
        let mut all = vec![(Vec::new(), self.header.clone())];
        all.extend(self.entries.iter().map(|(k, e)| (k.as_bytes().to_vec(), e.encode())));
        table(&all, 2, 16)
    }

    fn open(&self) -> Result<Bundle, BundleError> {
        Bundle::from_memory(Path::new("m/variables"), &self.index(), vec![Bytes::from(self.data.clone())])
    }

    fn with(mut self, key: &str, change: impl FnOnce(&mut E)) -> Fixture {
        change(&mut self.entries.iter_mut().find(|(k, _)| k == key).unwrap().1);
        self
    }
}

/// The error's message is one line and mentions every `part`.
fn says(err: BundleError, parts: &[&str]) -> BundleError {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    for p in parts {
        assert!(msg.contains(p), "{msg:?} lacks {p:?}");
    }
    err
}

#[test]
fn the_writer_makes_valid_multi_block_bundles() {
    let b = Fixture::new().open().unwrap();
    assert_eq!(b.keys().collect::<Vec<_>>(), ["a/float", "b/int", "c/str"]);
    assert_eq!(&b.tensor("a/float").unwrap()[..4], &1.0f32.to_le_bytes());
    assert_eq!(b.strings("c/str").unwrap(), [b"hello".to_vec(), vec![]]);
    assert_eq!(b.entry("b/int").unwrap().element_size(), Some(4));
}

#[test]
fn index_structure_errors() {
    let good = Fixture::new().index();
    let data = || vec![Bytes::from(Fixture::new().data)];
    let open = |index: &[u8]| Bundle::from_memory(Path::new("m/variables"), index, data()).unwrap_err();
    let table_err = |e: BundleError| match e {
        BundleError::Table { source, .. } => source,
        e => panic!("not a table error: {e}"),
    };

    assert!(matches!(table_err(says(open(&good[..47]), &["m/variables.index"])), TableError::TooShort { .. }));
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(matches!(table_err(says(open(&bad), &["magic"])), TableError::BadMagic { .. }));

    let n = good.len();
    let mut bad = good.clone();
    bad[n - 48 - 1] ^= 0xff; // last byte of the index block's CRC
    assert!(matches!(table_err(says(open(&bad), &["CRC32C"])), TableError::BlockCrc { what: "index", .. }));

    // Compression type 1 (snappy) on the index block, with a CRC that matches it.
    let mut bad = good.clone();
    let (ty, crc_at) = (n - 48 - 5, n - 48 - 4);
    bad[ty] = 1;
    let idx_size = {
        // The footer's second handle gives the index block's offset and size.
        let mut p = 0;
        let rd = |p: &mut usize| {
            let (mut v, mut s) = (0u64, 0);
            loop {
                let b = good[n - 48 + *p];
                *p += 1;
                v |= u64::from(b & 0x7f) << s;
                s += 7;
                if b & 0x80 == 0 {
                    return v;
                }
            }
        };
        let _ = (rd(&mut p), rd(&mut p));
        let (off, size) = (rd(&mut p), rd(&mut p));
        assert_eq!((off + size) as usize, ty);
        size as usize
    };
    let crc = mask(crc32c::crc32c(&bad[ty - idx_size..=ty]));
    bad[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        table_err(says(open(&bad), &["compression type 1"])),
        TableError::Compressed { what: "index", kind: 1, .. }
    ));

    // Footer handles pointing far outside the file.
    let mut file = Vec::new();
    let _ = put_block(&mut file, &block(&[], 1));
    let mut f = Vec::new();
    varint(&mut f, 0);
    varint(&mut f, 8);
    varint(&mut f, 1 << 62);
    varint(&mut f, 1 << 62);
    f.resize(40, 0);
    f.extend_from_slice(&[0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
    file.extend_from_slice(&f);
    assert!(matches!(table_err(says(open(&file), &["4611686018427387904"])), TableError::BlockOutOfBounds { .. }));
}

#[test]
fn table_order_and_layout_errors() {
    let hdr = (Vec::new(), header(1, 0, 0));
    let e = |k: &str| (k.as_bytes().to_vec(), Vec::new());
    let open = |index: Vec<u8>| Bundle::from_memory(Path::new("m/v"), &index, vec![Bytes::new()]);
    let table_err = |r: Result<Bundle, BundleError>| match r {
        Err(BundleError::Table { source, .. }) => source,
        Err(e) => panic!("not a table error: {e}"),
        Ok(_) => panic!("opened"),
    };
    // Keys out of order, within a block and across blocks.
    let t = table(&[hdr.clone(), e("b"), e("a")], 8, 16);
    assert!(matches!(table_err(open(t)), TableError::KeyOrder { .. }));
    let t = table(&[hdr.clone(), e("b"), e("a")], 2, 16);
    assert!(matches!(table_err(open(t)), TableError::KeyOrder { .. }));
    // Duplicate keys.
    let t = table(&[hdr.clone(), e("a"), e("a")], 8, 16);
    assert!(matches!(table_err(open(t)), TableError::KeyOrder { .. }));

    // The same data block listed twice in the index.
    let mut file = Vec::new();
    let h = put_block(&mut file, &block(&[hdr.clone(), e("a")], 16));
    let t = footer(&mut file, &[(b"a".to_vec(), h.clone()), (b"b".to_vec(), h)]);
    assert!(matches!(table_err(open(t)), TableError::BlockOverlap { .. }));

    // A separator below its block's last key.
    let mut file = Vec::new();
    let h = put_block(&mut file, &block(&[hdr.clone(), e("b")], 16));
    let t = footer(&mut file, &[(b"a".to_vec(), h)]);
    let err = says(open(t).unwrap_err(), &["\"a\""]);
    assert!(matches!(err, BundleError::Table { source: TableError::BadSeparator { .. }, .. }));

    // Keys rebuilt from ever longer shared prefixes: a, aa, aaa, … in one block.
    let mut many = vec![hdr.clone()];
    many.extend((1..4000).map(|i| (vec![b'a'; i], Vec::new())));
    let t = table(&many, usize::MAX, usize::MAX);
    assert!(t.len() < 40_000);
    assert!(matches!(table_err(open(t)), TableError::KeysTooLarge { .. }));

    // The same in the index block (whose handles may all point at one block: the key
    // budget runs out before the overlap is seen).
    let mut file = Vec::new();
    let h = put_block(&mut file, &block(std::slice::from_ref(&hdr), 16));
    let mut index: Vec<(Vec<u8>, Vec<u8>)> = (1..4000).map(|i| (vec![b'a'; i], h.clone())).collect();
    index[0].0.clear();
    let index_block = block(&index, usize::MAX);
    let meta = put_block(&mut file, &block(&[], 1));
    let idx = put_block(&mut file, &index_block);
    let mut f = [meta, idx].concat();
    f.resize(40, 0);
    f.extend_from_slice(&[0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
    file.extend_from_slice(&f);
    assert!(file.len() < 40_000);
    assert!(matches!(table_err(open(file)), TableError::KeysTooLarge { .. }));

    // No header; a non-UTF-8 key.
    assert!(matches!(open(table(&[e("a")], 8, 16)), Err(BundleError::MissingHeader { .. })));
    let t = table(&[hdr.clone(), (vec![b'a', 0xff], E::default_encoded())], 8, 16);
    assert!(matches!(open(t), Err(BundleError::KeyNotUtf8 { .. })));
    // Slice keys (a 0 byte first, then binary) are parsed but not listed.
    let t =
        table(&[hdr.clone(), (vec![0, 0xff, 1], E::default_encoded()), (b"k".to_vec(), E::default_encoded())], 8, 16);
    assert_eq!(open(t).unwrap().keys().collect::<Vec<_>>(), ["k"]);
    // A value that is not a BundleEntryProto.
    let t = table(&[hdr, (b"k".to_vec(), vec![0x0a, 0x05])], 8, 16);
    assert!(matches!(says(open(t).unwrap_err(), &["\"k\"", "BundleEntryProto"]), BundleError::BadProto { .. }));
}

impl E {
    fn default_encoded() -> Vec<u8> {
        E { dtype: 1, shape: vec![], shard: 0, offset: 0, size: 0, crc: 0, slices: 0, unknown_rank: false }.encode()
    }
}

#[test]
fn header_errors() {
    let open = |h: Vec<u8>| Fixture { header: h, ..Fixture::new() }.open().unwrap_err();
    assert!(matches!(says(open(header(-1, 0, 0)), &["-1 data shards"]), BundleError::BadShardCount { .. }));
    assert!(matches!(says(open(header(1, 1, 0)), &["big-endian"]), BundleError::BigEndian { .. }));
    assert!(matches!(open(header(1, 7, 0)), BundleError::UnknownEndianness { value: 7, .. }));
    assert!(matches!(open(header(1, 0, 2)), BundleError::UnsupportedVersion { min_consumer: 2, .. }));
    assert!(matches!(open(header(2, 0, 0)), BundleError::ShardCountMismatch { given: 1, expected: 2, .. }));
    assert!(matches!(open(vec![0x0a, 0x7f]), BundleError::BadProto { .. }));
}

#[test]
fn entry_errors_name_the_file_and_key() {
    let f = || Fixture::new();
    let tensor = |f: Fixture, key: &str| f.open().unwrap().tensor(key).unwrap_err();
    let strings = |f: Fixture, key: &str| f.open().unwrap().strings(key).unwrap_err();
    let idx = "m/variables.index";
    let data = "m/variables.data-00000-of-00001";

    let e = tensor(f().with("a/float", |e| e.size = 12), "a/float");
    assert!(matches!(says(e, &[idx, "\"a/float\"", "needs 16"]), BundleError::SizeMismatch { .. }));
    let e = tensor(f().with("a/float", |e| e.dtype = 25), "a/float");
    assert!(matches!(says(e, &[idx, "\"a/float\"", "25"]), BundleError::UnsupportedDtype { .. }));
    let e = tensor(f().with("a/float", |e| e.dtype = 21), "a/float");
    assert!(matches!(says(e, &["VARIANT"]), BundleError::UnsupportedDtype { .. }));
    let e = tensor(f().with("a/float", |e| e.slices = 2), "a/float");
    assert!(matches!(says(e, &["partitioned", "\"a/float\""]), BundleError::Sliced { slices: 2, .. }));
    let e = tensor(f().with("a/float", |e| e.shape = vec![-1, 4]), "a/float");
    assert!(matches!(says(e, &["\"a/float\""]), BundleError::BadShape { .. }));
    let e = tensor(f().with("a/float", |e| e.shape = vec![1 << 40, 1 << 40]), "a/float");
    assert!(matches!(e, BundleError::BadShape { .. }));
    let e = tensor(f().with("a/float", |e| e.shape = vec![1 << 31, 1 << 31]), "a/float");
    assert!(matches!(e, BundleError::SizeMismatch { .. }));
    let e = tensor(f().with("a/float", |e| e.unknown_rank = true), "a/float");
    assert!(matches!(e, BundleError::UnknownRank { .. }));
    let e = tensor(f().with("a/float", |e| e.shard = 1), "a/float");
    assert!(matches!(says(e, &[idx, "shard 1"]), BundleError::BadShardId { .. }));
    let e = tensor(f().with("a/float", |e| e.shard = -3), "a/float");
    assert!(matches!(e, BundleError::BadShardId { shard_id: -3, .. }));

    // Offsets past the file, including hostile ones near 2^62 and 2^63 and negative.
    for (offset, size, shape) in [(40, 16, vec![2, 2]), (1 << 62, 16, vec![2, 2]), (-4, 16, vec![2, 2])] {
        let e = tensor(f().with("a/float", |e| (e.offset, e.size, e.shape) = (offset, size, shape)), "a/float");
        assert!(matches!(says(e, &[data, "\"a/float\""]), BundleError::OutOfShard { .. }));
    }
    let huge = f().with("a/float", |e| (e.offset, e.size, e.shape) = (1 << 62, 1 << 62, vec![1 << 60]));
    assert!(matches!(tensor(huge, "a/float"), BundleError::OutOfShard { .. }));
    let huge = f().with("a/float", |e| (e.offset, e.size, e.shape) = (i64::MAX, i64::MAX, vec![i64::MAX]));
    assert!(matches!(tensor(huge, "a/float"), BundleError::SizeMismatch { .. }));

    let e = tensor(f().with("b/int", |e| e.crc ^= 1), "b/int");
    assert!(matches!(says(e, &[data, "\"b/int\"", "CRC32C"]), BundleError::Crc { .. }));

    // Strings: wrong dtype for each accessor, lying element counts and CRCs.
    assert!(matches!(tensor(f(), "c/str"), BundleError::UnsupportedDtype { dtype: 7, .. }));
    assert!(matches!(says(strings(f(), "a/float"), &["FLOAT"]), BundleError::NotString { .. }));
    let e = strings(f().with("c/str", |e| e.crc ^= 1), "c/str");
    assert!(matches!(says(e, &[data, "\"c/str\""]), BundleError::Crc { .. }));
    let e = strings(f().with("c/str", |e| e.shape = vec![1 << 40]), "c/str");
    assert!(matches!(says(e, &["truncated"]), BundleError::StringLengths { .. }));
    let e = strings(f().with("c/str", |e| e.shape = vec![1]), "c/str");
    assert!(matches!(e, BundleError::StringLengthCrc { .. }));
    let e = strings(f().with("c/str", |e| e.shape = vec![3]), "c/str");
    assert!(matches!(e, BundleError::StringLengthCrc { .. } | BundleError::StringLengths { .. }));
    let e = strings(f().with("c/str", |e| e.size -= 1), "c/str");
    assert!(matches!(says(e, &["add up to 5"]), BundleError::StringSizeMismatch { .. }));
}

#[test]
fn hostile_string_lengths_are_rejected_before_allocating() {
    let mut fx = Fixture::new();
    // One string claiming 2^62 bytes, with a correct length CRC.
    let mut s = Vec::new();
    varint(&mut s, 1 << 62);
    let crc = crc32c::crc32c(&(1u64 << 62).to_le_bytes());
    s.extend_from_slice(&mask(crc).to_le_bytes());
    s.extend_from_slice(b"xy");
    let offset = fx.data.len() as i64;
    fx.data.extend_from_slice(&s);
    let fx = fx.with("c/str", |e| (e.shape, e.offset, e.size) = (vec![], offset, s.len() as i64));
    let e = fx.open().unwrap().strings("c/str").unwrap_err();
    assert!(matches!(e, BundleError::StringSizeMismatch { available: 2, .. }), "{e}");
}

#[test]
fn files_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("variables");
    let fx = Fixture::new();
    std::fs::write(dir.path().join("variables.index"), fx.index()).unwrap();
    let e = Bundle::open(&prefix).unwrap_err();
    assert!(matches!(says(e, &["variables.data-00000-of-00001", "not found"]), BundleError::Missing { .. }));
    std::fs::write(dir.path().join("variables.data-00000-of-00001"), &fx.data).unwrap();
    let b = Bundle::open(&prefix).unwrap();
    assert_eq!(b.tensor("b/int").unwrap().len(), 12);

    let e = Bundle::open(&dir.path().join("other")).unwrap_err();
    assert!(matches!(says(e, &["other.index"]), BundleError::Missing { .. }));
    std::fs::create_dir(dir.path().join("d.index")).unwrap();
    let e = Bundle::open(&dir.path().join("d")).unwrap_err();
    assert!(matches!(says(e, &["d.index", "not a regular file"]), BundleError::NotAFile { .. }));
    // A FIFO must be refused without opening it (opening would block).
    #[cfg(unix)]
    if std::process::Command::new("mkfifo").arg(dir.path().join("f.index")).status().is_ok_and(|s| s.success()) {
        let e = Bundle::open(&dir.path().join("f")).unwrap_err();
        assert!(matches!(e, BundleError::NotAFile { .. }));
    }
    // An empty data file is fine when no tensor has bytes in it.
    let empty = Fixture { entries: vec![], data: vec![], ..Fixture::new() };
    std::fs::write(dir.path().join("e.index"), empty.index()).unwrap();
    std::fs::write(dir.path().join("e.data-00000-of-00001"), b"").unwrap();
    assert_eq!(Bundle::open(&dir.path().join("e")).unwrap().keys().count(), 0);
}
