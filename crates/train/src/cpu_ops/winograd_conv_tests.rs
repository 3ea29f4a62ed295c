//! winograd_conv's tests: each layer's layouts against the channel-major ones.

use super::super::winograd_blocked::tests::values;
use super::*;

/// Whatever layouts a layer gets, its outputs and weight gradient are the
/// channel-major layouts' bit for bit, so a trial's numbers do not depend on
/// them. Small layers (cin x cout <= 256) are where gemm sums differently with
/// tile-major operands: there the layouts stay channel-major.
#[test]
fn every_layout_gives_the_channel_major_numbers_bit_for_bit() {
    let channel_major = Layouts {
        input: false,
        output: false,
    };
    for (cin, cout, side) in [
        (8, 16, 16),
        (16, 16, 8),
        (16, 32, 9),
        (32, 32, 12),
        (64, 16, 6),
    ] {
        let g = Geom::new((3, cin, side, side), (cout, 3, 3), 1).expect("a geometry");
        let (w, inp) = (values(cout * cin * 9, 1), values(g.batch * g.in_len(), 2));
        let dout = values(g.batch * g.out_len(), 3);
        let k = |o: usize, c: usize| std::array::from_fn(|i| w[(o * cin + c) * 9 + i]);
        type Direct = fn(usize, &mut [f32], &mut [f32]);
        let run = |lay: Layouts| {
            let u = kernels_in(&g, k, lay);
            let mut out = vec![0.0; g.batch * g.out_len()];
            forward_in(&g, (&inp, &u), &mut out, None::<&Direct>, lay);
            (out, weight_grad_in(&g, &inp, &dout, lay))
        };
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let (ours, theirs) = (run(Layouts::new(&g)), run(channel_major));
        assert!(
            bits(&ours.0) == bits(&theirs.0),
            "forward {cin}->{cout} at {side}px"
        );
        assert!(
            bits(&ours.1) == bits(&theirs.1),
            "weight gradient {cin}->{cout} at {side}px"
        );
    }
    let g = Geom::new((1, 32, 8, 8), (32, 3, 3), 1).expect("a geometry");
    assert_ne!(
        Layouts::new(&g),
        channel_major,
        "the blocked layouts are tested at all"
    );
}
