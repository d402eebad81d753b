use super::*;

/// A map like the custom ops' options, built with the reference encoder.
fn sample() -> Vec<u8> {
    let mut b = flexbuffers::Builder::default();
    let mut m = b.start_map();
    m.push("max_detections", 10i32);
    m.push("nms_iou_threshold", 0.5f32);
    m.push("big", 1i64 << 40);
    m.push("neg", -3i8);
    m.push("flag", true);
    m.push("mode", "bilinear");
    let mut v = m.start_vector("subset_idxs");
    for i in [0i32, 300, -2, 7] {
        v.push(i);
    }
    v.end_vector();
    let mut v = m.start_vector("mixed");
    v.push(1.25f64);
    v.push(4u8);
    v.push("s");
    v.end_vector();
    m.end_map();
    b.view().to_vec()
}

#[test]
fn reads_what_the_reference_encoder_writes() {
    let buf = sample();
    let m = root_map(&buf).unwrap();
    assert_eq!(m.require("max_detections").unwrap().as_i32().unwrap(), 10);
    assert_eq!(m.require("nms_iou_threshold").unwrap().as_f32().unwrap(), 0.5);
    assert_eq!(m.require("big").unwrap().as_i64().unwrap(), 1 << 40);
    assert!(m.require("big").unwrap().as_i32().is_err());
    assert_eq!(m.require("neg").unwrap().as_i64().unwrap(), -3);
    assert!(m.require("flag").unwrap().as_bool().unwrap());
    assert_eq!(m.require("mode").unwrap().as_str().unwrap(), "bilinear");
    assert_eq!(m.require("subset_idxs").unwrap().as_vector().unwrap().to_i64s().unwrap(), [0, 300, -2, 7]);
    let mixed = m.require("mixed").unwrap().as_vector().unwrap();
    assert_eq!(mixed.len(), 3);
    assert_eq!(mixed.get(0).unwrap().unwrap().as_f64().unwrap(), 1.25);
    assert_eq!(mixed.get(1).unwrap().unwrap().as_i64().unwrap(), 4);
    assert_eq!(mixed.get(2).unwrap().unwrap().as_str().unwrap(), "s");
    assert!(mixed.get(3).is_none());
    assert_eq!(m.get("absent").unwrap().map(|r| r.is_null()), None);
    assert_eq!(m.require("absent").unwrap_err(), FlexError::MissingKey("absent".into()));
    assert_eq!(
        m.require("mode").unwrap().as_i64().unwrap_err(),
        FlexError::WrongType { expected: "an int", found: "a string" }
    );
    let mut keys = m.keys().unwrap();
    keys.sort();
    assert_eq!(keys, ["big", "flag", "max_detections", "mixed", "mode", "neg", "nms_iou_threshold", "subset_idxs"]);
}

#[test]
fn short_and_non_map_buffers_are_errors() {
    assert_eq!(root(&[]).unwrap_err(), FlexError::TooShort(0));
    assert_eq!(root(&[1, 4, 3]).unwrap_err(), FlexError::BadWidth(3));
    let mut b = flexbuffers::Builder::default();
    b.build_singleton(7i32);
    let buf = b.view().to_vec();
    assert_eq!(root(&buf).unwrap().as_i64().unwrap(), 7);
    assert!(matches!(root_map(&buf).unwrap_err(), FlexError::WrongType { expected: "a map", .. }));
}

/// Reads everything a custom op might read; errors are fine, panics are not.
fn read_all(buf: &[u8]) {
    let Ok(m) = root_map(buf) else { return };
    let _ = m.keys();
    for k in ["max_detections", "nms_iou_threshold", "big", "mode", "subset_idxs", "mixed", "flag"] {
        if let Ok(Some(v)) = m.get(k) {
            let _ = (v.as_i64(), v.as_f64(), v.as_str(), v.as_bool(), v.as_map());
            if let Ok(vec) = v.as_vector() {
                for e in vec.iter().flatten() {
                    let _ = (e.as_i64(), e.as_f64(), e.as_str());
                }
            }
        }
    }
}

#[test]
fn mutated_and_truncated_buffers_never_panic() {
    let good = sample();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 24
    };
    for round in 0..20_000 {
        let mut buf = good.clone();
        for _ in 0..1 + next() % 4 {
            let i = next() as usize % buf.len();
            buf[i] = next() as u8;
        }
        if round % 5 == 0 {
            buf.truncate(next() as usize % buf.len());
        }
        read_all(&buf);
    }
    for n in 0..good.len() {
        read_all(&good[n..]);
        read_all(&good[..n]);
    }
}
