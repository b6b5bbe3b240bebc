//! oxmq: ZeroMQ in Rust.
