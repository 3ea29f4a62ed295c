//! What a synthetic person is: fixed identity traits, the per-image state
//! (age, expression, pose) and the age/gender curves that turn both into
//! the numbers the face renderer draws.
//!
//! Keeping sampling separate from drawing lets tests check the label logic
//! (e.g. "no beard on women or children") without inspecting pixels.

use super::canvas::{Rgb, mix};
use super::rng::{Rng, lerp, smoothstep, stream};

/// Binary gender label, encoded as 0 = male, 1 = female like UTKFace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    /// Encoded as 0.
    Male,
    /// Encoded as 1.
    Female,
}

impl Gender {
    /// The numeric class used by label files: 0 = male, 1 = female.
    pub const fn code(self) -> u8 {
        match self {
            Gender::Male => 0,
            Gender::Female => 1,
        }
    }
}

/// Labels of one synthetic face image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceLabel {
    /// The person shown, shared by all images of that person.
    pub identity: u32,
    /// Age in years drawn in this image, `0..=90`.
    pub age: u8,
    /// The person's gender.
    pub gender: Gender,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HairStyle {
    Buzz,
    Short,
    SidePart,
    Curly,
    Bob,
    Long,
    Bun,
    Ponytail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FacialHair {
    Stubble,
    Moustache,
    Goatee,
    FullBeard,
}

/// Traits fixed for a person across all of their images.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) gender: Gender,
    pub(crate) base_age: u8,
    pub(crate) skin: Rgb,
    /// Adult face height / width.
    pub(crate) face_ratio: f32,
    pub(crate) face_width: f32,
    /// Individual jaw squareness in `[-1, 1]`, added to the gender effect.
    pub(crate) jaw: f32,
    pub(crate) eye_spacing: f32,
    pub(crate) eye_size: f32,
    pub(crate) eye_colour: Rgb,
    pub(crate) brow_arch: f32,
    pub(crate) brow_weight: f32,
    pub(crate) hair_colour: Rgb,
    pub(crate) hair_style: HairStyle,
    pub(crate) fringe: bool,
    pub(crate) hair_volume: f32,
    pub(crate) grey_onset: f32,
    /// Propensity to go bald, only expressed in men.
    pub(crate) recede: f32,
    /// Multiplies age for wrinkles and spots: some people age faster.
    pub(crate) ageing_rate: f32,
    pub(crate) nose_width: f32,
    pub(crate) nose_length: f32,
    pub(crate) mouth_width: f32,
    pub(crate) lip_thickness: f32,
    pub(crate) lipstick: bool,
    /// Expressed only from age 16 on, and never for women.
    pub(crate) facial_hair: Option<FacialHair>,
    pub(crate) ear_size: f32,
    /// Worn from age 12 on, mostly by women.
    pub(crate) earrings: Option<Rgb>,
    pub(crate) mole: Option<(f32, f32)>,
    pub(crate) marks_seed: u64,
}

/// Everything that varies between images of one person.
#[derive(Debug, Clone)]
pub(crate) struct Shot {
    pub(crate) age: u8,
    pub(crate) smile: f32,
    pub(crate) eye_open: f32,
    pub(crate) gaze: f32,
    pub(crate) yaw: f32,
    pub(crate) roll_deg: f32,
    pub(crate) zoom: f32,
    pub(crate) shift: (f32, f32),
    pub(crate) clothes: Rgb,
    pub(crate) gain: Rgb,
    pub(crate) noise: f32,
    /// `Some` only for adult men with a facial-hair trait.
    pub(crate) facial_hair: Option<(FacialHair, f32)>,
}

const SKIN_TONES: [Rgb; 6] = [
    [0.98, 0.85, 0.75],
    [0.94, 0.76, 0.62],
    [0.84, 0.64, 0.48],
    [0.70, 0.50, 0.36],
    [0.52, 0.36, 0.25],
    [0.36, 0.24, 0.17],
];

const HAIR_COLOURS: [Rgb; 6] = [
    [0.08, 0.06, 0.05],
    [0.24, 0.15, 0.09],
    [0.42, 0.27, 0.15],
    [0.62, 0.45, 0.26],
    [0.88, 0.74, 0.45],
    [0.62, 0.26, 0.10],
];

