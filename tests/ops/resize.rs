//! Resizing: agreement cases (src/ops/resize.rs).

use super::*;

fn rb(a: bool, h: bool) -> Opt {
    Opt::ResizeBilinearOptions(Box::new(fb::ResizeBilinearOptionsT { align_corners: a, half_pixel_centers: h }))
}

fn rn(a: bool, h: bool) -> Opt {
    Opt::ResizeNearestNeighborOptions(Box::new(fb::ResizeNearestNeighborOptionsT {
        align_corners: a,
        half_pixel_centers: h,
    }))
}

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case("resize_bilinear", B::RESIZE_BILINEAR, rb(false, false), vec![x(&S), ci(&[9, 7])], &[1, 9, 7, 4]),
        case("resize_bilinear_align", B::RESIZE_BILINEAR, rb(true, false), vec![x(&S), ci(&[9, 7])], &[1, 9, 7, 4]),
        case("resize_bilinear_half", B::RESIZE_BILINEAR, rb(false, true), vec![x(&S), ci(&[4, 11])], &[1, 4, 11, 4]),
        case("resize_bilinear_down", B::RESIZE_BILINEAR, rb(false, false), vec![x(&S), ci(&[4, 3])], &[1, 4, 3, 4]),
        case("resize_bilinear_half_down", B::RESIZE_BILINEAR, rb(false, true), vec![x(&S), ci(&[3, 2])], &[1, 3, 2, 4]),
        case(
            "resize_bilinear_align_wide",
            B::RESIZE_BILINEAR,
            rb(true, false),
            vec![x(&[2, 3, 4, 3]), ci(&[7, 10])],
            &[2, 7, 10, 3],
        ),
        case("resize_nearest", B::RESIZE_NEAREST_NEIGHBOR, rn(false, false), vec![x(&S), ci(&[11, 3])], &[1, 11, 3, 4]),
        case(
            "resize_nearest_align",
            B::RESIZE_NEAREST_NEIGHBOR,
            rn(true, false),
            vec![x(&S), ci(&[11, 3])],
            &[1, 11, 3, 4],
        ),
        case(
            "resize_nearest_half",
            B::RESIZE_NEAREST_NEIGHBOR,
            rn(false, true),
            vec![x(&S), ci(&[11, 3])],
            &[1, 11, 3, 4],
        ),
    ]
}
