//! `sqlx::migrate!` embeds migrations/ at compile time, but cargo does not know the
//! macro reads that folder: without this, a new or edited migration would not
//! rebuild the store, and a binary could ship with the old schema.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
