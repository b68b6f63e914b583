//! SFTP: the libssh2 client, the chunk-upload workload, the russh server.
pub mod server;
