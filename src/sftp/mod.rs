//! SFTP: the libssh2 client with phase timing ([`client`]), the chunk-upload
//! workload ([`workload`]) and the bench run that ties them to the engine and
//! the reports ([`bench`]).

pub mod bench;
pub mod client;
pub mod workload;
