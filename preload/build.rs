//! Compiles the variadic exec hooks (C) and exports them through a version script.
fn main() {
    println!("cargo:rerun-if-changed=src/variadic.c");
    println!("cargo:rerun-if-changed=src/personality.c");
    println!("cargo:rerun-if-changed=src/resolv.c");
    println!("cargo:rerun-if-changed=hooks.map");
    cc::Build::new()
        .file("src/variadic.c")
        .file("src/personality.c")
        .file("src/resolv.c")
        .flag("-fvisibility=hidden")
        .warnings(true)
        .compile("guard_variadic");
    // Nothing in the Rust code refers to variadic.c (it calls into Rust, not the other way),
    // so its archive member would be left out of the link: ask for its three hooks by name.
    for hook in ["execl", "execle", "execlp"] {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--undefined={hook}");
    }
    let map = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks.map");
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
        map.display()
    );
}
