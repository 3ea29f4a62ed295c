//! The preprocessed cache: one file per (dataset, size) holding uint8 pixels and
//! labels, so trials never decode a JPEG. Layout (little-endian):
//!
//! ```text
//! b"ABLCACHE" | format u32 | meta_len u32 | meta JSON | n label records (20 bytes) | n*size*size*3 pixels (HWC)
//! ```
//!
//! A label record is age f32, age_std f32 (NaN: none), gender u8 (255: none),
//! 3 pad bytes, identity u32, class u32 (u32::MAX: none).
//!
//! Loading maps the file read-only (memmap2), so every worker on a machine shares
//! one copy in the page cache and a worker's private memory does not grow with
//! the dataset. A mapping is only safe while nobody truncates or rewrites the file
//! in place: caches are only ever written to a temporary name and renamed into
//! place, so a replaced cache is a new file and mapped workers keep reading the
//! old one. On a network file system (NFS) a file another machine deletes or
//! replaces stays readable only while this client keeps it open (NFS "silly
//! renames"); keep caches on local disk, or prepare them before the sweep and
//! leave them alone while it runs.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::DataError;
use crate::sample::{Sample, Skipped};

const MAGIC: &[u8; 8] = b"ABLCACHE";
pub const FORMAT: u32 = 1;
const RECORD: usize = 20;
const NONE32: u32 = u32::MAX;

/// What a cache holds besides pixels and labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Hash of the source files (names, sizes, mtimes), the dataset options and the size.
    pub fingerprint: String,
    pub kind: String,
    pub size: u32,
    pub count: usize,
    pub paths: Vec<String>,
    pub identities: Vec<String>,
    pub classes: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub excluded: usize,
    pub exclusion_rule: Option<String>,
    /// ablate-data version that wrote it.
    pub writer: String,
    /// `content_digest` of what it holds, written with it; empty in caches from
    /// before digests (`Cache::content_digest` computes it from the file).
    #[serde(default)]
    pub content: String,
}

/// A loaded cache: labels of every image, pixels mapped from the file.
#[derive(Debug)]
pub struct Cache {
    pub meta: Meta,
    pub samples: Vec<Sample>,
    bytes: memmap2::Mmap,
    labels_at: usize,
    pixels_at: usize,
}

/// Maps `file` read-only.
#[allow(unsafe_code)]
fn map(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the mapping is read-only and private to this process; the
    // undefined behaviour memmap2 warns of comes from the file changing under
    // the mapping. ablate never writes a cache in place (`Writer::finish` writes
    // a temporary file and renames it over the old name), so the inode mapped
    // here is never modified, only unlinked, which keeps its pages readable.
    // The caller checked the file's length against its header before mapping,
    // so a cut-short file is refused rather than mapped.
    unsafe { memmap2::Mmap::map(file) }
}

/// What a trial's result depends on in its data: image order, paths (which place
/// unlabelled images in the split), labels and pixels, at one size. Unlike the
/// fingerprint it ignores mtimes and where the dataset lives, so a copied dataset
/// keeps its digest and an edited label or re-exported image changes it.
fn content_digest(size: u32, paths: &[String], records: &[u8], pixels: &[u8]) -> String {
    let mut h = digest_start(size, paths, records);
    h.update(pixels);
    digest_hex(h)
}

