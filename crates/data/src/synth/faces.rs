//! The synthetic face dataset: label lookup, face geometry from traits and
//! age, and the order in which the parts of a face are painted.

use super::canvas::{self, Canvas};
use super::rng::{Rng, lerp, smoothstep, stream};
use super::traits::{self, AgeShape, FaceLabel, Gender, Identity, Shot};
use super::{ageing, hair, occluders, parts};

/// A deterministic set of `identities * images_per_identity` face images.
///
/// Identity traits depend only on `(seed, identity)` and image variation on
/// `(seed, identity, image-within-identity)`, so a larger set with the same
/// seed and `images_per_identity` extends a smaller one image for image.
#[derive(Debug, Clone)]
pub struct SyntheticFaces {
    identities: u32,
    images_per_identity: u32,
    seed: u64,
}

impl SyntheticFaces {
    /// A set of `identities` people with `images_per_identity` images each.
    pub fn new(identities: u32, images_per_identity: u32, seed: u64) -> Self {
        Self {
            identities,
            images_per_identity,
            seed,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        (u64::from(self.identities) * u64::from(self.images_per_identity)) as usize
    }

    /// Whether the set has no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Labels of image `index` (identity-major: image i belongs to identity
    /// `i / images_per_identity`).
    ///
    /// # Panics
    /// If `index >= self.len()`.
    pub fn label(&self, index: usize) -> FaceLabel {
        let (id, _, who, shot) = self.person(index);
        FaceLabel {
            identity: id,
            age: shot.age,
            gender: who.gender,
        }
    }

    /// Image `index` rendered at `size x size` (any size from 16 to 256
    /// works; larger too), RGB8 row-major HWC, `len = size * size * 3`.
    ///
    /// # Panics
    /// If `index >= self.len()` or `size == 0`.
    pub fn render(&self, index: usize, size: u32) -> Vec<u8> {
        let (id, j, who, shot) = self.person(index);
        render_face(self.seed, id, j, &who, &shot, size)
    }

    fn person(&self, index: usize) -> (u32, u32, Identity, Shot) {
        assert!(
            index < self.len(),
            "face index {index} out of range for {} images",
            self.len()
        );
        let per = self.images_per_identity as usize;
        let id = (index / per) as u32;
        let j = (index % per) as u32;
        let who = traits::identity(self.seed, id);
        let shot = traits::shot(self.seed, id, j, &who);
        (id, j, who, shot)
    }

    /// Per-image traits for tests: the identity and shot behind `index`.
    #[cfg(test)]
    pub(crate) fn traits(&self, index: usize) -> (Identity, Shot) {
        let (_, _, who, shot) = self.person(index);
        (who, shot)
    }
}

/// Where the parts of one face go, in unit-square drawing coordinates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geom {
    pub(crate) cx: f32,
    pub(crate) cy: f32,
    pub(crate) rx: f32,
    pub(crate) ry: f32,
    /// Jaw corner half-width and height, as fractions of `rx` and `ry`.
    pub(crate) jaw_w: f32,
    pub(crate) jaw_y: f32,
    pub(crate) chin_w: f32,
    /// Horizontal offset of inner features: a cheap stand-in for head yaw.
    pub(crate) fx: f32,
    pub(crate) eye_y: f32,
    pub(crate) eye_dx: f32,
    pub(crate) eye_w: f32,
    pub(crate) eye_h: f32,
    pub(crate) brow_y: f32,
    pub(crate) nose_y: f32,
    pub(crate) nose_w: f32,
    pub(crate) mouth_y: f32,
    pub(crate) mouth_w: f32,
    pub(crate) lip_up: f32,
    pub(crate) lip_low: f32,
    pub(crate) hairline_y: f32,
}

