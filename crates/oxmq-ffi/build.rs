//! The shared library's soname is libzmq's, so that programs linked against libzmq 4.x load
//! oxmq in its place.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libzmq.so.5");
    println!("cargo:rerun-if-changed=build.rs");
}
