//! SFTP: the libssh2 client with phase timing ([`client`]), the chunk-upload
//! workload ([`workload`]), the bench run that ties them to the engine and the
//! reports ([`bench`]), and the russh SFTP server ([`server`]).

pub mod bench;
pub mod client;
pub mod embedded;
pub mod server;
pub mod source;
pub mod workload;
