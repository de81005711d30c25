//! What qmail-run adds at first start for TLS and AUTH: a self-signed
//! certificate in `control/servercert.pem` (so qmail-smtpd offers
//! STARTTLS) and `control/passwd` with one user, [`home::USER`], and a
//! random password said once (so AUTH works through checkpassword's
//! password file mode). Existing files are never touched: replace the
//! certificate with a real one, edit the users (checkpassword(8)).

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::home::{self, Layout};
use crate::{Context, Error};

/// The file qmail-smtpd's checkpassword reads (relative to the home).
pub const PASSWD: &str = "control/passwd";

/// Write `bytes` to a new file `path`, mode 0600; false if it exists.
fn create_private(path: &Path, bytes: &[u8]) -> Result<bool, Error> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    if path.exists() {
        return Ok(false);
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .ctx(|| format!("create {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .ctx(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, path).ctx(|| format!("rename {}", tmp.display()))?;
    Ok(true)
}

/// `n` characters from the alphabet, from /dev/urandom.
fn random_text(n: usize, alphabet: &[u8]) -> io::Result<String> {
    let mut raw = vec![0u8; n];
    fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    // 256 is not a multiple of every alphabet's size; the small bias is
    // harmless for a first-start password the user is told to change.
    Ok(raw
        .iter()
        .map(|&b| alphabet[b as usize % alphabet.len()] as char)
        .collect())
}

/// Make what is missing; `say` hears what is made, the password included.
pub fn first_start(layout: &Layout, say: &mut dyn FnMut(&str)) -> Result<(), Error> {
    let control = layout.home.join("control");
    let cert = control.join("servercert.pem");
    if !cert.exists() {
        let c = rcgen::generate_simple_self_signed(vec![
            home::HOST.to_string(),
            home::ALSO_LOCAL.to_string(),
        ])
        .map_err(|e| Error::Other(format!("make a certificate: {e}")))?;
        let pem = format!("{}{}", c.cert.pem(), c.signing_key.serialize_pem());
        if create_private(&cert, pem.as_bytes())? {
            say(&format!(
                "made a self-signed certificate for {} in control/servercert.pem: STARTTLS is on",
                home::HOST
            ));
        }
    }
    let passwd = layout.home.join(PASSWD);
    if !passwd.exists() {
        let alnum = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let password = random_text(16, alnum).ctx(|| "read /dev/urandom".into())?;
        let salt = random_text(
            16,
            b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        )
        .ctx(|| "read /dev/urandom".into())?;
        let hash =
            checkpassword::crypt::hash(password.as_bytes(), format!("$6${salt}$").as_bytes())
                .ok_or_else(|| Error::Other("crypt(3) has no sha512-crypt".into()))?;
        let mut text = format!(
            "# user:crypt-hash[:home], see checkpassword(8); made by qmail-run\n{}:",
            home::USER
        )
        .into_bytes();
        text.extend_from_slice(&hash);
        text.push(b'\n');
        if create_private(&passwd, &text)? {
            say(&format!(
                "made {PASSWD}: SMTP AUTH user {} password {password} (shown only now)",
                home::USER
            ));
        }
    }
    Ok(())
}
