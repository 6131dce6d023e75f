//! Names from the recording are untrusted: a program whose thread name and function names
//! contain `<`, `&` and `"` is recorded for real, and the flame graph must stay well-formed
//! XML with those names escaped. Needs root, perf and g++.

use std::path::Path;
use std::process::Command;

use unwindbench::analyze::{analyze, AnalyzeOptions};

mod common;

#[test]
fn hostile_names_are_escaped_and_the_svg_stays_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("hostile");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/hostile_names.cc");
    let built = Command::new("g++")
        .args(["-O1", "-g", "-fno-omit-frame-pointer", "-o"])
        .arg(&prog)
        .arg(&src)
        .status()
        .expect("g++ is installed by scripts/setup.sh");
    assert!(built.success());
    let data = dir.path().join("hostile.data");
    let recorded = Command::new("perf")
        .args([
            "record",
            "-q",
            "-e",
            "cpu-clock:u",
            "-F",
            "999",
            "--call-graph",
            "fp",
            "-o",
        ])
        .arg(&data)
        .arg("--")
        .arg(&prog)
        .status()
        .unwrap();
    assert!(recorded.success());

    let out = dir.path().join("out");
    let a = analyze(&AnalyzeOptions::new(data, out.clone())).unwrap();
    assert!(
        a.stacks.contains_key("ev<il&\"name"),
        "{:?}",
        a.stacks.keys()
    );
    let folded = std::fs::read_to_string(out.join("stacks.folded")).unwrap();
    assert!(folded.contains("ev<il&\"name;"), "{folded}");
    assert!(folded.contains("spin_in<Tag&>"), "{folded}");
    // cpp_demangle spells the literal operator `operator_spin::operator ""`: quotes, either way.
    assert!(folded.contains("operator \"\""), "{folded}");

    let svg = std::fs::read_to_string(out.join("flamegraph.svg")).unwrap();
    common::assert_well_formed(&svg, "flamegraph.svg");
    assert!(
        svg.contains("spin_in&lt;Tag&amp;&gt;"),
        "template name escaped"
    );
    assert!(svg.contains("ev&lt;il&amp;"), "thread name escaped");
    assert!(
        svg.contains("operator &quot;&quot;") || svg.contains("operator &#34;&#34;"),
        "quotes escaped"
    );
    assert!(!svg.contains("ev<il"), "no raw thread name in the SVG");
    assert!(
        !svg.contains("spin_in<Tag"),
        "no raw template name in the SVG"
    );
}
