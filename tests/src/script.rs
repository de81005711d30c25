//! Stand-in programs for tests: small shell scripts written executable
//! (a recording qmail-queue, a handler for tcpserver, a fake
//! qmail-local).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Write `text` (a whole script, `#!` line included) to `path`, mode
/// 0755; `path` back.
pub fn executable(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    path.to_path_buf()
}

/// Write a `/bin/sh` script running `body` to `path`, mode 0755; `path`
/// back.
pub fn sh(path: &Path, body: &str) -> PathBuf {
    executable(path, &format!("#!/bin/sh\n{body}\n"))
}
