//! Compiles the variadic exec hooks (C) and exports them through a version script.
fn main() {
    println!("cargo:rerun-if-changed=src/variadic.c");
    println!("cargo:rerun-if-changed=src/personality.c");
    println!("cargo:rerun-if-changed=hooks.map");
    cc::Build::new()
        .file("src/variadic.c")
        .file("src/personality.c")
        .flag("-fvisibility=hidden")
        .warnings(true)
        .compile("guard_variadic");
    let map = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks.map");
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
        map.display()
    );
}
