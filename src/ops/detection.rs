//! TFLite_Detection_PostProcess, the SSD head TF's converter writes as a custom op (LiteRT
//! registers it by default): decodes box encodings against anchors, then keeps the best
//! non-overlapping boxes by fast (one NMS over each anchor's best class) or regular (one NMS
//! per class, merged by score) non-max suppression. Inputs are float32 or uint8 (dequantized
//! with the tensor's parameters); the four outputs are float32 and their shapes follow from the
//! options (files store them as `[]`). It stays float in the full-integer modes.

use super::util::{inp, required, FlexOptions};
use super::{checked_numel, EvalCtx, KResult, OpDef, PrepareCtx, Prepared};
use crate::ir::{Value, Values};
use crate::schema::TensorType;
use std::borrow::Cow;
use std::cmp::Ordering;

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::custom("TFLite_Detection_PostProcess").kernel(prepare));
}

/// What LiteRT uses when the options do not say.
const DEFAULT_DETECTIONS_PER_CLASS: i32 = 100;

struct Params {
    /// D: the most detections reported.
    max_detections: usize,
    /// K: output slots per detection (fast NMS reports up to K classes of each box).
    max_classes_per_detection: usize,
    /// Regular NMS: most boxes kept per class (already at most D).
    detections_per_class: usize,
    regular: bool,
    score_threshold: f32,
    iou_threshold: f32,
    num_classes: usize,
    /// y, x, h, w.
    scales: [f64; 4],
    /// (scale, zero point) of each uint8 input.
    quant: [Option<(f32, i32)>; 3],
}

fn prepare(ctx: &PrepareCtx) -> KResult<Prepared> {
    if ctx.op.inputs.len() != 3 || ctx.op.outputs.len() != 4 {
        return Err(format!(
            "takes 3 inputs and 4 outputs, the model gives {} and {}",
            ctx.op.inputs.len(),
            ctx.op.outputs.len()
        ));
    }
    let o = FlexOptions(ctx.flex_options()?);
    let int = |key: &str| required(o.i32(key)?, key);
    let float = |key: &str| required(o.f32(key)?, key);
    let count = |key: &str, min: i32| -> KResult<usize> {
        let v = int(key)?;
        if v < min {
            return Err(format!("{key} must be at least {min}, got {v}"));
        }
        Ok(v as usize)
    };
    let max_detections = count("max_detections", 0)?;
    let max_classes_per_detection = count("max_classes_per_detection", 1)?;
    let num_classes = count("num_classes", 1)?;
    let per_class = o.i32("detections_per_class")?.unwrap_or(DEFAULT_DETECTIONS_PER_CLASS);
    let regular = o.bool("use_regular_nms")?.unwrap_or(false);
    let detections_per_class = usize::try_from(per_class).unwrap_or(0).min(max_detections);
    if regular && detections_per_class == 0 {
        return Err(format!(
            "regular NMS needs detections_per_class ({per_class}) and max_detections ({max_detections}) positive"
        ));
    }
    let iou_threshold = float("nms_iou_threshold")?;
    if !(iou_threshold > 0.0 && iou_threshold <= 1.0) {
        return Err(format!("nms_iou_threshold must be in (0, 1], got {iou_threshold}"));
    }
    let mut scales = [0f64; 4];
    for (v, key) in scales.iter_mut().zip(["y_scale", "x_scale", "h_scale", "w_scale"]) {
        *v = float(key)?.into();
    }
    checked_numel(&[max_detections, max_classes_per_detection, 4])?;
    let mut quant = [None; 3];
    for (slot, q) in quant.iter_mut().enumerate() {
        let t = ctx.input(slot).ok_or_else(|| format!("input {slot} is missing"))?;
        match t.dtype {
            TensorType::FLOAT32 => {}
            TensorType::UINT8 => {
                let p = t.quantization.as_ref();
                match (p.map(|p| p.scales()), p.map(|p| p.zero_points())) {
                    (Some([s, ..]), Some([z, ..])) => *q = Some((*s, i32::try_from(*z).map_err(|_| "zero point")?)),
                    _ => return Err(format!("uint8 input {slot} has no quantization parameters")),
                }
            }
            other => return Err(format!("input {slot} must be FLOAT32 or UINT8, got {other:?}")),
        }
    }
    let p = Params {
        max_detections,
        max_classes_per_detection,
        detections_per_class,
        regular,
        score_threshold: float("nms_score_threshold")?,
        iou_threshold,
        num_classes,
        scales,
        quant,
    };
    Ok(Prepared::new(move |ins, _: &mut EvalCtx| p.eval(ins)))
}