const EYE_COLOURS: [Rgb; 5] = [
    [0.25, 0.14, 0.07],
    [0.40, 0.25, 0.12],
    [0.22, 0.42, 0.68],
    [0.30, 0.48, 0.30],
    [0.45, 0.45, 0.48],
];

pub(crate) fn identity(seed: u64, id: u32) -> Identity {
    let mut r = Rng::from_words(&[seed, stream::IDENTITY, u64::from(id)]);
    let gender = if r.chance(0.5) {
        Gender::Male
    } else {
        Gender::Female
    };
    let male = gender == Gender::Male;
    // Mildly adult-skewed: a quarter of people are drawn from working ages.
    let base_age = if r.chance(0.25) {
        r.range(18.0, 60.0)
    } else {
        r.range(0.0, 91.0)
    };
    let tone = r.range(0.0, (SKIN_TONES.len() - 1) as f32);
    let (ti, tf) = (tone.floor() as usize, tone.fract());
    let skin = mix(
        SKIN_TONES[ti],
        SKIN_TONES[(ti + 1).min(SKIN_TONES.len() - 1)],
        tf,
    );
    // Darker skin goes mostly with dark hair and eyes, as in most populations.
    let dark = tone / (SKIN_TONES.len() - 1) as f32;
    let hair_colour = HAIR_COLOURS[r.weighted(&[
        1.0 + 3.0 * dark,
        1.5 + dark,
        1.5,
        1.0 - 0.8 * dark,
        0.8 - 0.75 * dark,
        0.4 - 0.35 * dark,
    ])];
    let eye_colour = EYE_COLOURS[r.weighted(&[
        1.5 + 2.0 * dark,
        1.5,
        1.0 - 0.9 * dark,
        0.7 - 0.6 * dark,
        0.4 - 0.3 * dark,
    ])];
    let hair_style = if male {
        [
            HairStyle::Buzz,
            HairStyle::Short,
            HairStyle::SidePart,
            HairStyle::Curly,
            HairStyle::Bob,
            HairStyle::Long,
        ][r.weighted(&[0.2, 0.35, 0.25, 0.12, 0.03, 0.05])]
    } else {
        [
            HairStyle::Long,
            HairStyle::Bob,
            HairStyle::Bun,
            HairStyle::Ponytail,
            HairStyle::Curly,
            HairStyle::Short,
            HairStyle::SidePart,
        ][r.weighted(&[0.36, 0.2, 0.12, 0.12, 0.12, 0.05, 0.03])]
    };
    let facial_hair = (male && r.chance(0.45)).then(|| {
        [
            FacialHair::Stubble,
            FacialHair::Moustache,
            FacialHair::Goatee,
            FacialHair::FullBeard,
        ][r.weighted(&[0.35, 0.2, 0.15, 0.3])]
    });
    Identity {
        gender,
        base_age: base_age.min(90.0) as u8,
        skin,
        face_ratio: r.normal_clipped(1.32, 0.05, 2.5),
        face_width: r.normal_clipped(0.295, 0.012, 2.5),
        jaw: r.range(-1.0, 1.0),
        eye_spacing: r.normal_clipped(0.42, 0.03, 2.5),
        eye_size: r.normal_clipped(1.0, 0.09, 2.5),
        eye_colour,
        brow_arch: r.range(0.0, 1.0),
        brow_weight: r.normal_clipped(1.0, 0.2, 2.0),
        hair_colour,
        hair_style,
        fringe: r.chance(if male { 0.2 } else { 0.35 }),
        hair_volume: r.range(0.98, 1.1),
        grey_onset: r.normal_clipped(42.0, 7.0, 2.5),
        recede: if male { r.range(0.0, 1.0) } else { 0.0 },
        ageing_rate: r.normal_clipped(1.0, 0.1, 2.5),
        nose_width: r.normal_clipped(1.0, 0.15, 2.5),
        nose_length: r.normal_clipped(1.0, 0.1, 2.5),
        mouth_width: r.normal_clipped(1.0, 0.1, 2.5),
        lip_thickness: r.normal_clipped(1.0, 0.18, 2.5),
        lipstick: !male && r.chance(0.5),
        facial_hair,
        ear_size: r.normal_clipped(1.0, 0.1, 2.5),
        earrings: r
            .chance(if male { 0.05 } else { 0.4 })
            .then(|| *r.choice(&[[0.9, 0.75, 0.3], [0.85, 0.85, 0.88], [0.2, 0.5, 0.8]])),
        mole: r
            .chance(0.3)
            .then(|| (r.range(-0.7, 0.7), r.range(-0.2, 0.7))),
        marks_seed: r.next_u64(),
    }
}

