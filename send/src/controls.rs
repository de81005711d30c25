//! qmail-send's control files (qmail-send.8), read at start; `locals` and
//! `virtualdomains` again on SIGHUP.

use std::io;

use control::{ConstMap, Home};

use crate::bounce::BounceConfig;
use crate::rewrite::Rewriter;

/// Everything qmail-send reads from `control/`.
#[derive(Debug, Clone)]
pub struct Controls {
    /// `queuelifetime`, seconds; default a week.
    pub lifetime: i64,
    /// `concurrencylocal`, `concurrencyremote`: 10 and 20.
    pub concurrency: [u32; 2],
    pub rewrite: Rewriter,
    pub bounce: BounceConfig,
}

/// A line file with qmail's `control_rldef`: the file, else `me` when
/// `flagme`, else `def`.
fn line_or(home: &Home, name: &str, flagme: bool, def: &[u8]) -> io::Result<Vec<u8>> {
    if let Some(l) = home.line(name)? {
        return Ok(l);
    }
    if flagme && let Some(me) = home.me()? {
        return Ok(me);
    }
    Ok(def.to_vec())
}

/// `locals`, or `me` when it is missing; neither is an error.
fn locals(home: &Home) -> io::Result<ConstMap> {
    let list = match home.list("locals")? {
        Some(l) => l,
        None => match home.me()? {
            Some(me) => vec![me],
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "neither control/locals nor control/me",
                ));
            }
        },
    };
    Ok(ConstMap::from_list(&list))
}

fn vdoms(home: &Home) -> io::Result<ConstMap> {
    Ok(ConstMap::from_pairs(
        &home.list("virtualdomains")?.unwrap_or_default(),
    ))
}

impl Controls {
    /// Read them all; any error (other than a missing optional file)
    /// means qmail-send does not start.
    pub fn read(home: &Home) -> io::Result<Controls> {
        let int = |name, def: u64| -> io::Result<u64> { Ok(home.int(name)?.unwrap_or(def)) };
        let lifetime = int("queuelifetime", 604_800)?.min(i64::MAX as u64) as i64;
        let concurrency = [
            int("concurrencylocal", 10)?.min(u64::from(u32::MAX)) as u32,
            int("concurrencyremote", 20)?.min(u64::from(u32::MAX)) as u32,
        ];
        let envnoathost = line_or(home, "envnoathost", true, b"envnoathost")?;
        let from = line_or(home, "bouncefrom", false, b"MAILER-DAEMON")?;
        let host = line_or(home, "bouncehost", true, b"bouncehost")?;
        let dbhost = line_or(home, "doublebouncehost", true, b"doublebouncehost")?;
        let mut double_to = line_or(home, "doublebounceto", false, b"postmaster")?;
        double_to.push(b'@');
        double_to.extend_from_slice(&dbhost);
        let percenthack = ConstMap::from_list(&home.list("percenthack")?.unwrap_or_default());
        Ok(Controls {
            lifetime,
            concurrency,
            rewrite: Rewriter {
                locals: locals(home)?,
                vdoms: vdoms(home)?,
                percenthack,
                envnoathost,
            },
            bounce: BounceConfig {
                from,
                host,
                double_to,
            },
        })
    }

    /// SIGHUP: `locals` and `virtualdomains` again. On error the old
    /// tables stay and the error names the file.
    pub fn reread(&mut self, home: &Home) -> Result<(), &'static str> {
        let l = locals(home).map_err(|_| "alert: unable to reread control/locals\n")?;
        let v = vdoms(home).map_err(|_| "alert: unable to reread control/virtualdomains\n")?;
        self.rewrite.locals = l;
        self.rewrite.vdoms = v;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_me() {
        let d = tempfile::tempdir().unwrap();
        let home = Home::new(d.path());
        std::fs::create_dir(d.path().join("control")).unwrap();
        assert!(Controls::read(&home).is_err(), "no locals, no me");
        std::fs::write(d.path().join("control/me"), "mx.example.com\n").unwrap();
        let c = Controls::read(&home).unwrap();
        assert_eq!(c.lifetime, 604_800);
        assert_eq!(c.concurrency, [10, 20]);
        assert_eq!(c.rewrite.envnoathost, b"mx.example.com");
        assert!(c.rewrite.locals.contains(b"MX.example.com"));
        assert_eq!(c.bounce.from, b"MAILER-DAEMON");
        assert_eq!(c.bounce.host, b"mx.example.com");
        assert_eq!(c.bounce.double_to, b"postmaster@mx.example.com");
        std::fs::write(d.path().join("control/queuelifetime"), "3600\n").unwrap();
        std::fs::write(d.path().join("control/doublebounceto"), "admin\n").unwrap();
        std::fs::write(d.path().join("control/locals"), "a.example\n").unwrap();
        let mut c = Controls::read(&home).unwrap();
        assert_eq!(c.lifetime, 3600);
        assert_eq!(c.bounce.double_to, b"admin@mx.example.com");
        assert!(!c.rewrite.locals.contains(b"mx.example.com"));
        std::fs::write(d.path().join("control/locals"), "b.example\n").unwrap();
        std::fs::write(d.path().join("control/virtualdomains"), "v.example:joe\n").unwrap();
        c.reread(&home).unwrap();
        assert!(c.rewrite.locals.contains(b"b.example"));
        assert_eq!(c.rewrite.vdoms.get(b"v.example"), Some(&b"joe"[..]));
    }
}
