//! Content digests: the same for a copied dataset (new folder, new mtimes), new
//! for an edited label or image, and what the cache file really holds.
#![allow(clippy::unwrap_used)]

mod fixtures;

use std::path::Path;

use ablate_data::{Cache, prepare};
use ablate_spec::types::{DatasetSpec, Source, Split};

fn utk(root: &Path) -> DatasetSpec {
    DatasetSpec {
        source: Source::Utkface {
            path: root.to_string_lossy().into(),
        },
        split: Split::Fractions {
            train: 0.7,
            val: 0.15,
            test: 0.15,
            seed: 0,
        },
        strict: false,
        max_images: None,
    }
}

fn digest(data: &Path, out: &Path) -> String {
    prepare(&utk(data), Path::new(""), 32, out, &|_, _| {})
        .unwrap()
        .content
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_copied_dataset_keeps_its_digest_and_an_edit_changes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    fixtures::utkface(&a);
    let first = digest(&a, &tmp.path().join("a.cache"));
    assert_eq!(first.len(), 32);
    // A copy elsewhere, written later: another fingerprint, the same content.
    std::thread::sleep(std::time::Duration::from_millis(20));
    copy_dir(&a, &b);
    let copied = tmp.path().join("b.cache");
    assert_eq!(digest(&b, &copied), first, "copy keeps the digest");
    let loaded = Cache::load(&copied).unwrap();
    assert_eq!(
        loaded.content_digest(),
        first,
        "the file holds what meta says"
    );
    assert_eq!(loaded.meta.content, first);

    // A relabelled image (age 45 -> 46 in the name).
    let old = b.join("45_0_0_20170105.jpg.chip.jpg");
    std::fs::rename(&old, b.join("46_0_0_20170105.jpg.chip.jpg")).unwrap();
    let relabelled = digest(&b, &copied);
    assert_ne!(relabelled, first, "a label changed");

    // Other pixels under the same names.
    fixtures::jpeg(&b.join("5_0_0_20170101.jpg.chip.jpg"), 48, 99);
    assert_ne!(digest(&b, &copied), relabelled, "an image changed");
}

#[test]
fn a_cache_from_before_digests_gets_one_computed_from_its_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    fixtures::utkface(&data);
    let out = tmp.path().join("c.cache");
    let want = digest(&data, &out);
    // Rewrite the metadata without `content`, as ablate before digests wrote it.
    let bytes = std::fs::read(&out).unwrap();
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let mut meta: serde_json::Value = serde_json::from_slice(&bytes[16..16 + len]).unwrap();
    meta.as_object_mut().unwrap().remove("content");
    let json = serde_json::to_vec(&meta).unwrap();
    let mut old = bytes[..12].to_vec();
    old.extend((json.len() as u32).to_le_bytes());
    old.extend(&json);
    old.extend(&bytes[16 + len..]);
    std::fs::write(&out, old).unwrap();
    assert_eq!(Cache::load(&out).unwrap().meta.content, "");
    let p = prepare(&utk(&data), Path::new(""), 32, &out, &|_, _| {}).unwrap();
    assert!(p.reused, "still up to date: not rebuilt");
    assert_eq!(p.content, want);
}
