//! The Python peers of the veth tests (`tools/tests/peers/`) parse, checked without root:
//! a syntax error in one shows up in plain `cargo test`, not only in the privileged run.

#[test]
fn every_python_peer_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/peers")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "py"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(files.len() >= 9, "peers found: {files:?}");
    // ast.parse compiles without writing __pycache__ into the tree.
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import ast, sys\nfor f in sys.argv[1:]:\n    ast.parse(open(f).read(), f)",
        ])
        .args(&files)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
