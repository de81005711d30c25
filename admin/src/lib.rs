//! qmail 1.03's admin tools, around the control files and mailboxes.
//!
//! Where things are:
//! - [`newmrh`]: `control/morercpthosts` -> `morercpthosts.cdb`.
//! - [`showctl`]: every control file, its value or its default, in
//!   qmail-showctl's words.
//! - [`pw2u`]: a passwd file -> `users/assign`.
//! - [`maildir`]: scanning a Maildir as qmail's `maildir.c` does.
//! - [`maildir2mbox`]: moving a Maildir's messages into an mbox.
//! - [`maildirwatch`]: the summary screen of new messages.

#![forbid(unsafe_code)]

pub mod maildir;
pub mod maildir2mbox;
pub mod maildirwatch;
pub mod newmrh;
pub mod pw2u;
pub mod showctl;

/// A fatal error: the message (with the program's `fatal:` prefix) and
/// the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    pub code: i32,
    pub text: String,
}

impl Fatal {
    pub fn new(code: i32, text: impl Into<String>) -> Fatal {
        Fatal {
            code,
            text: text.into(),
        }
    }

    /// Print the message and exit with the code.
    pub fn exit(self) -> ! {
        eprintln!("{}", self.text);
        std::process::exit(self.code)
    }
}
