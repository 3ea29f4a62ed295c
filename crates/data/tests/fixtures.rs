//! Small datasets written on the fly, in each real layout, with deliberate defects.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

/// A small JPEG whose colour encodes `seed`, so images differ.
pub fn jpeg(path: &Path, side: u32, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([seed, (x * 7) as u8, (y * 5) as u8])
    });
    img.save_with_format(path, image::ImageFormat::Jpeg)
        .unwrap();
}

/// A file with a JPEG header and nothing after it.
pub fn truncated_jpeg(path: &Path) {
    jpeg(path, 32, 9);
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 3]).unwrap();
}

/// The metadata of a cache of `count` images of `size` px, named `paths`.
pub fn meta(count: usize, size: u32, paths: Vec<String>) -> ablate_data::Meta {
    ablate_data::Meta {
        fingerprint: "test".into(),
        kind: "synthetic-faces".into(),
        size,
        count,
        paths,
        identities: Vec::new(),
        classes: Vec::new(),
        skipped: Vec::new(),
        excluded: 0,
        exclusion_rule: None,
        writer: "test".into(),
        content: String::new(),
    }
}

pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// UTKFace layout: 8 good images (4 ages x 2 genders, one without race), and defects.
pub fn utkface(root: &Path) {
    let mut n = 0;
    for age in [5, 25, 45, 75] {
        for gender in [0, 1] {
            n += 1;
            let name = if n == 3 {
                format!("{age}_{gender}_2017010{n}.jpg.chip.jpg")
            } else {
                format!("{age}_{gender}_0_2017010{n}.jpg.chip.jpg")
            };
            jpeg(&root.join(name), 48, n as u8 * 20);
        }
    }
    jpeg(&root.join("200_0_0_20170101.jpg.chip.jpg"), 16, 1); // age out of range
    jpeg(&root.join("30_7_0_20170101.jpg"), 16, 2); // bad gender
    jpeg(&root.join("portrait.jpg"), 16, 3); // name does not parse
    truncated_jpeg(&root.join("33_1_0_20170102.jpg.chip.jpg")); // corrupt: found at decode time
    write(&root.join("notes.txt"), "not an image");
}

/// LFW layout: 3 people (4, 2 and 1 images), gender lists with one file in both and one in neither.
pub fn lfw(root: &Path) {
    for (person, count) in [("Ann_Lee", 4), ("Bob_Stone", 2), ("Cy_Twain", 1)] {
        for i in 1..=count {
            jpeg(
                &root.join(person).join(format!("{person}_{i:04}.jpg")),
                40,
                i as u8 * 30,
            );
        }
    }
    write(
        &root.join("male_names.txt"),
        "Bob_Stone_0001.jpg\nBob_Stone_0002.jpg\nCy_Twain_0001.jpg\n",
    );
    write(
        &root.join("female_names.txt"),
        "Ann_Lee_0001.jpg\nAnn_Lee_0002.jpg\nAnn_Lee_0003.jpg\nCy_Twain_0001.jpg\n",
    );
    jpeg(&root.join("stray.jpg"), 16, 1); // not in a person folder
}

/// FG-NET layout: 3 subjects at several ages, one bad name.
pub fn fgnet(root: &Path) {
    for (subject, ages) in [
        ("001", vec![2, 10, 31]),
        ("002", vec![5, 5]),
        ("003", vec![60]),
    ] {
        for (k, age) in ages.iter().enumerate() {
            let suffix = if k == 1 && subject == "002" { "b" } else { "" };
            jpeg(
                &root.join(format!("{subject}A{age:02}{suffix}.JPG")),
                40,
                *age as u8,
            );
        }
    }
    jpeg(&root.join("001B02.JPG"), 16, 1);
}

/// A csv manifest with good rows and every kind of bad one.
pub fn csv(root: &Path) {
    for i in 0..6 {
        jpeg(&root.join(format!("img/{i}.jpg")), 32, i * 40);
    }
    write(
        &root.join("manifest.csv"),
        "path,age,age_std,gender,person\n\
         img/0.jpg,23,3.5,m,p1\n\
         img/1.jpg,31.5,2,F,p2\n\
         img/2.jpg,40,,female,p1\n\
         img/3.jpg,NaN,,M,p3\n\
         img/4.jpg,abc,1,m,p2\n\
         img/5.jpg,50,1,x,p2\n\
         img/missing.jpg,20,1,m,p4\n\
         img/0.txt,20,1,m,p4\n",
    );
}
