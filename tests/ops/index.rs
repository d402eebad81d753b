//! Slicing, gathering and padding: agreement cases (src/ops/index.rs).

use super::*;

fn ss(b: i32, e: i32, sh: i32, el: i32, na: i32) -> Opt {
    Opt::StridedSliceOptions(Box::new(fb::StridedSliceOptionsT {
        begin_mask: b,
        end_mask: e,
        shrink_axis_mask: sh,
        ellipsis_mask: el,
        new_axis_mask: na,
        offset: false,
    }))
}

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case("pad", B::PAD, Opt::NONE, vec![x(&S), ci2(&[4, 2], &[0, 0, 1, 2, 0, 1, 3, 0])], &[1, 9, 6, 7]),
        case(
            "padv2",
            B::PADV2,
            Opt::NONE,
            vec![x(&S), ci2(&[4, 2], &[0, 0, 2, 0, 1, 1, 0, 2]), Some((vec![], Data::F32(vec![-7.5])))],
            &[1, 8, 7, 6],
        ),
        case(
            "mirror_pad_reflect",
            B::MIRROR_PAD,
            Opt::MirrorPadOptions(Box::new(fb::MirrorPadOptionsT { mode: fb::MirrorPadMode::REFLECT })),
            vec![x(&S), ci2(&[4, 2], &[0, 0, 2, 1, 1, 3, 0, 0])],
            &[1, 9, 9, 4],
        ),
        case(
            "mirror_pad_symmetric",
            B::MIRROR_PAD,
            Opt::MirrorPadOptions(Box::new(fb::MirrorPadOptionsT { mode: fb::MirrorPadMode::SYMMETRIC })),
            vec![x(&S), ci2(&[4, 2], &[0, 0, 3, 1, 2, 5, 1, 0])],
            &[1, 10, 12, 5],
        ),
        case("slice", B::SLICE, Opt::NONE, vec![x(&S), ci(&[0, 1, 2, 0]), ci(&[1, 4, -1, 3])], &[1, 4, 3, 3]),
        case(
            "strided_slice_masks",
            B::STRIDED_SLICE,
            ss(0b0010, 0b0100, 0b0001, 0, 0),
            vec![x(&S), ci(&[0, 4, 1, 3]), ci(&[1, 0, 5, -5]), ci(&[1, -2, 2, -1])],
            &[3, 2, 3],
        ),
        case(
            "strided_slice_ellipsis_newaxis",
            B::STRIDED_SLICE,
            ss(0, 0, 0, 0b01, 0b10),
            vec![x(&S), ci(&[0, 0, 1]), ci(&[0, 0, 3]), ci(&[1, 1, 1])],
            &[1, 6, 5, 1, 2],
        ),
        case(
            "dynamic_update_slice",
            B::DYNAMIC_UPDATE_SLICE,
            Opt::NONE,
            vec![x(&S), cf(&[1, 2, 3, 4], 3), ci(&[0, 1, 4, -2])],
            &S,
        ),
        case(
            "gather",
            B::GATHER,
            Opt::GatherOptions(Box::new(fb::GatherOptionsT { axis: 1, batch_dims: 0 })),
            vec![x(&S), ci2(&[2, 3], &[5, 0, 2, 2, 1, 4])],
            &[1, 2, 3, 5, 4],
        ),
    ]
}
