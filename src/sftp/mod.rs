//! SFTP: the libssh2 client with phase timing ([`client`]), the chunk
//! workload that uploads or downloads ([`workload`]), the bench run that ties
//! them to the engine and the reports ([`bench`](mod@bench)), and the russh
//! SFTP server ([`server`]).

pub mod bench;
pub mod client;
pub mod embedded;
pub mod server;
pub mod source;
pub mod workload;
