//! Convolutions: agreement cases (src/ops/conv.rs).

use super::*;

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case(
            "conv_dilated_valid",
            B::CONV_2D,
            conv(Padding::VALID, 1, 2, Act::NONE),
            vec![x(&[1, 9, 8, 3]), cf(&[5, 3, 3, 3], 4), cf(&[5], 5)],
            &[1, 5, 4, 5],
        ),
        case(
            "conv_stride2_same_relu6",
            B::CONV_2D,
            conv(Padding::SAME, 2, 1, Act::RELU6),
            vec![x(&[1, 9, 8, 3]), cf(&[6, 3, 2, 3], 6), cf(&[6], 14)],
            &[1, 5, 4, 6],
        ),
        case(
            "depthwise_mult2_stride2",
            B::DEPTHWISE_CONV_2D,
            Opt::DepthwiseConv2DOptions(Box::new(fb::DepthwiseConv2DOptionsT {
                padding: Padding::SAME,
                stride_w: 2,
                stride_h: 2,
                depth_multiplier: 2,
                fused_activation_function: Act::RELU,
                dilation_w_factor: 1,
                dilation_h_factor: 1,
            })),
            vec![x(&[1, 9, 8, 3]), cf(&[1, 3, 3, 6], 7), cf(&[6], 8)],
            &[1, 5, 4, 6],
        ),
        case(
            "depthwise_dilated_wide",
            B::DEPTHWISE_CONV_2D,
            Opt::DepthwiseConv2DOptions(Box::new(fb::DepthwiseConv2DOptionsT {
                padding: Padding::SAME,
                stride_w: 1,
                stride_h: 1,
                depth_multiplier: 1,
                fused_activation_function: Act::NONE,
                dilation_w_factor: 2,
                dilation_h_factor: 2,
            })),
            vec![x(&[1, 7, 6, 37]), cf(&[1, 3, 3, 37], 10), cf(&[37], 15)],
            &[1, 7, 6, 37],
        ),
        case(
            "transpose_conv_stride2_valid",
            B::TRANSPOSE_CONV,
            Opt::TransposeConvOptions(Box::new(fb::TransposeConvOptionsT {
                padding: Padding::VALID,
                stride_w: 2,
                stride_h: 2,
                ..Default::default()
            })),
            vec![ci(&[1, 13, 11, 3]), cf(&[3, 3, 3, 4], 12), x(&S), cf(&[3], 13)],
            &[1, 13, 11, 3],
        ),
        // 12 output channels: 8 in vector lanes, 4 in the scalar tail of the requantization, and
        // enough outputs for negative ties, where the two roundings differ.
        case(
            "transpose_conv_same_wide",
            B::TRANSPOSE_CONV,
            transpose_conv(Padding::SAME, 2, 2, Act::NONE),
            vec![ci(&[1, 32, 40, 12]), cf(&[12, 3, 3, 6], 16), x(&[1, 16, 20, 6]), cf(&[12], 17)],
            &[1, 32, 40, 12],
        ),
        // A positive input: its zero point is far from 0.
        case(
            "transpose_conv_offset_input",
            B::TRANSPOSE_CONV,
            transpose_conv(Padding::SAME, 2, 2, Act::NONE),
            vec![ci(&[1, 24, 23, 9]), cf(&[9, 3, 3, 5], 23), pos(&[1, 12, 12, 5]), cf(&[9], 24)],
            &[1, 24, 23, 9],
        ),
        case(
            "transpose_conv_no_bias_batch2",
            B::TRANSPOSE_CONV,
            transpose_conv(Padding::VALID, 1, 1, Act::NONE),
            vec![ci(&[2, 6, 6, 9]), cf(&[9, 2, 3, 3], 18), x(&[2, 5, 4, 3])],
            &[2, 6, 6, 9],
        ),
        case(
            "transpose_conv_relu6_stride1x2",
            B::TRANSPOSE_CONV,
            transpose_conv(Padding::SAME, 1, 2, Act::RELU6),
            vec![ci(&[1, 5, 6, 16]), cf(&[16, 3, 2, 4], 19), x(&[1, 5, 3, 4]), cf(&[16], 20)],
            &[1, 5, 6, 16],
        ),
    ]
}

fn transpose_conv(padding: Padding, stride_h: i32, stride_w: i32, act: Act) -> Opt {
    Opt::TransposeConvOptions(Box::new(fb::TransposeConvOptionsT {
        padding,
        stride_h,
        stride_w,
        fused_activation_function: act,
        ..Default::default()
    }))
}
