// xfer patch: chacha20-poly1305@openssh.com on OpenSSL 3's ChaCha20 and
// Poly1305 (see XFER-PATCH.md, change 3).
//
// Why: with aws-lc-rs (or ring), a chacha20 download from sftp-serve spent
// about half of the server's CPU in ChaCha20 and Poly1305: aws-lc's
// ChaCha20 stops at AVX2 and its Poly1305 at SSE2. OpenSSL 3 has AVX-512
// ChaCha20 and an AVX-512 IFMA Poly1305 and picks them at run time; it is
// already in the process (libssh2 links it). The construction is the one
// in OpenSSH's PROTOCOL.chacha20poly1305 and its cipher-chachapoly-libcrypto.c:
// two 256-bit keys, K_2 (the first half) for the payload and the Poly1305
// key, K_1 (the second half) for the packet length; the 64-bit nonce is the
// sequence number, big-endian, and the 64-bit block counter is 0 for the
// Poly1305 key and the length, 1 for the payload.
//
// The keys are built only when OpenSSL has both primitives
// (`OpenSslChaCha::new` returns None otherwise, and russh keeps aws-lc's
// implementation). Each key also carries aws-lc's key for the same secret:
// the two implement the same function, so a packet can go through either,
// and a failure that OpenSSL reports before anything was written falls back
// to it. Tests at the bottom check that both agree byte for byte.

use std::cell::RefCell;
use std::ffi::c_int;
use std::ptr;

use openssl_sys as ffi;
use zeroize::Zeroizing;

use super::super::Error;

const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const LEN_LEN: usize = super::PACKET_LENGTH_LEN;

/// One ChaCha20 key schedule in an `EVP_CIPHER_CTX`.
struct ChaCha(*mut ffi::EVP_CIPHER_CTX);

// The context is owned by this value alone and OpenSSL keeps no reference to
// it, so it may move to another thread; it is never shared (no Sync).
unsafe impl Send for ChaCha {}

impl Drop for ChaCha {
    fn drop(&mut self) {
        // OpenSSL wipes the key schedule it frees.
        unsafe { ffi::EVP_CIPHER_CTX_free(self.0) }
    }
}

impl ChaCha {
    fn new(key: &[u8]) -> Option<Self> {
        if key.len() != KEY_LEN {
            return None;
        }
        let ctx = unsafe { ffi::EVP_CIPHER_CTX_new() };
        if ctx.is_null() {
            return None;
        }
        let me = ChaCha(ctx);
        let ok = unsafe {
            ffi::EVP_CipherInit_ex(
                me.0,
                ffi::EVP_chacha20(),
                ptr::null_mut(),
                key.as_ptr(),
                ptr::null(),
                1,
            )
        };
        (ok == 1).then_some(me)
    }

    /// XOR the key stream of sequence number `seqn`, from block `counter`
    /// on, into `buf`. False if OpenSSL refused; `buf` may then be partly
    /// changed, unless the refusal came from setting the IV.
    fn xor(&mut self, seqn: u32, counter: u8, buf: &mut [u8]) -> bool {
        // OpenSSL's 16-byte ChaCha20 IV is the 32-bit block counter
        // (little-endian) and a 96-bit nonce; OpenSSH's 64-bit counter and
        // 64-bit nonce fill the same 16 bytes.
        let mut iv = [0u8; 16];
        iv[0] = counter;
        iv[8..].copy_from_slice(&u64::from(seqn).to_be_bytes());
        let ok = unsafe {
            ffi::EVP_CipherInit_ex(
                self.0,
                ptr::null(),
                ptr::null_mut(),
                ptr::null(),
                iv.as_ptr(),
                1,
            )
        };
        if ok != 1 {
            return false;
        }
        // A packet is at most 256 KiB; the loop only guards the c_int.
        for piece in buf.chunks_mut(1 << 30) {
            let mut written: c_int = 0;
            let ok = unsafe {
                ffi::EVP_CipherUpdate(
                    self.0,
                    piece.as_mut_ptr(),
                    &mut written,
                    piece.as_ptr(),
                    piece.len() as c_int,
                )
            };
            if ok != 1 || written as usize != piece.len() {
                return false;
            }
        }
        true
    }

