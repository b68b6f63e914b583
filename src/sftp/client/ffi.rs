//! What libssh2 offers that the ssh2 crate does not wrap: its version, and
//! the list of ciphers it supports (for `--cipher` and `run.json`).

use ssh2::{MethodType, Session};

mod sys {
    extern "C" {
        // Part of libssh2's public API; libssh2-sys links the library but does
        // not declare this one.
        pub fn libssh2_version(required: std::os::raw::c_int) -> *const std::os::raw::c_char;
    }
}

/// The version of the libssh2 linked into this binary.
pub fn libssh2_version() -> String {
    // Safety: with 0 as the required version libssh2 returns a pointer to its
    // static version string, never null.
    unsafe { std::ffi::CStr::from_ptr(sys::libssh2_version(0)) }
        .to_string_lossy()
        .into_owned()
}

/// The ciphers this libssh2 supports for client-to-server traffic.
pub fn supported_ciphers() -> Vec<&'static str> {
    Session::new()
        .and_then(|s| s.supported_algs(MethodType::CryptCs))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linked_libssh2_offers_chacha20() {
        assert!(libssh2_version().starts_with("1."));
        assert!(
            supported_ciphers().contains(&"chacha20-poly1305@openssh.com"),
            "{:?}",
            supported_ciphers()
        );
    }
}
