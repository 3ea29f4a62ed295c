//! The skin-and-features layer of a face: body, head outline, ears, eyes,
//! brows, nose and mouth. Sizes come from [`Geom`]; colours from traits.

use tiny_skia::{Path, PathBuilder};

use super::canvas::{Canvas, Rgb, ellipse_path, mix, scale};
use super::faces::Geom;
use super::rng::{lerp, smoothstep};
use super::traits::{AgeShape, Gender, Identity, Shot, greyed};

/// Skin colour at an age: babies are pinker, old skin a little paler.
pub(crate) fn skin_at(who: &Identity, a: &AgeShape) -> Rgb {
    let baby = 1.0 - a.growth;
    let s = mix(who.skin, [0.97, 0.72, 0.68], 0.12 * baby);
    let l = super::canvas::luma(s);
    mix(s, [l + 0.05, l + 0.05, l + 0.05], 0.18 * a.old)
}

/// Closed outline of the face: cranium arcs down to cheeks, jaw corners and
/// chin, built from the right half and mirrored.
pub(crate) fn face_outline(g: &Geom, grow: f32) -> Option<Path> {
    let (cx, cy) = (g.cx, g.cy);
    let (rx, ry) = (g.rx * grow, g.ry * grow);
    let k = 0.5523;
    let jx = g.jaw_w * rx;
    let jy = g.jaw_y * ry;
    // Right half as offsets from the centre: (c1, c2, end) per cubic.
    let segs = [
        [(k * rx, -ry), (rx, -k * ry), (rx, 0.0)],
        [(rx, jy * 0.45), (jx + (rx - jx) * 0.6, jy * 0.75), (jx, jy)],
        [
            (jx * 0.9, jy + (ry - jy) * 0.55),
            (g.chin_w * rx, ry),
            (0.0, ry),
        ],
    ];
    let mut pb = PathBuilder::new();
    pb.move_to(cx, cy - ry);
    for [c1, c2, p] in segs {
        pb.cubic_to(
            cx + c1.0,
            cy + c1.1,
            cx + c2.0,
            cy + c2.1,
            cx + p.0,
            cy + p.1,
        );
    }
    // Mirror back up the left side: reverse each segment's control order.
    let starts = [(0.0, -ry), (rx, 0.0), (jx, jy)];
    for i in (0..3).rev() {
        let [c1, c2, _] = segs[i];
        let p = starts[i];
        pb.cubic_to(
            cx - c2.0,
            cy + c2.1,
            cx - c1.0,
            cy + c1.1,
            cx - p.0,
            cy + p.1,
        );
    }
    pb.close();
    pb.finish()
}

/// Shoulders in clothes, so the frame looks like a portrait crop.
pub(crate) fn shoulders(c: &mut Canvas, who: &Identity, shot: &Shot, g: &Geom, a: &AgeShape) {
    let male = if who.gender == Gender::Male {
        a.dimorph
    } else {
        0.0
    };
    let shoulder_w = lerp(0.36, 0.46, a.growth) + 0.06 * male;
    let top = g.cy + g.ry + 0.06;
    let mut pb = PathBuilder::new();
    pb.move_to(g.cx - shoulder_w - 0.1, 1.3);
    pb.line_to(g.cx - shoulder_w, top + 0.12);
    pb.quad_to(g.cx - shoulder_w * 0.8, top, g.cx - 0.1, top - 0.01);
    pb.line_to(g.cx + 0.1, top - 0.01);
    pb.quad_to(g.cx + shoulder_w * 0.8, top, g.cx + shoulder_w, top + 0.12);
    pb.line_to(g.cx + shoulder_w + 0.1, 1.3);
    pb.close();
    if let Some(p) = pb.finish() {
        c.fill(&p, shot.clothes, 1.0);
    }
}

/// Neck, drawn over back hair so long hair frames it.
pub(crate) fn neck(c: &mut Canvas, who: &Identity, g: &Geom, a: &AgeShape) {
    let male = if who.gender == Gender::Male {
        a.dimorph
    } else {
        0.0
    };
    let skin = skin_at(who, a);
    let top = g.cy + g.ry + 0.06;
    let neck_w = g.rx * (0.5 + 0.12 * male);
    let mut pb = PathBuilder::new();
    pb.move_to(g.cx - neck_w, g.cy + g.ry * 0.4);
    pb.line_to(g.cx - neck_w, top + 0.02);
    pb.quad_to(g.cx, top + 0.09, g.cx + neck_w, top + 0.02);
    pb.line_to(g.cx + neck_w, g.cy + g.ry * 0.4);
    pb.close();
    if let Some(p) = pb.finish() {
        c.fill(&p, scale(skin, 0.82), 1.0);
    }
}

