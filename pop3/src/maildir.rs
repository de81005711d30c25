//! qmail-pop3d's Maildir work, relative to the working directory (the
//! Maildir: qmail-pop3d has chdir'd into it).
//!
//! - [`clean_tmp`]: files in `tmp/` not accessed for 36 hours are
//!   leftovers of deliveries that died; qmail removes them at login.
//! - [`scan`]: the message list, fixed for the session: `new/` then
//!   `cur/`, names not starting with `.`, only files whose mtime is
//!   before the current second (a delivery of this second may still be
//!   in progress elsewhere), ordered by mtime.
//! - [`update`]: QUIT's changes, in number order: unlink what was
//!   deleted, move the rest of `new/` to `cur/NAME:2,`.
//! - [`relocate`]: a message found again by its unique name after
//!   another reader moved it (ours; see below).
//!
//! qmail takes no lock, and neither do we: two sessions (or qmail-pop3d
//! and an IMAP server) may read one Maildir at once. qmail then fails a
//! message the other reader merely moved from `new/` to `cur/` (or
//! flagged, renaming it in `cur/`), though it is still there. We look it
//! up by its unique name before giving up, so a message is read,
//! deleted and counted once whoever moved it.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;

use crate::pop3d::Message;

/// qmail's age for a `tmp/` leftover: 36 hours.
pub const TMP_AGE_SECS: i64 = 129_600;

/// Unlink old `tmp/` files; every error is ignored, as in qmail.
pub fn clean_tmp(now: i64) {
    let Ok(dir) = fs::read_dir("tmp") else { return };
    for entry in dir.flatten() {
        let name = entry.file_name();
        if name.as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let path = std::path::Path::new("tmp").join(&name);
        if let Ok(meta) = fs::metadata(&path)
            && now > meta.atime() + TMP_AGE_SECS
        {
            let _ = fs::remove_file(&path);
        }
    }
}

/// The message list at login; an error if `new/` or `cur/` cannot be
/// read.
pub fn scan(now: i64) -> io::Result<Vec<Message>> {
    let mut found: Vec<(i64, Message)> = Vec::new();
    for sub in ["new", "cur"] {
        for entry in fs::read_dir(sub)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                // Maildir names are ASCII; a name that is not even UTF-8
                // was not written by a Maildir deliverer.
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let path = format!("{sub}/{name}");
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if meta.mtime() >= now {
                continue;
            }
            found.push((
                meta.mtime(),
                Message {
                    path,
                    size: meta.size(),
                    deleted: false,
                },
            ));
        }
    }
    // Stable: equal mtimes keep new/ before cur/ and directory order.
    found.sort_by_key(|(mtime, _)| *mtime);
    Ok(found.into_iter().map(|(_, m)| m).collect())
}

/// Where message `m` is now, when its path is gone: `cur/` or `new/`
/// holding its unique name (`UID` or `UID:flags`). `None` if nowhere.
pub fn relocate(m: &Message) -> Option<String> {
    let uid = m.uid();
    for sub in ["cur", "new"] {
        let Ok(dir) = fs::read_dir(sub) else { continue };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let rest = name.strip_prefix(uid);
            if rest.is_some_and(|r| r.is_empty() || r.starts_with(':')) {
                let path = format!("{sub}/{name}");
                if path != m.path {
                    return Some(path);
                }
            }
        }
    }
    None
}

/// Apply QUIT; returns the error lines to send before `+OK `, one per
/// deleted message that could not be unlinked.
pub fn update(messages: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        if m.deleted {
            let gone = fs::remove_file(&m.path).is_ok()
                || relocate(m).is_some_and(|p| fs::remove_file(p).is_ok());
            if !gone {
                out.extend_from_slice(b"-ERR unable to unlink all deleted messages\r\n");
            }
        } else if let Some(name) = m.path.strip_prefix("new/") {
            // qmail appends ":2," whatever the name holds; a failure is
            // ignored (the message stays in new/ and is seen next time).
            let _ = fs::rename(&m.path, format!("cur/{name}:2,"));
        }
    }
    out
}