    /// The Poly1305 key of sequence number `seqn`: block 0 of the key
    /// stream.
    /// Wiped when dropped, as OpenSSH wipes it.
    fn poly_key(&mut self, seqn: u32) -> Option<Zeroizing<[u8; KEY_LEN]>> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        self.xor(seqn, 0, &mut *key).then_some(key)
    }
}

/// An `EVP_MAC_CTX` for Poly1305, re-keyed per packet.
struct Poly(*mut ffi::EVP_MAC_CTX);

// As for `ChaCha`: owned, never shared.
unsafe impl Send for Poly {}

impl Drop for Poly {
    fn drop(&mut self) {
        unsafe { ffi::EVP_MAC_CTX_free(self.0) }
    }
}

impl Poly {
    fn new() -> Option<Self> {
        let mac = unsafe { ffi::EVP_MAC_fetch(ptr::null_mut(), c"POLY1305".as_ptr(), ptr::null()) };
        if mac.is_null() {
            return None;
        }
        // The context holds its own reference to the MAC.
        let ctx = unsafe { ffi::EVP_MAC_CTX_new(mac) };
        unsafe { ffi::EVP_MAC_free(mac) };
        (!ctx.is_null()).then_some(Poly(ctx))
    }

    fn tag(&mut self, key: &[u8; KEY_LEN], msg: &[u8]) -> Option<[u8; TAG_LEN]> {
        let mut tag = [0u8; TAG_LEN];
        let mut written = 0;
        let ok = unsafe {
            ffi::EVP_MAC_init(self.0, key.as_ptr(), key.len(), ptr::null()) == 1
                && ffi::EVP_MAC_update(self.0, msg.as_ptr(), msg.len()) == 1
                && ffi::EVP_MAC_final(self.0, tag.as_mut_ptr(), &mut written, tag.len()) == 1
        };
        (ok && written == TAG_LEN).then_some(tag)
    }
}

/// Both key schedules and a Poly1305 context: one direction of a
/// connection.
struct OpenSslChaCha {
    main: ChaCha,
    header: RefCell<ChaCha>,
    poly: Poly,
}

impl OpenSslChaCha {
    fn new(key: &[u8]) -> Option<Self> {
        let (main, header) = (key.get(..KEY_LEN)?, key.get(KEY_LEN..2 * KEY_LEN)?);
        Some(OpenSslChaCha {
            main: ChaCha::new(main)?,
            header: RefCell::new(ChaCha::new(header)?),
            poly: Poly::new()?,
        })
    }
}

fn equal_in_constant_time(a: &[u8; TAG_LEN], b: &[u8]) -> bool {
    b.len() == TAG_LEN
        && unsafe { ffi::CRYPTO_memcmp(a.as_ptr().cast(), b.as_ptr().cast(), TAG_LEN) } == 0
}

pub(super) struct OpeningKey {
    ossl: OpenSslChaCha,
    fallback: super::chacha20poly1305::OpeningKey,
}

pub(super) struct SealingKey {
    ossl: OpenSslChaCha,
    fallback: super::chacha20poly1305::SealingKey,
}

impl OpeningKey {
    /// `fallback` back when OpenSSL lacks ChaCha20 or Poly1305 (a FIPS-only
    /// provider, say).
    pub(super) fn new(
        key: &[u8],
        fallback: super::chacha20poly1305::OpeningKey,
    ) -> Result<Self, super::chacha20poly1305::OpeningKey> {
        match OpenSslChaCha::new(key) {
            Some(ossl) => Ok(OpeningKey { ossl, fallback }),
            None => {
                log::debug!(
                    "OpenSSL has no ChaCha20 or Poly1305; chacha20-poly1305 stays on aws-lc"
                );
                Err(fallback)
            }
        }
    }
}

impl SealingKey {
    /// As `OpeningKey::new`.
    pub(super) fn new(
        key: &[u8],
        fallback: super::chacha20poly1305::SealingKey,
    ) -> Result<Self, super::chacha20poly1305::SealingKey> {
        match OpenSslChaCha::new(key) {
            Some(ossl) => Ok(SealingKey { ossl, fallback }),
            None => {
                log::debug!(
                    "OpenSSL has no ChaCha20 or Poly1305; chacha20-poly1305 stays on aws-lc"
                );
                Err(fallback)
            }
        }
    }
}

