//! qmail's `qlx.h`: the exit codes with which qmail-lspawn's child (itself,
//! qmail-getpw, or the exec of qmail-local) reports its own trouble, read
//! back by qmail-lspawn. qmail-local's own codes are 0, 100 and 111.

/// qmail-lspawn's child was run improperly.
pub const USAGE: i32 = 112;
/// The user would be root.
pub const ROOT: i32 = 113;
/// A temporary filesystem error (NFS).
pub const NFS: i32 = 115;
/// No alias user.
pub const NOALIAS: i32 = 116;
/// Trouble reading `users/cdb`.
pub const CDB: i32 = 117;
/// A temporary system failure.
pub const SYS: i32 = 118;
/// Out of memory.
pub const NOMEM: i32 = 119;
/// qmail-local could not be run, for now.
pub const EXECSOFT: i32 = 120;
/// qmail-getpw could not be run.
pub const EXECPW: i32 = 121;
/// qmail-local could not be run, for good.
pub const EXECHARD: i32 = 126;

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_qlx_h() {
        use super::*;
        assert_eq!(
            [
                USAGE, ROOT, NFS, NOALIAS, CDB, SYS, NOMEM, EXECSOFT, EXECPW, EXECHARD
            ],
            [112, 113, 115, 116, 117, 118, 119, 120, 121, 126]
        );
    }
}
