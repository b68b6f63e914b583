//! sftp-serve's ciphers.
//!
//! sftp-serve's russh is patched (vendor/russh/XFER-PATCH.md, change 3):
//! chacha20-poly1305 runs on OpenSSL 3's ChaCha20 and Poly1305 instead of
//! aws-lc's. The construction has three places to go wrong (the key halves,
//! the IV's counter and nonce, the sequence number), and any of them makes
//! OpenSSH refuse the first packet. The self-check proves the OpenSSL path
//! is the one built (it would be silently skipped otherwise) and agrees
//! with aws-lc byte for byte.

#[test]
fn russh_chacha20_poly1305_runs_on_openssl_and_agrees_with_aws_lc() {
    russh::xfer_chacha20poly1305_self_check().unwrap();
}
