//! A loaded cache is mapped, not copied: reading every pixel of it leaves the
//! process's private (anonymous) memory where it was, so workers sharing a
//! machine share one copy in the page cache.

#![allow(clippy::unwrap_used)]

mod fixtures;

use ablate_data::{Cache, CacheWriter, Sample};

/// RssAnon of this process in KiB (Linux).
fn rss_anon_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn reading_a_loaded_cache_does_not_grow_private_memory() {
    let Some(_) = rss_anon_kib() else {
        eprintln!("skipped: no /proc/self/status RssAnon on this system");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-64px.cache");
    // 20,000 images of 64x64: 246 MB of pixels, written in 1 MB pieces.
    let (count, size) = (20_000usize, 64u32);
    let image = (size as usize).pow(2) * 3;
    let mut w = CacheWriter::new(&path).unwrap();
    let piece: Vec<u8> = (0..image * 85).map(|i| (i % 251) as u8).collect();
    let mut left = count;
    while left > 0 {
        let n = left.min(85);
        w.push(&piece[..n * image]).unwrap();
        left -= n;
    }
    let samples: Vec<Sample> = (0..count)
        .map(|i| Sample::unlabelled(format!("#{i}")))
        .collect();
    let mut meta = fixtures::meta(
        count,
        size,
        samples.iter().map(|sm| sm.path.clone()).collect(),
    );
    w.finish(&mut meta, &samples).unwrap();
    drop(piece);

    let before = rss_anon_kib().unwrap();
    let cache = Cache::load(&path).unwrap();
    // Touches every pixel page, as training epochs do.
    assert_eq!(cache.content_digest(), meta.content);
    let sum: u64 = (0..count)
        .map(|i| u64::from(cache.image(i)[image - 1]))
        .sum();
    assert!(sum > 0);
    let grown_mib = rss_anon_kib().unwrap().saturating_sub(before) / 1024;
    let pixels_mib = (count * image) >> 20;
    // Labels and paths take a few MB; a copied cache would add all 234 MiB.
    assert!(
        grown_mib < 48,
        "private memory grew by {grown_mib} MiB reading a {pixels_mib} MiB cache"
    );
    // The instrument sees a copy: reading the file into memory, as loading did
    // before caches were mapped, grows private memory by the whole file.
    let before = rss_anon_kib().unwrap();
    let copy = std::fs::read(&path).unwrap();
    let copied_mib = rss_anon_kib().unwrap().saturating_sub(before) / 1024;
    assert!(
        copied_mib + 8 >= pixels_mib as u64,
        "a copy grew {copied_mib} MiB"
    );
    drop(copy);
}
