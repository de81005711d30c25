//! Program delivery (qmail-command.8): `|command` lines run by
//! `/bin/sh -c` in the home directory, the message on stdin, and the exit
//! code saying what happened.

/// What a program's exit code means to qmail-local.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: delivered; go on with the next line.
    Ok,
    /// 99: delivered; ignore the lines after this one.
    Stop,
    /// 100, and the sysexits codes qmail treats as permanent (64, 65, 70,
    /// 76, 77, 78, 112): bounce.
    Permanent,
    /// Anything else: try again later.
    Temporary,
}

/// qmail-local's reading of a program's exit code.
pub fn outcome(code: i32) -> Outcome {
    match code {
        0 => Outcome::Ok,
        99 => Outcome::Stop,
        100 | 64 | 65 | 70 | 76 | 77 | 78 | 112 => Outcome::Permanent,
        _ => Outcome::Temporary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(outcome(0), Outcome::Ok);
        assert_eq!(outcome(99), Outcome::Stop);
        for c in [100, 64, 65, 70, 76, 77, 78, 112] {
            assert_eq!(outcome(c), Outcome::Permanent, "{c}");
        }
        for c in [1, 2, 75, 111, 101, 255] {
            assert_eq!(outcome(c), Outcome::Temporary, "{c}");
        }
    }
}