fn digest_start(size: u32, paths: &[String], records: &[u8]) -> sha2::Sha256 {
    let mut h = sha2::Sha256::new();
    h.update(format!(
        "ablate-content/v1\nsize={size}\ncount={}\n",
        paths.len()
    ));
    for p in paths {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    h.update(records);
    h
}

fn digest_hex(h: sha2::Sha256) -> String {
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Cache {
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn size(&self) -> u32 {
        self.meta.size
    }

    /// Pixels of image `i`: size*size*3 bytes, RGB, row-major.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = (self.meta.size as usize).pow(2) * 3;
        &self.bytes[self.pixels_at + i * n..self.pixels_at + (i + 1) * n]
    }

    /// The digest of labels and pixels this cache holds, computed from its bytes
    /// (not read from its metadata, which could be stale).
    pub fn content_digest(&self) -> String {
        content_digest(
            self.meta.size,
            &self.meta.paths,
            &self.bytes[self.labels_at..self.pixels_at],
            self.pixels(),
        )
    }

    /// Pixels of all images, contiguous.
    pub fn pixels(&self) -> &[u8] {
        &self.bytes[self.pixels_at..]
    }

    /// Maps a cache file after checking its header and length.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        let bad = |why: &str| DataError::BadCache {
            path: path.to_path_buf(),
            why: why.to_string(),
        };
        // Header and length come from the same open file as the mapping, so a
        // cache renamed into place meanwhile cannot pair one file's header with
        // another's pixels.
        let (meta, meta_len) = read_header(&mut file, path)?;
        let (labels_at, pixels_at, expected) =
            layout(meta_len, &meta).ok_or_else(|| bad("its header states impossible sizes"))?;
        if meta.paths.len() != meta.count {
            return Err(bad(&format!(
                "{} paths for {} images",
                meta.paths.len(),
                meta.count
            )));
        }
        let bytes = map(&file).map_err(|e| DataError::io(path, e))?;
        if bytes.len() as u64 != expected {
            return Err(bad(&format!("{} bytes, expected {expected}", bytes.len())));
        }
        let samples = (0..meta.count)
            .map(|i| {
                decode_record(
                    &bytes[labels_at + i * RECORD..labels_at + (i + 1) * RECORD],
                    meta.paths[i].clone(),
                )
            })
            .collect();
        Ok(Cache {
            meta,
            samples,
            bytes,
            labels_at,
            pixels_at,
        })
    }
}

/// Reads only the metadata (the fingerprint check must not read 300 MB of pixels).
pub fn read_meta_file(path: &Path) -> Result<Meta, DataError> {
    let mut f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    Ok(read_header(&mut f, path)?.0)
}

/// The metadata and its length, read from the start of `f`, after checking that
/// the file is as long as its header says.
fn read_header(f: &mut std::fs::File, path: &Path) -> Result<(Meta, usize), DataError> {
    let bad = |why: String| DataError::BadCache {
        path: path.to_path_buf(),
        why,
    };
    let mut head = [0u8; 16];
    f.read_exact(&mut head).map_err(|e| bad(e.to_string()))?;
    let meta_len = u32::from_le_bytes([head[12], head[13], head[14], head[15]]) as usize;
    if meta_len > 1 << 30 {
        return Err(bad("metadata length is implausible".into()));
    }
    let mut buf = head.to_vec();
    buf.resize(16 + meta_len, 0);
    f.read_exact(&mut buf[16..])
        .map_err(|e| bad(e.to_string()))?;
    let meta = read_meta(&buf).map_err(bad)?;
    // A cut-short file (disk full, copied partially) must not pass for up to date.
    let (_, _, expected) = layout(meta_len, &meta).ok_or_else(|| {
        bad(format!(
            "its header states impossible sizes ({} images of {} px)",
            meta.count, meta.size
        ))
    })?;
    let actual = f.metadata().map_err(|e| DataError::io(path, e))?.len();
    if actual != expected {
        return Err(bad(format!("{actual} bytes, expected {expected}")));
    }
    Ok((meta, meta_len))
}

/// Where the labels and the pixels start, and the file's whole length, as a
/// header states them: None when they overflow (a damaged or foreign file must
/// fail the length check, not wrap around or panic).
fn layout(meta_len: usize, meta: &Meta) -> Option<(usize, usize, u64)> {
    let image = (meta.size as usize).checked_pow(2)?.checked_mul(3)?;
    let labels_at = 16usize.checked_add(meta_len)?;
    let pixels_at = labels_at.checked_add(meta.count.checked_mul(RECORD)?)?;
    let total = pixels_at.checked_add(meta.count.checked_mul(image)?)?;
    Some((labels_at, pixels_at, u64::try_from(total).ok()?))
}

fn read_meta(bytes: &[u8]) -> Result<Meta, String> {
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err("not an ablate cache file".into());
    }
    let format = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if format != FORMAT {
        return Err(format!("format {format}, this ablate reads {FORMAT}"));
    }
    let meta_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    let json = bytes
        .get(16..16usize.saturating_add(meta_len))
        .ok_or("truncated metadata")?;
    serde_json::from_slice(json).map_err(|e| format!("metadata: {e}"))
}

fn encode_record(s: &Sample, out: &mut Vec<u8>) {
    out.extend(s.age.unwrap_or(f32::NAN).to_le_bytes());
    out.extend(s.age_std.unwrap_or(f32::NAN).to_le_bytes());
    out.extend([s.gender.unwrap_or(u8::MAX), 0, 0, 0]);
    out.extend(s.identity.unwrap_or(NONE32).to_le_bytes());
    out.extend(s.class.unwrap_or(NONE32).to_le_bytes());
}