/// A box as (ymin, xmin, ymax, xmax).
type Corners = [f32; 4];

/// The values of input `slot`, dequantized when uint8: `(q - zp) · scale` in float for boxes
/// and anchors, in double for scores (as LiteRT's two dequantizers compute them).
fn floats<'a>(v: &'a Value, q: Option<(f32, i32)>, slot: usize, double: bool) -> KResult<Cow<'a, [f32]>> {
    let n = checked_numel(&v.shape)?;
    if v.values.len() != n {
        return Err(format!("input {slot} has {} values for shape {:?}", v.values.len(), v.shape));
    }
    match (&v.values, q) {
        (Values::F32(x), None) => Ok(Cow::Borrowed(&x[..])),
        (Values::U8(x), Some((s, z))) if double => {
            Ok(x.iter().map(|&a| (f64::from(s) * f64::from(i32::from(a) - z)) as f32).collect())
        }
        (Values::U8(x), Some((s, z))) => Ok(x.iter().map(|&a| (f32::from(a) - z as f32) * s).collect()),
        (other, _) => Err(format!("input {slot} holds {} values, not what its tensor type says", other.type_name())),
    }
}

fn iou(a: &Corners, b: &Corners) -> f32 {
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    if area_a <= 0.0 || area_b <= 0.0 {
        return 0.0;
    }
    let ih = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iw = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ih * iw;
    inter / (area_a + area_b - inter)
}

/// Decreasing by score, NaN last (a stable sort keeps equal scores in index order).
fn by_score(a: f32, b: f32) -> Ordering {
    b.partial_cmp(&a).unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()))
}

impl Params {
    fn eval(&self, ins: &[Option<&Value>]) -> KResult<Vec<Value>> {
        let (b, s, a) = (inp(ins, 0)?, inp(ins, 1)?, inp(ins, 2)?);
        let (n, len) = match b.shape[..] {
            [1, n, len] if len >= 4 => (n, len),
            ref sh => return Err(format!("box encodings must be [1, anchors, 4 or more], got {sh:?}")),
        };
        let cols = match s.shape[..] {
            [1, m, c] if m == n && (c == self.num_classes || c == self.num_classes + 1) => c,
            ref sh => {
                return Err(format!(
                    "class scores must be [1, {n}, {} or {}], got {sh:?}",
                    self.num_classes,
                    self.num_classes + 1
                ))
            }
        };
        if a.shape[..] != [n, 4] {
            return Err(format!("anchors must be [{n}, 4], got {:?}", a.shape));
        }
        let boxes = self.decode(&floats(b, self.quant[0], 0, false)?, len, &floats(a, self.quant[2], 2, false)?)?;
        let scores = floats(s, self.quant[1], 1, true)?;
        // The first class column holds the background when there is one more column than classes.
        let offset = cols - self.num_classes;
        let class_scores = |anchor: usize| &scores[anchor * cols + offset..][..self.num_classes];
        let k = self.max_classes_per_detection;
        let slots = self.max_detections * k;
        let mut out_boxes = vec![0f32; slots * 4];
        let mut out_classes = vec![0f32; slots];
        let mut out_scores = vec![0f32; slots];
        let mut put = |slot: usize, anchor: usize, class: usize, score: f32| {
            out_boxes[slot * 4..slot * 4 + 4].copy_from_slice(&boxes[anchor]);
            out_classes[slot] = class as f32;
            out_scores[slot] = score;
        };
        let found = if self.regular {
            // One NMS per class; the kept boxes are merged by score (earlier classes first on
            // ties) into a list of at most D.
            // It grows with what NMS keeps; D comes from the options and is not reserved.
            let mut kept: Vec<(f32, usize, usize)> = Vec::new();
            let mut column = vec![0f32; n];
            for class in 0..self.num_classes {
                column.iter_mut().enumerate().for_each(|(i, v)| *v = class_scores(i)[class]);
                let selected = self.nms(&boxes, &column, self.detections_per_class);
                let new: Vec<(f32, usize, usize)> = selected.iter().map(|&i| (column[i], i, class)).collect();
                kept = merge(kept, new);
                kept.truncate(self.max_detections);
            }
            for (slot, &(score, anchor, class)) in kept.iter().enumerate() {
                put(slot, anchor, class, score);
            }
            kept.len()
        } else {
            // Each anchor's best min(K, classes) classes; one NMS over its best score.
            let per_anchor = k.min(self.num_classes);
            let mut top = Vec::with_capacity(n * per_anchor);
            let mut best = Vec::with_capacity(n);
            let mut order: Vec<usize> = Vec::with_capacity(self.num_classes);
            for i in 0..n {
                let row = class_scores(i);
                if per_anchor == 1 {
                    top.push(argmax(row));
                } else {
                    order.clear();
                    order.extend(0..row.len());
                    let cmp = |x: &usize, y: &usize| by_score(row[*x], row[*y]).then(x.cmp(y));
                    if per_anchor < order.len() {
                        order.select_nth_unstable_by(per_anchor - 1, cmp);
                    }
                    order[..per_anchor].sort_unstable_by(cmp);
                    top.extend_from_slice(&order[..per_anchor]);
                }
                best.push(row[top[i * per_anchor]]);
            }
            let selected = self.nms(&boxes, &best, self.max_detections);
            for (d, &anchor) in selected.iter().enumerate() {
                for (col, &class) in top[anchor * per_anchor..][..per_anchor].iter().enumerate() {
                    put(d * k + col, anchor, class, class_scores(anchor)[class]);
                }
            }
            selected.len()
        };
        Ok(vec![
            Value::f32(vec![1, slots, 4], out_boxes),
            Value::f32(vec![1, slots], out_classes),
            Value::f32(vec![1, slots], out_scores),
            Value::f32(vec![1], vec![found as f32]),
        ])
    }