/// Ears, face and cheeks.
pub(crate) fn head(c: &mut Canvas, who: &Identity, shot: &Shot, g: &Geom, a: &AgeShape) {
    let skin = skin_at(who, a);
    // Ears keep growing through life: a small but real age cue.
    let ear = who.ear_size * (1.0 + 0.18 * a.old);
    for side in [-1.0f32, 1.0] {
        // The ear on the side the head turns towards is partly hidden.
        let turn = 1.0 - 0.35 * (shot.yaw * side).max(0.0);
        let ex = g.cx + side * g.rx * (0.97 - 0.05 * (shot.yaw * side));
        let ey = g.eye_y + g.ry * 0.12;
        c.ellipse(
            ex,
            ey,
            g.rx * 0.14 * ear * turn,
            g.ry * 0.2 * ear,
            scale(skin, 0.93),
            1.0,
        );
        c.ellipse(
            ex + side * g.rx * 0.02,
            ey,
            g.rx * 0.07 * ear * turn,
            g.ry * 0.12 * ear,
            scale(skin, 0.75),
            0.6,
        );
        if let Some(metal) = who.earrings.filter(|_| shot.age >= 12) {
            let r = g.rx * 0.06;
            c.ellipse(ex, ey + g.ry * 0.2 * ear + r * 0.8, r, r, metal, 1.0);
        }
    }
    if let Some(p) = face_outline(g, 1.0) {
        c.fill(&p, skin, 1.0);
    }
    let blush = 0.22 * (1.0 - a.growth) + if who.lipstick { 0.12 * a.dimorph } else { 0.0 };
    if blush > 0.01 {
        for side in [-1.0f32, 1.0] {
            let x = g.cx + g.fx + side * g.eye_dx * 1.05;
            c.ellipse(
                x,
                g.nose_y - g.ry * 0.02,
                g.rx * 0.2,
                g.ry * 0.1,
                [0.95, 0.45, 0.45],
                blush,
            );
        }
    }
}

fn almond(ex: f32, ey: f32, w: f32, h: f32, tilt: f32) -> Option<Path> {
    let mut pb = PathBuilder::new();
    pb.move_to(ex - w, ey + tilt);
    pb.cubic_to(
        ex - w * 0.45,
        ey - h * 1.3,
        ex + w * 0.45,
        ey - h * 1.3,
        ex + w,
        ey - tilt,
    );
    pb.cubic_to(
        ex + w * 0.45,
        ey + h * 1.0,
        ex - w * 0.45,
        ey + h * 1.0,
        ex - w,
        ey + tilt,
    );
    pb.close();
    pb.finish()
}

fn upper_lid(ex: f32, ey: f32, w: f32, h: f32, tilt: f32) -> Option<Path> {
    let mut pb = PathBuilder::new();
    pb.move_to(ex - w * 1.05, ey + tilt);
    pb.cubic_to(
        ex - w * 0.45,
        ey - h * 1.3,
        ex + w * 0.45,
        ey - h * 1.3,
        ex + w * 1.08,
        ey - tilt,
    );
    pb.finish()
}

pub(crate) fn eyes(c: &mut Canvas, who: &Identity, shot: &Shot, g: &Geom, a: &AgeShape) {
    let female = who.gender == Gender::Female;
    let skin = skin_at(who, a);
    let iris_r = g.eye_w * lerp(0.66, 0.52, a.growth);
    for side in [-1.0f32, 1.0] {
        let ex = g.cx + g.fx + side * g.eye_dx;
        let ey = g.eye_y;
        // Outer corners slightly higher, mirrored per side.
        let tilt = side * g.eye_h * 0.12;
        c.ellipse(
            ex,
            ey - g.eye_h * 0.5,
            g.eye_w * 1.25,
            g.eye_h * 1.5,
            scale(skin, 0.85),
            0.35,
        );
        let Some(eye) = almond(ex, ey, g.eye_w, g.eye_h, tilt) else {
            continue;
        };
        c.fill(&eye, [0.95, 0.94, 0.92], 1.0);
        if let Some(mask) = c.mask_of(&eye, c.transform) {
            let ix = ex + shot.gaze * g.eye_w * 0.35;
            if let Some(p) = ellipse_path(ix, ey - g.eye_h * 0.1, iris_r, iris_r) {
                c.fill_masked(&p, who.eye_colour, 1.0, c.transform, &mask);
            }
            if let Some(p) = ellipse_path(ix, ey - g.eye_h * 0.1, iris_r * 0.48, iris_r * 0.48) {
                c.fill_masked(&p, [0.03, 0.03, 0.04], 1.0, c.transform, &mask);
            }
        }
        c.ellipse(
            ex + shot.gaze * g.eye_w * 0.35 + iris_r * 0.3,
            ey - g.eye_h * 0.35,
            iris_r * 0.2,
            iris_r * 0.2,
            [1.0; 3],
            0.85,
        );
        let lash = if female { 1.8 * a.dimorph + 1.0 } else { 1.0 };
        if let Some(lid) = upper_lid(ex, ey, g.eye_w, g.eye_h, tilt) {
            c.stroke(&lid, [0.08, 0.06, 0.06], 0.9, g.eye_w * 0.16 * lash);
        }
    }
}

