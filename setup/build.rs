//! Embeds the man pages (`../man`), the boot files (`../boot`) and the
//! ucspi-tcp client scripts (`../ucspi-tools/scripts`) into the setup
//! library, so `qmail-setup` installs them from the binary alone.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn files(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if path.is_dir() {
            files(&path, &rel, out);
        } else if path.is_file() {
            out.push((rel, path));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let root = manifest.parent().expect("workspace").to_path_buf();
    let mut code = String::new();
    for (name, dir) in [
        ("MAN_PAGES", "man"),
        ("BOOT_FILES", "boot"),
        ("SCRIPTS", "ucspi-tools/scripts"),
    ] {
        let dir = root.join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut list = Vec::new();
        files(&dir, "", &mut list);
        writeln!(code, "pub static {name}: &[Embedded] = &[").unwrap();
        for (rel, path) in list {
            let exec = std::fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false);
            writeln!(
                code,
                "    Embedded {{ path: {rel:?}, bytes: include_bytes!({:?}), exec: {exec} }},",
                path.display().to_string()
            )
            .unwrap();
        }
        writeln!(code, "];").unwrap();
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("out dir"));
    std::fs::write(out.join("embedded.rs"), code).expect("write embedded.rs");
}