fn decode_record(r: &[u8], path: String) -> Sample {
    let f = |i: usize| f32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    let u = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    let opt_f = |x: f32| (!x.is_nan()).then_some(x);
    let opt_u = |x: u32| (x != NONE32).then_some(x);
    Sample {
        path,
        age: opt_f(f(0)),
        age_std: opt_f(f(4)),
        gender: (r[8] != u8::MAX).then_some(r[8]),
        identity: opt_u(u(12)),
        class: opt_u(u(16)),
    }
}

/// Writes a cache in bounded memory: pixels stream to a temporary file as they
/// are decoded, and `finish` writes header, labels and those pixels to a second
/// temporary file in the same folder, syncs it and renames it into place, so a
/// killed prepare never leaves a half-written cache under the real name and a
/// mapped cache is never changed in place. Dropping an unfinished writer removes
/// its temporary files.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    spool: PathBuf,
    pixels: Option<std::io::BufWriter<std::fs::File>>,
    written: u64,
}

fn temp_name(path: &Path, what: &str) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new(""));
    dir.join(format!(
        ".{}.{what}-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ))
}

impl Writer {
    pub fn new(path: &Path) -> Result<Self, DataError> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        let path = dir.join(path.file_name().unwrap_or_default());
        let spool = temp_name(&path, "pixels");
        // Read back by `finish`, so opened for both.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&spool)
            .map_err(|e| DataError::io(&spool, e))?;
        Ok(Writer {
            pixels: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
            path,
            spool,
            written: 0,
        })
    }

    /// Appends the pixels of the next images, in the order of `finish`'s samples.
    pub fn push(&mut self, pixels: &[u8]) -> Result<(), DataError> {
        if let Some(f) = self.pixels.as_mut() {
            f.write_all(pixels)
                .map_err(|e| DataError::io(&self.spool, e))?;
        }
        self.written += pixels.len() as u64;
        Ok(())
    }

    /// Writes the cache under its real name. `samples` are the images pushed, in
    /// order; sets `meta.content` to the digest of what it writes.
    pub fn finish(mut self, meta: &mut Meta, samples: &[Sample]) -> Result<(), DataError> {
        let image = u64::from(meta.size).pow(2) * 3;
        if self.written != samples.len() as u64 * image {
            return Err(DataError::BadCache {
                path: self.path.clone(),
                why: format!(
                    "{} bytes of pixels written for {} images of {} bytes",
                    self.written,
                    samples.len(),
                    image
                ),
            });
        }
        let mut records = Vec::with_capacity(samples.len() * RECORD);
        for s in samples {
            encode_record(s, &mut records);
        }
        let spool = self.spool.clone();
        let io = |e: std::io::Error| DataError::io(&spool, e);
        let mut pixels = self
            .pixels
            .take()
            .map(|f| f.into_inner().map_err(|e| e.into_error()))
            .transpose()
            .map_err(io)?
            .ok_or_else(|| io(std::io::Error::other("pixels already taken")))?;
        // The digest covers the pixels, and the metadata holding it comes first
        // in the file: one pass over the spooled pixels to hash, one to copy.
        pixels.rewind().map_err(io)?;
        meta.content =
            streamed_digest(meta.size, &meta.paths, &records, &mut pixels).map_err(io)?;
        let json = serde_json::to_vec(meta).map_err(|e| DataError::BadCache {
            path: self.path.clone(),
            why: e.to_string(),
        })?;
        let tmp = temp_name(&self.path, "tmp");
        let result = (|| -> std::io::Result<()> {
            let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
            f.write_all(MAGIC)?;
            f.write_all(&FORMAT.to_le_bytes())?;
            f.write_all(&(json.len() as u32).to_le_bytes())?;
            f.write_all(&json)?;
            f.write_all(&records)?;
            pixels.rewind()?;
            std::io::copy(&mut pixels, &mut f)?;
            let file = f.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(DataError::io(&self.path, e));
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.spool);
    }
}

/// `content_digest` over pixels read from `r`, 1 MiB at a time.
fn streamed_digest(
    size: u32,
    paths: &[String],
    records: &[u8],
    r: &mut impl Read,
) -> std::io::Result<String> {
    let mut h = digest_start(size, paths, records);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(digest_hex(h))
}
