//! Compiles src/bpf/steer.bpf.c with clang through libbpf-cargo at build time; the object
//! lands in OUT_DIR and is embedded by src/lib.rs. No object file is committed.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "src/bpf/steer.bpf.c";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("CARGO_CFG_TARGET_ARCH is set by cargo");
    // Debian keeps <asm/types.h> in the target's multiarch directory, not /usr/include.
    let multiarch = format!("-I/usr/include/{arch}-linux-gnu");

    SkeletonBuilder::new()
        .source(SRC)
        .obj(out.join("steer.bpf.o"))
        .clang_args([multiarch.as_str(), "-Wall", "-Werror"])
        .build()
        .unwrap_or_else(|e| {
            panic!(
                "building the XDP program {SRC} failed: {e:#}\n\
                 (it needs clang and the kernel headers: run scripts/install-deps)"
            )
        });

    println!("cargo:rerun-if-changed={SRC}");
    println!("cargo:rerun-if-changed=src/bpf/steer.h");
}
