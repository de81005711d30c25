//! `instcheck`: compare a home with [`crate::hier`] and the queue with a
//! fresh one made by `queue::layout::create`, so the queue's owners and
//! modes have one source of truth. Each problem is one line in the
//! original's words (`/var/qmail/bin/qmail-queue has wrong permissions`);
//! the caller prefixes `instcheck: warning: `.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::hier::{self, Content, Owners};

/// The file types instcheck tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Dir,
    File,
    Fifo,
    Other,
}

fn type_of(meta: &fs::Metadata) -> Type {
    let t = meta.file_type();
    if t.is_dir() {
        Type::Dir
    } else if t.is_file() {
        Type::File
    } else if t.is_fifo() {
        Type::Fifo
    } else {
        Type::Other
    }
}

/// What one entry should be.
struct Want {
    kind: Type,
    uid: u32,
    gid: u32,
    mode: u32,
}

/// Check one path; push the problems found.
fn perm(path: &Path, want: Option<&Want>, problems: &mut Vec<String>) {
    let shown = path.display();
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            problems.push(format!("{shown} does not exist"));
            return;
        }
        Err(e) => {
            problems.push(format!("unable to stat {shown}: {}", sys::describe(&e)));
            return;
        }
    };
    let Some(want) = want else { return };
    if meta.uid() != want.uid {
        problems.push(format!("{shown} has wrong owner"));
    }
    if meta.gid() != want.gid {
        problems.push(format!("{shown} has wrong group"));
    }
    if meta.mode() & 0o7777 != want.mode {
        problems.push(format!("{shown} has wrong permissions"));
    }
    if type_of(&meta) != want.kind {
        problems.push(format!("{shown} has wrong type"));
    }
}

/// Every problem of the home at `home`, installed for `owners`; empty
/// when all is well.
pub fn check(home: &Path, owners: &Owners) -> Vec<String> {
    let mut problems = Vec::new();
    for entry in hier::entries(owners.system) {
        let path = home.join(&entry.path);
        let path = if entry.path.is_empty() {
            home.to_path_buf()
        } else {
            path
        };
        let kind = match entry.content {
            Content::Dir => Type::Dir,
            _ => Type::File,
        };
        let want = Want {
            kind,
            uid: owners.uid(entry.owner),
            gid: owners.group,
            mode: owners.mode(entry.mode),
        };
        // The admin's files only need to exist.
        let want = (!matches!(entry.content, Content::Keep(_))).then_some(&want);
        perm(&path, want, &mut problems);
    }
    check_qmail_queue_home(home, &mut problems);
    check_queue(&home.join("queue"), owners, &mut problems);
    problems
}

/// Set-id, qmail-queue works in the home fixed in it (`queue::home`),
/// which must be this one: a copy installed by hand keeps the home it was
/// built or installed with.
fn check_qmail_queue_home(home: &Path, problems: &mut Vec<String>) {
    let path = home.join("bin/qmail-queue");
    let Ok(bytes) = fs::read(&path) else {
        return; // perm() has said what is wrong with it
    };
    let want = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
    match queue::home::fixed_in(&bytes) {
        Ok(h) if h == want => {}
        Ok(h) => problems.push(format!(
            "{} has the wrong home fixed in it ({})",
            path.display(),
            h.display()
        )),
        Err(e) => problems.push(format!("{}: {e}", path.display())),
    }
}

/// Compare the queue with a reference one built in a temporary folder.
fn check_queue(queue: &Path, owners: &Owners, problems: &mut Vec<String>) {
    let reference = match make_reference(owners) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!(
                "unable to build a reference queue: {}",
                sys::describe(&e)
            ));
            return;
        }
    };
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let want_path = reference.path().join("queue").join(&rel);
        let Ok(meta) = fs::symlink_metadata(&want_path) else {
            continue;
        };
        let want = Want {
            kind: type_of(&meta),
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
        };
        let path = if rel.as_os_str().is_empty() {
            queue.to_path_buf()
        } else {
            queue.join(&rel)
        };
        perm(&path, Some(&want), problems);
        if want.kind == Type::File
            && let Ok(m) = fs::metadata(&path)
            && m.len() < meta.len()
        {
            problems.push(format!("{} is too short", path.display()));
        }
        if want.kind == Type::Dir && path.is_dir() {
            let mut names: Vec<_> = fs::read_dir(&want_path)
                .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
                .unwrap_or_default();
            // Reverse order on the stack: checked in name order.
            names.sort_by(|a, b| b.cmp(a));
            for name in names {
                stack.push(rel.join(name));
            }
        }
    }
}

fn make_reference(owners: &Owners) -> io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("qmail-setup-check")
        .tempdir()?;
    queue::layout::create(&dir.path().join("queue"), Some(&owners.ids))?;
    Ok(dir)
}
