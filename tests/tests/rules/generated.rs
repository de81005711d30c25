//! 1,000 generated rules files (seeded, every 0.88 form mixed, one in
//! ten with a line 0.88 refuses): our tcprules and Debian's must write
//! the same cdb bytes, or fail with the same message and exit code; then
//! our tcprulescheck and Debian's must print the same for ten clients
//! those rules name, on every twentieth file.

use super::support::*;

const FILES: u64 = 1000;

#[test]
fn generated_rules_files_compile_and_check_identically() {
    let Some((ours, our_check, deb, deb_check)) = both() else {
        return;
    };
    let dir = scratch_dir();
    let seeds: Vec<u64> = (1..=FILES).collect();
    let results = par_map(&seeds, |_, &seed| {
        let g = generate(seed, seed % 10 == 3);
        let a = compile(&ours, dir.path(), &format!("o{seed}"), &g.text);
        let b = compile(&deb, dir.path(), &format!("d{seed}"), &g.text);
        let mut bad = Vec::new();
        let mut outputs: Vec<Vec<u8>> = Vec::new();
        if (a.code, &a.stderr) != (b.code, &b.stderr) {
            bad.push(format!(
                "seed {seed}: exit/stderr ours {:?} {:?}, Debian's {:?} {:?}",
                a.code,
                show(&a.stderr),
                b.code,
                show(&b.stderr)
            ));
        }
        if a.cdb != b.cdb {
            bad.push(format!("seed {seed}: cdb bytes differ"));
        }
        // On error the target is absent (never made) and, unlike 0.88,
        // our temporary file is gone.
        if a.code != Some(0) && (a.cdb.is_some() || a.tmp_left) {
            bad.push(format!("seed {seed}: ours left a cdb or temp on error"));
        }
        if a.code == Some(0) && seed % 20 == 0 {
            let (oc, dc) = (
                dir.path().join(format!("o{seed}.cdb")),
                dir.path().join(format!("d{seed}.cdb")),
            );
            for env in &g.clients {
                let env: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let x = check(&our_check, &oc, &env);
                let y = check(&deb_check, &dc, &env);
                outputs.push(y.1.clone());
                if x != y {
                    bad.push(format!(
                        "seed {seed} {env:?}: ours {:?} {:?}, Debian's {:?} {:?}",
                        x.0,
                        show(&x.1),
                        y.0,
                        show(&y.1)
                    ));
                }
            }
        }
        (bad, a.code, outputs)
    });
    let failures: Vec<&String> = results.iter().flat_map(|r| &r.0).collect();
    assert!(
        failures.is_empty(),
        "{}",
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The comparison must have seen both outcomes and every kind of answer.
    let refused = results.iter().filter(|r| r.1 == Some(100)).count();
    assert!((80..=120).contains(&refused), "{refused} files refused");
    let outputs: Vec<String> = results.iter().flat_map(|r| &r.2).map(|o| show(o)).collect();
    assert!(outputs.len() >= 400, "only {} checks", outputs.len());
    for kind in [
        "deny connection",
        "allow connection",
        "set environment variable",
        "rule :\n",
        "rule =:\n",
        "rule =h",
        "rule =.d",
        "@",
        ".:\n",
    ] {
        assert!(
            outputs.iter().any(|o| o.contains(kind)),
            "no tcprulescheck output with {kind:?}"
        );
    }
}

#[test]
fn the_generator_covers_every_form() {
    // The comparison above is only as good as its input: check that the
    // files really contain each form and some refused lines.
    let mut all = Vec::new();
    for seed in 1..=FILES {
        all.extend_from_slice(&generate(seed, seed % 10 == 3).text);
        all.push(b'\n');
    }
    let text = String::from_utf8_lossy(&all);
    for needle in [
        ".:allow",
        ".:deny",
        "-",
        "=h",
        "=.d",
        "\n=:",
        "\n:",
        "@=h",
        "\n@",
        "u1@",
        ",X=",
        "\"",
        "'",
        "/",
        "|",
        "# a comment",
        "without any colon",
        "=Host",
        "9-7",
        "007-009",
        "250-300",
        "allowx",
        "\r",
        "a:b:allow",
        " \t ",
        "\n ",
        "\t",
    ] {
        assert!(
            text.contains(needle),
            "no {needle:?} in the generated files"
        );
    }
}
