//! sendmail: the interface programs expect, on top of qmail-inject.

use std::os::unix::process::CommandExt;
use std::process::Command;

use inject::sendmail::{self, Plan, os};

fn fatal(code: i32, text: &str) -> ! {
    eprintln!("sendmail: fatal: {text}");
    std::process::exit(code);
}

fn main() {
    let home = control::Home::from_env();
    if std::env::set_current_dir(home.root()).is_err() {
        fatal(111, "unable to switch to qmail home directory");
    }
    let err = match sendmail::plan_from_env() {
        Plan::Usage => {
            eprintln!("{}", sendmail::USAGE);
            std::process::exit(100);
        }
        Plan::Newaliases => fatal(100, "please use fastforward/newaliases instead"),
        Plan::Mailq => {
            let e = Command::new("bin/qmail-qread").exec();
            let _ = e;
            fatal(111, "unable to run qmail-qread");
        }
        Plan::Smtpd { set } => {
            let mut c = Command::new("bin/qmail-smtpd");
            for (k, v) in set {
                c.env(k, os(&v));
            }
            let _ = c.exec();
            fatal(111, "unable to run qmail-smtpd");
        }
        Plan::Inject { args, unset, set } => {
            let mut c = Command::new("bin/qmail-inject");
            c.args(args.iter().map(|a| os(a)));
            for k in unset {
                c.env_remove(k);
            }
            for (k, v) in set {
                c.env(k, os(&v));
            }
            c.exec()
        }
    };
    let _ = err;
    fatal(111, "unable to run qmail-inject");
}