impl super::OpeningKey for OpeningKey {
    fn decrypt_packet_length(&self, seqn: u32, encrypted_packet_length: &[u8]) -> [u8; 4] {
        let mut len = [0u8; LEN_LEN];
        if encrypted_packet_length.len() == LEN_LEN {
            len.copy_from_slice(encrypted_packet_length);
            if let Ok(mut header) = self.ossl.header.try_borrow_mut() {
                if header.xor(seqn, 0, &mut len) {
                    return len;
                }
            }
        }
        self.fallback
            .decrypt_packet_length(seqn, encrypted_packet_length)
    }

    fn tag_len(&self) -> usize {
        TAG_LEN
    }

    fn open<'a>(&mut self, seqn: u32, ciphertext_and_tag: &'a mut [u8]) -> Result<&'a [u8], Error> {
        let body_end = ciphertext_and_tag
            .len()
            .checked_sub(TAG_LEN)
            .filter(|&end| end >= LEN_LEN)
            .ok_or(Error::DecryptionError)?;
        // The tag is checked over the ciphertext before anything is
        // decrypted; until then nothing was written, so OpenSSL refusing
        // hands the packet to aws-lc whole.
        let expected = self.ossl.main.poly_key(seqn).and_then(|key| {
            let (body, _) = ciphertext_and_tag.split_at(body_end);
            self.ossl.poly.tag(&key, body)
        });
        let Some(expected) = expected else {
            return super::OpeningKey::open(&mut self.fallback, seqn, ciphertext_and_tag);
        };
        let (body, tag) = ciphertext_and_tag.split_at_mut(body_end);
        if !equal_in_constant_time(&expected, tag) {
            return Err(Error::DecryptionError);
        }
        // The length was decrypted already (decrypt_packet_length); the
        // caller reads it from its own copy, as with aws-lc.
        let (_, payload) = body.split_at_mut(LEN_LEN);
        if !self.ossl.main.xor(seqn, 1, payload) {
            return Err(Error::DecryptionError);
        }
        Ok(payload)
    }
}

impl super::SealingKey for SealingKey {
    fn padding_length(&self, payload: &[u8]) -> usize {
        super::SealingKey::padding_length(&self.fallback, payload)
    }

    fn fill_padding(&self, padding_out: &mut [u8]) {
        super::SealingKey::fill_padding(&self.fallback, padding_out)
    }

    fn tag_len(&self) -> usize {
        TAG_LEN
    }

    #[allow(clippy::panic)] // see below: the packet cannot be sealed
    fn seal(&mut self, seqn: u32, plaintext_in_ciphertext_out: &mut [u8], tag_out: &mut [u8]) {
        let Some(poly_key) = self.ossl.main.poly_key(seqn) else {
            // Nothing written yet: aws-lc seals the same bytes.
            return super::SealingKey::seal(
                &mut self.fallback,
                seqn,
                plaintext_in_ciphertext_out,
                tag_out,
            );
        };
        if plaintext_in_ciphertext_out.len() < LEN_LEN || tag_out.len() != TAG_LEN {
            return super::SealingKey::seal(
                &mut self.fallback,
                seqn,
                plaintext_in_ciphertext_out,
                tag_out,
            );
        }
        let (len, payload) = plaintext_in_ciphertext_out.split_at_mut(LEN_LEN);
        let sealed = self.ossl.header.get_mut().xor(seqn, 0, len)
            && self.ossl.main.xor(seqn, 1, payload)
            && match self.ossl.poly.tag(&poly_key, plaintext_in_ciphertext_out) {
                Some(tag) => {
                    tag_out.copy_from_slice(&tag);
                    true
                }
                None => false,
            };
        // OpenSSL refused an update on a context it had just accepted an IV
        // for. Part of the packet is already encrypted and the trait gives
        // no way to report it; sending it would desynchronise the peer, so
        // this session's task ends here (the server keeps serving others).
        if !sealed {
            panic!("OpenSSL failed part-way through sealing a chacha20-poly1305 packet");
        }
    }
}

