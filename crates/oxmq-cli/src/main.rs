//! The oxmq command line tool.
fn main() {}
