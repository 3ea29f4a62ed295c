//! Trial identity: SHA-256 over the canonical JSON of a resolved trial config.

use sha2::{Digest, Sha256};

use crate::types::TrialConfig;

/// Bumped when the meaning of a config changes, so old results are not reused for new semantics.
const ID_VERSION: &str = "ablate-trial/v1";

/// Canonical JSON: object keys sorted at every level, no whitespace, numbers as
/// serde_json prints them (shortest round-trip form). Independent of serde_json's
/// `preserve_order` feature, which another crate in the build could switch on.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value as V;
    match value {
        V::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&V::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        V::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The trial id: 64 lowercase hex digits.
pub fn trial_id(config: &TrialConfig) -> String {
    // A TrialConfig holds only strings, finite numbers, bools and nested structs: it always serialises.
    let value = serde_json::to_value(config).unwrap_or(serde_json::Value::Null);
    let mut hasher = Sha256::new();
    hasher.update(ID_VERSION.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_json(&value).as_bytes());
    hex(&hasher.finalize())
}

/// SHA-256 of raw bytes, hex; used for sweep file hashes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
