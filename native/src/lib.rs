//! gridledger's native module: Ed25519 signature verification with libsodium's acceptance
//! rules (this file), RFC 9162 Merkle hashing of a batch of leaves (`merkle`), and a fast path
//! for canonical JSON's value walk (`json_walk`).
//!
//! Every validator checks every meter reading's signature, so this check bounds how many
//! meter-signed readings the network ingests. libsodium's verifier uses portable field
//! arithmetic; curve25519-dalek picks AVX-512 IFMA or AVX2 code at run time where the CPU has it
//! (IFMA: about 17 µs per check here, against 29 µs with AVX2).
//!
//! A signature is accepted exactly when libsodium's `crypto_sign_verify_detached` accepts it
//! (libsodium 1.0.18 and later, default build):
//!
//! * the public key A is a canonical encoding (y below p) of a curve point that is not of
//!   small order;
//! * R, the signature's first half, is not one of the encodings of a small-order point, the
//!   sign bit aside (libsodium's block list);
//! * S, its second half, is a canonical scalar (below the group order L);
//! * the cofactorless equation holds byte for byte: encode([S]B - [k]A) == R, with
//!   k = SHA-512(R || A || message) mod L.
//!
//! ed25519-dalek's `verify` checks the last two; the first two are checked here. The Python
//! tests compare this function with libsodium over honest, mutated and crafted inputs
//! (small-order and mixed-order keys and R values, non-canonical S).
//!
//! Decoded keys are kept (a meter signs every reading with the same key), so a key's point
//! is decompressed once; only keys that passed the checks are kept.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use pyo3::prelude::*;

mod json_walk;
mod merkle;

use json_walk::json_value_is_plain;
use merkle::merkle_leaf_hashes_and_root;

/// The y encodings (sign bit cleared) of the eight small-order points, and of p and p + 1,
/// the non-canonical encodings of y = 0 and y = 1.
fn small_order_ys() -> &'static [[u8; 32]] {
    static YS: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
    YS.get_or_init(|| {
        let mut ys: Vec<[u8; 32]> = EIGHT_TORSION
            .iter()
            .map(|point| {
                let mut y = point.compress().to_bytes();
                y[31] &= 0x7f;
                y
            })
            .collect();
        for low in [0xed, 0xee] {
            let mut y = [0xff; 32];
            y[0] = low;
            y[31] = 0x7f;
            ys.push(y);
        }
        ys
    })
}

fn has_small_order_encoding(encoded: &[u8; 32]) -> bool {
    let mut y = *encoded;
    y[31] &= 0x7f;
    small_order_ys().contains(&y)
}

/// Whether the key's y coordinate (its low 255 bits) is below p = 2^255 - 19. A y of p or more
/// is the only non-canonical encoding libsodium checks for; the other (x = 0 with the sign bit
/// set) encodes a small-order point, refused anyway.
fn is_canonical_y(encoded: &[u8; 32]) -> bool {
    if encoded[31] & 0x7f != 0x7f || encoded[1..31].iter().any(|&byte| byte != 0xff) {
        return true;
    }
    encoded[0] < 0xed
}

const MAX_KEPT_KEYS: usize = 1 << 16;

/// The key, decoded, when it passes libsodium's checks on A; None otherwise.
fn checked_key(public_key: &[u8; 32]) -> Option<VerifyingKey> {
    static KEPT: OnceLock<Mutex<HashMap<[u8; 32], VerifyingKey>>> = OnceLock::new();
    let kept = KEPT.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(key) = kept.lock().ok()?.get(public_key) {
        return Some(*key);
    }
    if !is_canonical_y(public_key) {
        return None;
    }
    let key = VerifyingKey::from_bytes(public_key).ok()?;
    if key.is_weak() {
        return None;
    }
    let mut kept = kept.lock().ok()?;
    if kept.len() >= MAX_KEPT_KEYS {
        kept.clear();
    }
    kept.insert(*public_key, key);
    Some(key)
}

fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature[..32]);
    if has_small_order_encoding(&r) {
        return false;
    }
    let Some(key) = checked_key(public_key) else {
        return false;
    };
    key.verify(message, &Signature::from_bytes(signature))
        .is_ok()
}

/// True when `signature` is `public_key`'s Ed25519 signature of `message`.
///
/// Wrong lengths give False, as a failed check does; the caller reports lengths itself.
/// The GIL is released while the curve arithmetic runs.
#[pyfunction]
fn ed25519_verify(py: Python<'_>, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (
        <&[u8; 32]>::try_from(public_key),
        <&[u8; 64]>::try_from(signature),
    ) else {
        return false;
    };
    py.allow_threads(|| verify(key, message, sig))
}

#[pymodule]
fn gridledger_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(ed25519_verify, module)?)?;
    module.add_function(wrap_pyfunction!(merkle_leaf_hashes_and_root, module)?)?;
    module.add_function(wrap_pyfunction!(json_value_is_plain, module)?)?;
    Ok(())
}
