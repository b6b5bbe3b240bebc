//! Benchmarks of oxmq against libzmq.
