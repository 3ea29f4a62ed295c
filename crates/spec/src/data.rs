//! `[data.NAME]` sections: which dataset, where, and how it is split.
//! Only validated here; reading images is the data crate's job.

use crate::error::Ctx;
use crate::types::{CsvColumns, DatasetSpec, Expected, Source, Split};
use crate::value::{self, Table, Value, join};

pub(crate) const KINDS: &[&str] = &[
    "synthetic-faces",
    "synthetic-objects",
    "utkface",
    "lfw",
    "fgnet",
    "csv",
];

/// FG-NET has 82 subjects; leave-one-person-out over it is 82 folds.
const FGNET_SUBJECTS: u32 = 82;

const COMMON_KEYS: &[&str] = &["kind", "split", "strict", "max_images", "expected"];

fn kind_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "synthetic-faces" => &["identities", "images_per_identity", "seed"],
        "synthetic-objects" => &["classes", "images_per_class", "seed"],
        "lfw" => &["path", "min_images"],
        "csv" => &[
            "path",
            "root",
            "path_column",
            "age_column",
            "age_std_column",
            "gender_column",
            "identity_column",
            "class_column",
            "gender_values",
        ],
        _ => &["path"],
    }
}

pub(crate) fn parse(ctx: &mut Ctx<'_>, section: &str, v: &Value<'_>) -> Option<DatasetSpec> {
    let t = value::table(ctx, section, v)?;
    let Some(kind_v) = value::get(t, "kind") else {
        ctx.error(
            v.span(),
            section,
            "missing key `kind`",
            Some(format!("add `kind = \"...\"`, one of {}", KINDS.join(", "))),
        );
        return None;
    };
    let kind = value::choice(ctx, &join(section, "kind"), kind_v, KINDS)?;
    let allowed: Vec<&str> = COMMON_KEYS.iter().chain(kind_keys(kind)).copied().collect();
    let keys_ok = value::known_keys(ctx, section, t, &allowed);

    let source = parse_source(ctx, section, kind, t, v)?;
    let strict = match value::get(t, "strict") {
        Some(s) => value::boolean(ctx, &join(section, "strict"), s)?,
        None => false,
    };
    let max_images = match value::get(t, "max_images") {
        Some(m) => Some(value::unsigned(
            ctx,
            &join(section, "max_images"),
            m,
            1..=u32::MAX,
        )?),
        None => None,
    };
    let split = match value::get(t, "split") {
        Some(s) => parse_split(ctx, &join(section, "split"), &source, s)?,
        None => Split::DEFAULT,
    };
    keys_ok.then_some(DatasetSpec {
        source,
        split,
        strict,
        max_images,
    })
}

/// `expected = { images = N, identities = K, classes = C }` of a `[data.NAME]`
/// section already parsed by `parse`: `Some(None)` without one, `None` when it
/// is malformed (reported).
pub(crate) fn parse_expected(
    ctx: &mut Ctx<'_>,
    section: &str,
    v: &Value<'_>,
) -> Option<Option<Expected>> {
    let t = value::table(ctx, section, v)?;
    let Some(e) = value::get(t, "expected") else {
        return Some(None);
    };
    let key = join(section, "expected");
    let et = value::table(ctx, &key, e)?;
    if !value::known_keys(ctx, &key, et, &["images", "identities", "classes"]) {
        return None;
    }
    let count = |ctx: &mut Ctx<'_>, name: &str| match value::get(et, name) {
        Some(n) => value::unsigned(ctx, &join(&key, name), n, 1..=u32::MAX).map(Some),
        None => Some(None),
    };
    let (images, identities, classes) = (
        count(ctx, "images")?,
        count(ctx, "identities")?,
        count(ctx, "classes")?,
    );
    let Some(images) = images else {
        ctx.error(
            e.span(),
            &key,
            "missing key `images`",
            Some(
                "give the size the dataset will have, e.g. `expected = { images = 494414, identities = 10575 }`"
                    .into(),
            ),
        );
        return None;
    };
    Some(Some(Expected {
        images,
        identities,
        classes,
    }))
}

