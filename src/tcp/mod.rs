//! The HTTP/1.1-subset file protocol: parser, server, client, request workload.