/// xfer's test suite calls this (through `russh::xfer_chacha20poly1305_self_check`)
/// because this vendored copy has no dev-dependencies to run its own
/// tests with: the OpenSSL keys must be built, and must agree byte for byte
/// with aws-lc's implementation of the same construction. A description of
/// the first disagreement is the error.
#[allow(clippy::indexing_slicing)] // test code: sizes are fixed above each use
pub(crate) fn self_check() -> Result<(), String> {
    use super::{OpeningKey as _, SealingKey as _};

    #[cfg(feature = "aws-lc-rs")]
    use aws_lc_rs::aead::chacha20_poly1305_openssh as reference;
    #[cfg(all(not(feature = "aws-lc-rs"), feature = "ring"))]
    use ring::aead::chacha20_poly1305_openssh as reference;

    let mut k = [0u8; 64];
    for (i, b) in k.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    let mut open = OpeningKey::new(
        &k,
        super::chacha20poly1305::OpeningKey(reference::OpeningKey::new(&k)),
    )
    .map_err(|_| "OpenSSL has no ChaCha20 or Poly1305".to_string())?;
    let mut seal = SealingKey::new(
        &k,
        super::chacha20poly1305::SealingKey(reference::SealingKey::new(&k)),
    )
    .map_err(|_| "OpenSSL has no ChaCha20 or Poly1305".to_string())?;
    let ref_seal = reference::SealingKey::new(&k);

    // A packet as russh lays it out: length, padding length, payload,
    // padding.
    let packet = |payload_len: usize| {
        let mut p = vec![0u8; LEN_LEN + 1 + payload_len + 6];
        let packet_len = (p.len() - LEN_LEN) as u32;
        p[..4].copy_from_slice(&packet_len.to_be_bytes());
        p[4] = 6;
        for (i, b) in p[5..5 + payload_len].iter_mut().enumerate() {
            *b = (i * 7 + payload_len) as u8;
        }
        p
    };

    // Sealing: sequence numbers past 2^31 check the nonce's byte order; the
    // sizes cross the 64-byte block boundary and reach a full channel packet.
    for seqn in [0u32, 1, 7, 0x8000_0001, u32::MAX] {
        for len in [0usize, 1, 58, 59, 60, 123, 4096, 32768, 262144] {
            let plain = packet(len);
            let (mut ours, mut theirs) = (plain.clone(), plain.clone());
            let (mut our_tag, mut their_tag) = ([0u8; 16], [0u8; 16]);
            seal.seal(seqn, &mut ours, &mut our_tag);
            ref_seal.seal_in_place(seqn, &mut theirs, &mut their_tag);
            if ours != theirs || our_tag != their_tag {
                return Err(format!(
                    "sealing differs at seqn {seqn}, {len} payload bytes"
                ));
            }
            // Opening what aws-lc sealed.
            let mut whole = theirs.clone();
            whole.extend_from_slice(&their_tag);
            if open.decrypt_packet_length(seqn, &whole[..4]) != plain[..4] {
                return Err(format!("wrong length at seqn {seqn}"));
            }
            match open.open(seqn, &mut whole) {
                Ok(p) if p == &plain[4..] => {}
                _ => {
                    return Err(format!(
                        "opening failed at seqn {seqn}, {len} payload bytes"
                    ));
                }
            }
        }
    }

    // Any changed byte, the length and the tag included, is refused, and
    // refused before decrypting: the buffer is left as it came.
    let seqn = 3;
    let mut sealed = packet(1000);
    let mut tag = [0u8; 16];
    ref_seal.seal_in_place(seqn, &mut sealed, &mut tag);
    sealed.extend_from_slice(&tag);
    for flip in [0, 4, 500, sealed.len() - 1] {
        let mut bad = sealed.clone();
        bad[flip] ^= 1;
        if open.open(seqn, &mut bad).is_ok() {
            return Err(format!("accepted a packet with byte {flip} changed"));
        }
        bad[flip] ^= 1;
        if bad != sealed {
            return Err(format!("decrypted a refused packet (byte {flip} changed)"));
        }
    }
    // Another sequence number is another key.
    if open.open(seqn + 1, &mut sealed.clone()).is_ok() {
        return Err("accepted a packet under the wrong sequence number".into());
    }
    // Shorter than the length and the tag.
    for len in [0usize, 3, 16, 19] {
        if open.open(0, &mut vec![0u8; len]).is_ok() {
            return Err(format!("accepted a {len}-byte packet"));
        }
    }
    Ok(())
}
