//! Non-max suppression: NON_MAX_SUPPRESSION_V4 (hard) and NON_MAX_SUPPRESSION_V5 (soft, with
//! the selected scores), as TF's image ops define them.

use super::util::{checked_numel, f32s, inp, scalar_int};
use super::{KResult, OpDef, Prepared};
use crate::ir::{Value, Values};
use crate::schema::BuiltinOperator as B;
use std::collections::BinaryHeap;

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    for (op, soft) in [(B::NON_MAX_SUPPRESSION_V4, false), (B::NON_MAX_SUPPRESSION_V5, true)] {
        add(OpDef::builtin(op).kernel(move |_| Ok(Prepared::new(move |ins, _| nms(ins, soft)))));
    }
}

fn scalar_f32(v: &Value, what: &str) -> KResult<f32> {
    match f32s(v, what)? {
        [x] => Ok(*x),
        _ => Err(format!("{what} must be one value")),
    }
}

/// Intersection over union of two boxes given as corners in either order; 0 when either is empty.
fn iou(a: &[f32], b: &[f32]) -> f32 {
    let span = |p: f32, q: f32| (p.min(q), p.max(q));
    let ((ay0, ay1), (ax0, ax1)) = (span(a[0], a[2]), span(a[1], a[3]));
    let ((by0, by1), (bx0, bx1)) = (span(b[0], b[2]), span(b[1], b[3]));
    let (area_a, area_b) = ((ay1 - ay0) * (ax1 - ax0), (by1 - by0) * (bx1 - bx0));
    if area_a <= 0.0 || area_b <= 0.0 {
        return 0.0;
    }
    let inter = (ay1.min(by1) - ay0.max(by0)).max(0.0) * (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
    inter / (area_a + area_b - inter)
}

/// A box waiting to be picked; the heap takes the highest score, then the lowest index.
#[derive(Clone, Copy, PartialEq)]
struct Candidate {
    score: f32,
    index: usize,
    /// Selected boxes before this position were already compared with this one.
    checked: usize,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.score.total_cmp(&o.score).then(o.index.cmp(&self.index))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Greedy selection by score: a box is dropped when its IoU with a selected one reaches the
/// threshold; with sigma > 0, overlaps also decay its score by exp(−0.5·iou²/sigma), and it
/// goes back in line while it stays above the score threshold.
fn nms(ins: &[Option<&Value>], soft: bool) -> KResult<Vec<Value>> {
    let boxes_v = inp(ins, 0)?;
    let boxes = f32s(boxes_v, "boxes")?;
    let n = match boxes_v.shape[..] {
        [n, 4] => n,
        _ => return Err(format!("boxes must be [N, 4], got {:?}", boxes_v.shape)),
    };
    let scores = f32s(inp(ins, 1)?, "scores")?;
    if scores.len() != n {
        return Err(format!("{} scores for {n} boxes", scores.len()));
    }
    let max_out = usize::try_from(scalar_int(inp(ins, 2)?)?).map_err(|_| "max_output_size is negative".to_string())?;
    checked_numel(&[max_out])?;
    let iou_threshold = scalar_f32(inp(ins, 3)?, "iou_threshold")?;
    let score_threshold = scalar_f32(inp(ins, 4)?, "score_threshold")?;
    let sigma = if soft { scalar_f32(inp(ins, 5)?, "soft_nms_sigma")? } else { 0.0 };
    if sigma < 0.0 {
        return Err(format!("soft_nms_sigma {sigma} is negative"));
    }
    let scale = if sigma > 0.0 { -0.5 / sigma } else { 0.0 };
    let mut heap: BinaryHeap<Candidate> = (0..n)
        .filter(|&i| scores[i] > score_threshold)
        .map(|i| Candidate { score: scores[i], index: i, checked: 0 })
        .collect();
    let wanted = heap.len().min(max_out);
    let (mut picked, mut picked_scores) = (Vec::with_capacity(wanted), Vec::with_capacity(wanted));
    while picked.len() < wanted {
        let Some(mut c) = heap.pop() else { break };
        let original = c.score;
        let mut suppressed = false;
        for j in (c.checked..picked.len()).rev() {
            let o = iou(&boxes[c.index * 4..c.index * 4 + 4], &boxes[picked[j] * 4..picked[j] * 4 + 4]);
            if o >= iou_threshold {
                suppressed = true;
                break;
            }
            if sigma > 0.0 {
                c.score *= (scale * o * o).exp();
            }
            if c.score <= score_threshold {
                break;
            }
        }
        c.checked = picked.len();
        if suppressed {
            continue;
        }
        if c.score == original {
            picked.push(c.index);
            picked_scores.push(c.score);
        }
        // A picked box goes back too, as in the runtime: it normally meets itself next time
        // and is dropped, but a box of zero area (IoU 0 with itself) is picked again.
        if c.score > score_threshold {
            heap.push(c);
        }
    }
    let count = picked.len();
    let mut indices: Vec<i32> = picked.iter().map(|&i| i as i32).collect();
    indices.resize(max_out, 0);
    picked_scores.resize(max_out, 0.0);
    let mut out = vec![Value::new(vec![max_out], Values::I32(indices.into()))];
    if soft {
        out.push(Value::f32(vec![max_out], picked_scores));
    }
    out.push(Value::new(vec![], Values::I32(vec![count as i32].into())));
    Ok(out)
}
