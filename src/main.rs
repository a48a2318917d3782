//! refdb binary
fn main() {}