    /// Centre-size encodings (ty, tx, th, tw) against anchors (y, x, h, w) to corners, in
    /// double; a box with ymin > ymax or xmin > xmax is an error, as in LiteRT.
    fn decode(&self, enc: &[f32], len: usize, anchors: &[f32]) -> KResult<Vec<Corners>> {
        let [sy, sx, sh, sw] = self.scales;
        let mut out = Vec::with_capacity(anchors.len() / 4);
        for (i, (e, a)) in enc.chunks_exact(len).zip(anchors.chunks_exact(4)).enumerate() {
            let e: [f64; 4] = std::array::from_fn(|j| e[j].into());
            let a: [f64; 4] = std::array::from_fn(|j| a[j].into());
            let yc = (e[0] / sy * a[2] + a[0]) as f32;
            let xc = (e[1] / sx * a[3] + a[1]) as f32;
            let hh = (0.5 * (e[2] / sh).exp() * a[2]) as f32;
            let hw = (0.5 * (e[3] / sw).exp() * a[3]) as f32;
            let b = [yc - hh, xc - hw, yc + hh, xc + hw];
            if b[0] > b[2] || b[1] > b[3] {
                return Err(format!("anchor {i} decodes to an inverted box {b:?} (a negative anchor size?)"));
            }
            out.push(b);
        }
        Ok(out)
    }

    /// Greedy single-class NMS: the boxes scoring at least the threshold, by decreasing score
    /// (stable), each kept unless it overlaps a kept one by more than the IoU threshold; at
    /// most `limit`. Pairwise only against the candidates, and it stops once `limit` are kept.
    fn nms(&self, boxes: &[Corners], scores: &[f32], limit: usize) -> Vec<usize> {
        let mut cand: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] >= self.score_threshold).collect();
        cand.sort_by(|&x, &y| by_score(scores[x], scores[y]));
        let limit = limit.min(cand.len());
        let mut active = vec![true; cand.len()];
        let mut left = cand.len();
        let mut selected = Vec::with_capacity(limit);
        for i in 0..cand.len() {
            if left == 0 || selected.len() >= limit {
                break;
            }
            if !active[i] {
                continue;
            }
            selected.push(cand[i]);
            active[i] = false;
            left -= 1;
            let bi = &boxes[cand[i]];
            for j in i + 1..cand.len() {
                if active[j] && iou(bi, &boxes[cand[j]]) > self.iou_threshold {
                    active[j] = false;
                    left -= 1;
                }
            }
        }
        selected
    }
}

/// The first maximum, NaN skipped (index 0 when all are NaN), as LiteRT's ArgMaxVector.
fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate().skip(1) {
        if !x.is_nan() && (v[best].is_nan() || x > v[best]) {
            best = i;
        }
    }
    best
}

/// Merges two lists sorted by decreasing score; on equal scores `a`'s entries come first.
fn merge(a: Vec<(f32, usize, usize)>, b: Vec<(f32, usize, usize)>) -> Vec<(f32, usize, usize)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if b[j].0 > a[i].0 {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}
