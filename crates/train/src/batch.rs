//! Batches from the pixel cache: uint8 HWC to normalised f32 NCHW, with the
//! augmentation (horizontal flip, random translation) done while copying.

use candle_core::{Device, Result, Tensor};

use crate::rng::Rng;

/// How one image is augmented: flipped or not, shifted by (dx, dy) pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Jitter {
    pub flip: bool,
    pub dx: i32,
    pub dy: i32,
}

impl Jitter {
    pub fn draw(rng: &mut Rng, flip: bool, crop: u32) -> Self {
        let shift = |rng: &mut Rng| {
            if crop == 0 {
                0
            } else {
                rng.below(2 * crop as usize + 1) as i32 - crop as i32
            }
        };
        Jitter {
            flip: flip && rng.uniform() < 0.5,
            dx: shift(rng),
            dy: shift(rng),
        }
    }
}

/// Writes image `src` (side x side x 3, HWC) into `dst` (3 x side x side, CHW) with
/// `jitter`; pixels shifted in from outside are zero (mid-grey after normalisation).
fn copy_chw(src: &[u8], side: usize, jitter: Jitter, dst: &mut [f32]) {
    let plane = side * side;
    for y in 0..side {
        let sy = y as i32 - jitter.dy;
        for x in 0..side {
            let mut sx = x as i32 - jitter.dx;
            if jitter.flip {
                sx = side as i32 - 1 - sx;
            }
            let inside = sy >= 0 && sy < side as i32 && sx >= 0 && sx < side as i32;
            for c in 0..3 {
                dst[c * plane + y * side + x] = if inside {
                    // Scaled to [-1, 1]: the nets use BatchNorm or Kaiming init, both expect centred input.
                    f32::from(src[(sy as usize * side + sx as usize) * 3 + c]) / 127.5 - 1.0
                } else {
                    0.0
                };
            }
        }
    }
}

/// A (B, 3, side, side) f32 tensor of the given images.
pub fn images(
    images: &[&[u8]],
    side: usize,
    jitters: Option<&[Jitter]>,
    device: &Device,
) -> Result<Tensor> {
    let per = 3 * side * side;
    let mut buf = vec![0f32; images.len() * per];
    for (i, (img, dst)) in images.iter().zip(buf.chunks_mut(per)).enumerate() {
        let j = jitters.map_or(Jitter::default(), |j| j[i]);
        copy_chw(img, side, j, dst);
    }
    Tensor::from_vec(buf, (images.len(), 3, side, side), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(side: usize) -> Vec<u8> {
        (0..side * side * 3).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn identity_copy_and_flip() {
        let side = 5;
        let src = image(side);
        let mut plain = vec![0f32; 3 * side * side];
        copy_chw(&src, side, Jitter::default(), &mut plain);
        assert_eq!(
            plain[side * side + 2 * side + 3],
            f32::from(src[(2 * side + 3) * 3 + 1]) / 127.5 - 1.0
        );
        let mut flipped = vec![0f32; 3 * side * side];
        copy_chw(
            &src,
            side,
            Jitter {
                flip: true,
                dx: 0,
                dy: 0,
            },
            &mut flipped,
        );
        for y in 0..side {
            for x in 0..side {
                assert_eq!(flipped[y * side + x], plain[y * side + side - 1 - x]);
            }
        }
    }

    #[test]
    fn shifts_fill_with_zero() {
        let side = 4;
        let src = image(side);
        let mut out = vec![1f32; 3 * side * side];
        copy_chw(
            &src,
            side,
            Jitter {
                flip: false,
                dx: 1,
                dy: 0,
            },
            &mut out,
        );
        assert_eq!(out[0], 0.0, "column 0 came from outside");
        assert_eq!(out[1], f32::from(src[0]) / 127.5 - 1.0);
    }

    #[test]
    fn jitter_stays_in_bounds() {
        let mut rng = Rng::new(3);
        for _ in 0..1000 {
            let j = Jitter::draw(&mut rng, true, 3);
            assert!(j.dx.abs() <= 3 && j.dy.abs() <= 3);
        }
        assert_eq!(Jitter::draw(&mut rng, false, 0), Jitter::default());
    }
}