/// Per-image state of image `j` of a person; `(seed, id, j)` keys the stream
/// so that adding identities never changes existing images.
pub(crate) fn shot(seed: u64, id: u32, j: u32, who: &Identity) -> Shot {
    let mut r = Rng::from_words(&[seed, stream::IMAGE, u64::from(id), u64::from(j)]);
    let offset = r.normal_clipped(0.0, 2.5, 2.4).round();
    let age = (f32::from(who.base_age) + offset).clamp(0.0, 90.0) as u8;
    let facial_hair = who
        .facial_hair
        .filter(|_| who.gender == Gender::Male && age >= 16)
        .map(|kind| {
            (
                kind,
                smoothstep(15.0, 24.0, f32::from(age)) * r.range(0.75, 1.0),
            )
        });
    Shot {
        age,
        smile: r.range(-0.3, 1.0),
        eye_open: r.range(0.7, 1.1),
        gaze: r.range(-0.3, 0.3),
        yaw: r.range(-1.0, 1.0),
        roll_deg: r.normal_clipped(0.0, 5.0, 2.5),
        zoom: r.range(0.9, 1.1),
        shift: (r.range(-0.05, 0.05), r.range(-0.05, 0.05)),
        clothes: [r.range(0.05, 0.9), r.range(0.05, 0.9), r.range(0.05, 0.9)],
        gain: {
            let b = r.range(0.82, 1.12);
            [b * r.range(0.94, 1.06), b, b * r.range(0.94, 1.06)]
        },
        noise: r.range(1.0, 7.0),
        facial_hair,
    }
}

/// Age-derived proportions, each a continuous function of age so that age
/// regression has a graded signal rather than a few discrete looks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AgeShape {
    /// 0 at birth to 1 at adulthood (18).
    pub(crate) growth: f32,
    /// 0 before puberty to 1 after: scales gender differences.
    pub(crate) dimorph: f32,
    /// 0 at 45 to 1 at 85: sagging, thin lips, smaller eyes.
    pub(crate) old: f32,
    /// Age scaled by the person's ageing rate, for wrinkles and spots.
    pub(crate) skin_age: f32,
    /// Fraction of grey in hair and beard.
    pub(crate) grey: f32,
    /// Hairline recession, 0 (none) to 1 (bald top).
    pub(crate) recession: f32,
}

pub(crate) fn age_shape(who: &Identity, age: u8) -> AgeShape {
    let a = f32::from(age);
    let t = (a / 18.0).min(1.0);
    AgeShape {
        // Faces grow fastest early, hence the concave curve.
        growth: 1.0 - (1.0 - t) * (1.0 - t),
        dimorph: smoothstep(9.0, 18.0, a),
        old: smoothstep(45.0, 85.0, a),
        skin_age: a * who.ageing_rate,
        grey: smoothstep(who.grey_onset, who.grey_onset + 35.0, a),
        recession: who.recede * smoothstep(22.0, 70.0, a),
    }
}

/// Hair colour at a given grey fraction: blends to grey, then to white.
pub(crate) fn greyed(c: Rgb, grey: f32) -> Rgb {
    let g = mix(c, [0.62, 0.62, 0.63], (grey * 1.6).min(1.0));
    mix(g, [0.93, 0.93, 0.92], ((grey - 0.6) * 2.5).clamp(0.0, 1.0))
}

/// Baby hair is sparse: opacity grows over the first few years.
pub(crate) fn hair_density(age: u8) -> f32 {
    lerp(0.25, 1.0, smoothstep(0.0, 4.0, f32::from(age)))
}
