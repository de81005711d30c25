//! How a program of this crate ends: an exit code, maybe a line on
//! stderr. Inside a `.qmail` file the code is what counts: 0 success,
//! 99 success and skip the rest of the file, 100 permanent failure (the
//! message bounces with the text), 111 temporary failure (qmail-send
//! tries again later). qmail-local puts the text in the delivery report.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// The end of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: i32,
    /// Printed on stderr with a newline, when present.
    pub text: Option<Vec<u8>>,
}

impl Outcome {
    /// Exit with `code` and say nothing.
    pub fn quiet(code: i32) -> Outcome {
        Outcome { code, text: None }
    }

    /// Exit with `code` after printing `text`.
    pub fn say(code: i32, text: impl Into<Vec<u8>>) -> Outcome {
        Outcome {
            code,
            text: Some(text.into()),
        }
    }

    /// Print the text and exit: what every `main` ends with.
    pub fn exit(self) -> ! {
        use std::io::Write;
        if let Some(mut t) = self.text {
            t.push(b'\n');
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&t);
            let _ = err.flush();
        }
        std::process::exit(self.code)
    }
}

/// The program's arguments after argv[0], as bytes-preserving OsStrings.
pub fn args() -> Vec<OsString> {
    std::env::args_os().skip(1).collect()
}

/// An environment variable as bytes.
pub fn env(name: &str) -> Option<Vec<u8>> {
    std::env::var_os(name).map(OsStringExt::into_vec)
}