fn parse_source(
    ctx: &mut Ctx<'_>,
    section: &str,
    kind: &str,
    t: &Table<'_>,
    whole: &Value<'_>,
) -> Option<Source> {
    let u32_or = |ctx: &mut Ctx<'_>, key: &str, default: u32, max: u32| -> Option<u32> {
        match value::get(t, key) {
            Some(v) => value::unsigned(ctx, &join(section, key), v, 1..=max),
            None => Some(default),
        }
    };
    let seed = |ctx: &mut Ctx<'_>| match value::get(t, "seed") {
        Some(v) => value::seed(ctx, &join(section, "seed"), v),
        None => Some(0),
    };
    let text = |ctx: &mut Ctx<'_>, key: &str| -> Option<Option<String>> {
        match value::get(t, key) {
            Some(v) => {
                let s = value::string(ctx, &join(section, key), v)?;
                if s.trim().is_empty() {
                    ctx.error(v.span(), &join(section, key), "must not be empty", None);
                    return None;
                }
                Some(Some(s.to_string()))
            }
            None => Some(None),
        }
    };
    let path = |ctx: &mut Ctx<'_>| -> Option<String> {
        let p = text(ctx, "path")?;
        if p.is_none() {
            let example = match kind {
                "utkface" => "/data/UTKFace",
                "lfw" => "/data/lfw-deepfunneled",
                "csv" => "/data/morph/manifest.csv",
                _ => "/data/FGNET/images",
            };
            ctx.error(
                whole.span(),
                section,
                format!("a `{kind}` dataset needs `path`"),
                Some(format!(
                    "add `path = \"{example}\"` (relative paths are relative to the sweep file's folder)"
                )),
            );
        }
        p
    };
    Some(match kind {
        "synthetic-faces" => Source::SyntheticFaces {
            identities: u32_or(ctx, "identities", 200, 1_000_000)?,
            images_per_identity: u32_or(ctx, "images_per_identity", 12, 10_000)?,
            seed: seed(ctx)?,
        },
        "synthetic-objects" => Source::SyntheticObjects {
            classes: u32_or(ctx, "classes", 10, 10_000)?,
            images_per_class: u32_or(ctx, "images_per_class", 200, 1_000_000)?,
            seed: seed(ctx)?,
        },
        "utkface" => Source::Utkface { path: path(ctx)? },
        "lfw" => Source::Lfw {
            path: path(ctx)?,
            min_images: u32_or(ctx, "min_images", 1, 100_000)?,
        },
        "fgnet" => Source::Fgnet { path: path(ctx)? },
        _ => {
            let path = path(ctx)?;
            let columns = CsvColumns {
                path: text(ctx, "path_column")?.unwrap_or_else(|| "path".to_string()),
                age: text(ctx, "age_column")?,
                age_std: text(ctx, "age_std_column")?,
                gender: text(ctx, "gender_column")?,
                identity: text(ctx, "identity_column")?,
                class: text(ctx, "class_column")?,
                gender_values: crate::gender::parse(ctx, section, value::get(t, "gender_values"))?,
            };
            if columns.gender_values.is_some() && columns.gender.is_none() {
                ctx.error(
                    whole.span(),
                    section,
                    "`gender_values` without `gender_column`",
                    Some(
                        "name the column the values are in, e.g. `gender_column = \"gender\"`"
                            .into(),
                    ),
                );
                return None;
            }
            if columns.age.is_none()
                && columns.gender.is_none()
                && columns.identity.is_none()
                && columns.class.is_none()
            {
                ctx.error(
                    whole.span(),
                    section,
                    "a csv dataset names no label column",
                    Some("set at least one of `age_column`, `gender_column`, `identity_column`, `class_column`".into()),
                );
                return None;
            }
            Source::Csv {
                path,
                root: text(ctx, "root")?,
                columns: Box::new(columns),
            }
        }
    })
}

fn parse_split(ctx: &mut Ctx<'_>, key: &str, source: &Source, v: &Value<'_>) -> Option<Split> {
    let t = value::table(ctx, key, v)?;
    let allowed = [
        "train",
        "val",
        "test",
        "folds",
        "leave_one_person_out",
        "seed",
    ];
    if !value::known_keys(ctx, key, t, &allowed) {
        return None;
    }
    let frac = |ctx: &mut Ctx<'_>, name: &str, default: f64| -> Option<f64> {
        match value::get(t, name) {
            Some(x) => value::number(
                ctx,
                &join(key, name),
                x,
                |f| f > 0.0 && f < 1.0,
                "a fraction between 0 and 1 (exclusive)",
            ),
            None => Some(default),
        }
    };
    let seed = match value::get(t, "seed") {
        Some(s) => value::seed(ctx, &join(key, "seed"), s)?,
        None => 0,
    };
    let lopo = match value::get(t, "leave_one_person_out") {
        Some(b) => value::boolean(ctx, &join(key, "leave_one_person_out"), b)?,
        None => false,
    };
    let folds = value::get(t, "folds");
    let not_with = |ctx: &mut Ctx<'_>, what: &str| -> bool {
        for name in ["train", "test"] {
            if let Some(x) = value::get(t, name) {
                ctx.error(
                    x.span(),
                    &join(key, name),
                    format!("`{name}` does not apply to {what} splits: the test part is one fold"),
                    Some(
                        "remove it; `val` sets the validation share taken from the training folds"
                            .into(),
                    ),
                );
                return false;
            }
        }
        true
    };
    if lopo {
        if !matches!(source, Source::Fgnet { .. }) {
            ctx.error(
                v.span(),
                &join(key, "leave_one_person_out"),
                format!(
                    "leave-one-person-out is defined for `fgnet` datasets, not `{}`",
                    source.kind()
                ),
                Some("use `folds = K` for a k-fold split grouped by identity".into()),
            );
            return None;
        }
        if folds.is_some() || !not_with(ctx, "leave-one-person-out") {
            if let Some(f) = folds {
                ctx.error(
                    f.span(),
                    &join(key, "folds"),
                    "`folds` and `leave_one_person_out` exclude each other",
                    None,
                );
            }
            return None;
        }
        return Some(Split::LeaveOnePersonOut {
            subjects: FGNET_SUBJECTS,
            val: frac(ctx, "val", 0.1)?,
            seed,
        });
    }
    if let Some(f) = folds {
        let folds = value::unsigned(ctx, &join(key, "folds"), f, 2..=100)?;
        if !not_with(ctx, "k-fold") {
            return None;
        }
        return Some(Split::Kfold {
            folds,
            val: frac(ctx, "val", 0.1)?,
            seed,
        });
    }
    let (train, val, test) = (
        frac(ctx, "train", 0.7)?,
        frac(ctx, "val", 0.15)?,
        frac(ctx, "test", 0.15)?,
    );
    if (train + val + test - 1.0).abs() > 1e-6 {
        ctx.error(
            v.span(),
            key,
            format!("fractions add up to {}, not 1", train + val + test),
            Some("set `train`, `val` and `test` so they sum to 1, e.g. 0.7, 0.15, 0.15".into()),
        );
        return None;
    }
    Some(Split::Fractions {
        train,
        val,
        test,
        seed,
    })
}
