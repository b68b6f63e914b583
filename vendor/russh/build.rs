// xfer patch (XFER-PATCH.md, change 3): chacha20-poly1305 on OpenSSL 3 when
// the `xfer-openssl` feature is on and openssl-sys found OpenSSL 3 or later
// (not LibreSSL, BoringSSL or AWS-LC, whose APIs differ).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(xfer_openssl3)");
    println!("cargo::rerun-if-env-changed=DEP_OPENSSL_VERSION_NUMBER");
    if std::env::var_os("CARGO_FEATURE_XFER_OPENSSL").is_none() {
        return;
    }
    let version = std::env::var("DEP_OPENSSL_VERSION_NUMBER")
        .ok()
        .and_then(|v| u64::from_str_radix(&v, 16).ok());
    if version.is_some_and(|v| v >= 0x3000_0000) {
        println!("cargo::rustc-cfg=xfer_openssl3");
    }
}
