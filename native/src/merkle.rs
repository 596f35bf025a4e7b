//! RFC 9162 Merkle tree hashing (section 2.1.1) over a batch of leaves.
//!
//! A meter-readings batch holds up to 1,000 leaves, and every validator hashes each leaf and
//! the tree above them in CheckTx; in Python that is two hash objects and several byte
//! strings per node. Here the leaves are hashed straight from the Python bytes, the tree is
//! folded in one buffer, and SHA-256 uses the CPU's SHA extensions where it has them.
//!
//! The tree is the RFC's: a leaf hashes as SHA-256(0x00 || entry), an inner node as
//! SHA-256(0x01 || left || right); pairing neighbours level by level and carrying an odd last
//! node up unchanged gives the split at the largest power of two below n. The root of no
//! leaves is SHA-256(""). The Python tests compare this with `gridledger.merkle.tree` and the
//! RFC test vectors.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sha2::{Digest, Sha256};

type Hash = [u8; 32];

fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(entry);
    hasher.finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root over already hashed leaves, folding `level` in place.
fn fold_root(mut level: Vec<Hash>) -> Hash {
    if level.is_empty() {
        return Sha256::digest(b"").into();
    }
    while level.len() > 1 {
        let parents = level.len().div_ceil(2);
        for at in 0..parents {
            level[at] = match level.get(2 * at + 1) {
                Some(right) => node_hash(&level[2 * at], right),
                None => level[2 * at],
            };
        }
        level.truncate(parents);
    }
    level[0]
}

/// `(leaf hashes, root)` of a sequence of leaves: the RFC 9162 hash of each leaf, concatenated
/// in order (32 bytes each), and the root of the tree over them.
#[pyfunction]
pub fn merkle_leaf_hashes_and_root<'py>(
    py: Python<'py>,
    leaves: Vec<Bound<'py, PyBytes>>,
) -> (Bound<'py, PyBytes>, Bound<'py, PyBytes>) {
    let hashes: Vec<Hash> = leaves
        .iter()
        .map(|leaf| leaf_hash(leaf.as_bytes()))
        .collect();
    let packed = PyBytes::new(py, &hashes.concat());
    let root = fold_root(hashes);
    (packed, PyBytes::new(py, &root))
}