pub(crate) fn brows(c: &mut Canvas, who: &Identity, g: &Geom, a: &AgeShape) {
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
    let width =
        g.rx * lerp(0.03, 0.042, a.growth) * who.brow_weight * (1.0 + 0.5 * male - 0.3 * female);
    let colour = scale(greyed(who.hair_colour, a.grey * 0.7), 0.8);
    let arch = g.ry * (0.03 + 0.04 * who.brow_arch + 0.03 * female);
    for side in [-1.0f32, 1.0] {
        let ex = g.cx + g.fx + side * g.eye_dx;
        let mut pb = PathBuilder::new();
        pb.move_to(ex - side * g.eye_w * 1.05, g.brow_y + g.ry * 0.015);
        pb.quad_to(
            ex + side * g.eye_w * 0.2,
            g.brow_y - arch,
            ex + side * g.eye_w * 1.3,
            g.brow_y + g.ry * 0.02,
        );
        if let Some(p) = pb.finish() {
            c.stroke(&p, colour, 0.95, width);
        }
    }
}

pub(crate) fn nose(c: &mut Canvas, who: &Identity, g: &Geom, a: &AgeShape) {
    let skin = skin_at(who, a);
    let nx = g.cx + g.fx * 1.5;
    let (ny, w) = (g.nose_y, g.nose_w);
    // Bridge shadow on one side; fades in with growth (children: button nose).
    let mut pb = PathBuilder::new();
    pb.move_to(nx - w * 0.2, g.eye_y + g.eye_h);
    pb.quad_to(nx - w * 0.55, ny - w * 0.8, nx - w * 0.75, ny - w * 0.2);
    if let Some(p) = pb.finish() {
        c.stroke(&p, scale(skin, 0.7), 0.35 * a.growth, g.rx * 0.03);
    }
    c.ellipse(
        nx,
        ny - w * 0.15,
        w * 0.55,
        w * 0.42,
        scale(skin, 1.06),
        0.6,
    );
    let mut pb = PathBuilder::new();
    pb.move_to(nx - w, ny - w * 0.35);
    pb.quad_to(nx - w * 0.4, ny + w * 0.6, nx, ny + w * 0.25);
    pb.quad_to(nx + w * 0.4, ny + w * 0.6, nx + w, ny - w * 0.35);
    if let Some(p) = pb.finish() {
        c.stroke(&p, scale(skin, 0.62), 0.6, g.rx * 0.035);
    }
    for side in [-1.0f32, 1.0] {
        c.ellipse(
            nx + side * w * 0.42,
            ny + w * 0.12,
            w * 0.2,
            w * 0.12,
            scale(skin, 0.35),
            0.55,
        );
    }
}

pub(crate) fn mouth(c: &mut Canvas, who: &Identity, shot: &Shot, g: &Geom, a: &AgeShape) {
    let skin = skin_at(who, a);
    let female = who.gender == Gender::Female;
    let natural = mix(skin, [0.75, 0.35, 0.38], if female { 0.5 } else { 0.32 });
    let lip = if who.lipstick {
        mix(
            natural,
            [0.78, 0.1, 0.2],
            0.7 * smoothstep(13.0, 18.0, f32::from(shot.age)),
        )
    } else {
        natural
    };
    let mx = g.cx + g.fx * 1.2;
    let (my, w) = (g.mouth_y, g.mouth_w);
    let lift = shot.smile * w * 0.22;
    let (l, r) = ((mx - w, my - lift), (mx + w, my - lift));
    // Line between the lips sags in the middle when smiling.
    let mid = my + shot.smile.max(0.0) * w * 0.12;
    let mut up = PathBuilder::new();
    up.move_to(l.0, l.1);
    up.cubic_to(
        mx - w * 0.6,
        my - g.lip_up * 1.2,
        mx - w * 0.25,
        my - g.lip_up * 1.3,
        mx,
        my - g.lip_up * 0.85,
    );
    up.cubic_to(
        mx + w * 0.25,
        my - g.lip_up * 1.3,
        mx + w * 0.6,
        my - g.lip_up * 1.2,
        r.0,
        r.1,
    );
    up.quad_to(mx, mid, l.0, l.1);
    up.close();
    let mut low = PathBuilder::new();
    low.move_to(l.0, l.1);
    low.quad_to(mx, mid, r.0, r.1);
    low.cubic_to(
        mx + w * 0.5,
        my + g.lip_low * 1.3,
        mx - w * 0.5,
        my + g.lip_low * 1.3,
        l.0,
        l.1,
    );
    low.close();
    if let Some(p) = low.finish() {
        c.fill(&p, mix(lip, [1.0; 3], 0.06), 1.0);
    }
    if let Some(p) = up.finish() {
        c.fill(&p, scale(lip, 0.9), 1.0);
    }
    let mut line = PathBuilder::new();
    line.move_to(l.0, l.1);
    line.quad_to(mx, mid, r.0, r.1);
    if let Some(p) = line.finish() {
        c.stroke(&p, scale(lip, 0.4), 0.9, g.rx * 0.025);
    }
}