pub(crate) fn geometry(who: &Identity, shot: &Shot, a: &AgeShape) -> Geom {
    let g = a.growth;
    let male = if who.gender == Gender::Male {
        a.dimorph
    } else {
        0.0
    };
    let female = if who.gender == Gender::Female {
        a.dimorph
    } else {
        0.0
    };
    let rx = who.face_width * lerp(1.04, 1.0, g) * (1.0 + 0.04 * male);
    // Children's faces are round; adult length comes with growth, and old
    // faces sag a little further.
    let ratio = lerp(1.06, who.face_ratio + 0.04 * male, g) + 0.04 * a.old;
    let ry = rx * ratio;
    let cx = 0.5;
    let cy = 0.47 - 0.02 * g;
    // Adult faces fill out through middle age, then sag.
    let fuller = 0.05 * smoothstep(20.0, 55.0, f32::from(shot.age));
    let jaw_w =
        lerp(0.8, 0.74 + 0.05 * who.jaw, g) + 0.15 * male - 0.04 * female + fuller + 0.03 * a.old;
    let chin_w = lerp(0.42, 0.28 + 0.06 * who.jaw, g) + 0.2 * male - 0.06 * female;
    let fx = shot.yaw * rx * 0.12;
    // Children's features sit low under a large cranium.
    let eye_y = cy + ry * lerp(0.17, -0.03, g);
    let eye_w = rx * 0.17 * who.eye_size * lerp(1.3, 1.0, g) * (1.0 - 0.1 * a.old);
    let eye_h = eye_w * 0.56 * shot.eye_open * lerp(1.15, 1.0, g) * (1.0 - 0.12 * a.old);
    let nose_len = ry * lerp(0.24, 0.36, g) * who.nose_length;
    let nose_y = eye_y + nose_len;
    let mouth_y = nose_y + ry * lerp(0.17, 0.2, g) + 0.02 * ry * a.old;
    let lips = rx * 0.055 * who.lip_thickness * (1.0 - 0.45 * a.old) * (1.0 + 0.15 * female);
    let hairline_y = cy - ry * lerp(0.5, 0.56, g) - ry * 0.38 * a.recession;
    Geom {
        cx,
        cy,
        rx,
        ry,
        jaw_w,
        jaw_y: lerp(0.62, 0.55, g),
        chin_w,
        fx,
        eye_y,
        eye_dx: rx * who.eye_spacing,
        eye_w,
        eye_h,
        brow_y: eye_y - eye_h * 1.1 - ry * 0.09,
        nose_y,
        nose_w: rx * 0.2 * who.nose_width * lerp(0.7, 1.0, g),
        mouth_y,
        mouth_w: rx * 0.4 * who.mouth_width * lerp(0.75, 1.0, g),
        lip_up: lips,
        lip_low: lips * 1.35,
        hairline_y,
    }
}

/// Paints one face. Drawing order matters: back hair behind the head, skin
/// marks under the beard, features over the beard, hair cap last.
pub(crate) fn render_face(
    seed: u64,
    id: u32,
    j: u32,
    who: &Identity,
    shot: &Shot,
    size: u32,
) -> Vec<u8> {
    let stream_of = |tag: u64| Rng::from_words(&[seed, tag, u64::from(id), u64::from(j)]);
    let a = traits::age_shape(who, shot.age);
    let geom = geometry(who, shot, &a);

    let mut c = Canvas::new(size);
    canvas::background(
        &mut c,
        &mut stream_of(stream::BACKGROUND),
        Some(canvas::luma(who.skin)),
    );
    c.transform = Canvas::posed(size, shot.roll_deg, shot.zoom, shot.shift.0, shot.shift.1);

    parts::shoulders(&mut c, who, shot, &geom, &a);
    hair::back(&mut c, who, &a, shot, &geom);
    parts::neck(&mut c, who, &geom, &a);
    parts::head(&mut c, who, shot, &geom, &a);
    ageing::marks(&mut c, who, shot, &geom, &a);
    hair::facial(&mut c, who, shot, &geom, &a);
    parts::nose(&mut c, who, &geom, &a);
    parts::mouth(&mut c, who, shot, &geom, &a);
    parts::eyes(&mut c, who, shot, &geom, &a);
    parts::brows(&mut c, who, &geom, &a);
    hair::cap(&mut c, who, &a, &geom, shot.age);

    occluders::maybe_occlude(&mut c, &mut stream_of(stream::OCCLUDER), &geom);
    canvas::lighting(&mut c, &mut stream_of(stream::LIGHT));
    c.finish(shot.gain, shot.noise, &mut stream_of(stream::NOISE))
}
