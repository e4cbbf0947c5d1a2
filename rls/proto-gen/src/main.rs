//! Regenerates the checked-in Rust code of the vendored Envoy protos (rls/src/proto/) with
//! protox (a pure-Rust .proto parser, so no protoc) and tonic-prost-build.
//!
//!   cargo run --manifest-path rls/proto-gen/Cargo.toml -- rls/proto rls/src/proto
//!
//! (`make rls-proto` runs this and fails when the checked-in code differs.)

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let proto_dir = PathBuf::from(args.next().ok_or("usage: rls-proto-gen PROTO_DIR OUT_DIR")?);
    let out_dir = PathBuf::from(args.next().ok_or("usage: rls-proto-gen PROTO_DIR OUT_DIR")?);
    let fds = protox::compile(
        [proto_dir.join("envoy/service/ratelimit/v3/rls.proto")],
        [&proto_dir],
    )?;
    std::fs::create_dir_all(&out_dir)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(&out_dir)
        .include_file("mod.rs")
        .compile_fds(fds)?;
    Ok(())
}
