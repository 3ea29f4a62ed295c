//! Sizes read from a cache file's header are checked arithmetic: a damaged or
//! foreign header stating absurd sizes is an error, never a wrapped length
//! that passes the size check, and never a panic.

#![allow(clippy::unwrap_used)]

mod fixtures;

use ablate_data::{Cache, Meta, read_meta_file};

fn meta(count: usize, size: u32) -> Meta {
    fixtures::meta(count, size, Vec::new())
}

/// A cache file holding only a header (no labels, no pixels).
fn header_only(meta: &Meta) -> tempfile::NamedTempFile {
    let json = serde_json::to_vec(meta).unwrap();
    let mut bytes = b"ABLCACHE".to_vec();
    bytes.extend(1u32.to_le_bytes()); // the format cache.rs writes
    bytes.extend(u32::try_from(json.len()).unwrap().to_le_bytes());
    bytes.extend(json);
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), bytes).unwrap();
    f
}

#[test]
fn a_header_whose_sizes_overflow_is_refused() {
    // 2^62 images of 64 px: 2^62 * (20 + 12,288) bytes is 3,077 * 2^64, which
    // wraps to 0, so unchecked the file's own length passed for the expected one.
    let f = header_only(&meta(1 << 62, 64));
    let err = read_meta_file(f.path()).unwrap_err().to_string();
    assert!(err.contains("impossible sizes"), "{err}");
    let err = Cache::load(f.path()).err().unwrap().to_string();
    assert!(err.contains("impossible sizes"), "{err}");
    let f = header_only(&meta(3, u32::MAX));
    assert!(read_meta_file(f.path()).is_err());
}
