//! The committed `src/protocol/messages/` must be exactly what
//! `codegen/generate_messages.py` writes from the Kafka schemas, so nobody hand-edits
//! generated code and the generator never drifts from what ships.

use std::path::{Path, PathBuf};
use std::process::Command;

fn schema_dir(root: &Path) -> Option<PathBuf> {
    let dir = root.join("../shared/kafka-protocol");
    dir.join("ProduceRequest.json").exists().then_some(dir)
}

#[test]
fn generated_messages_match_the_generator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(schemas) = schema_dir(root) else {
        // The schemas live beside the repository (shared/), as in CI.
        assert!(std::env::var_os("CI").is_none(), "CI must have ../shared/kafka-protocol beside the checkout");
        eprintln!("skipped: ../shared/kafka-protocol is not beside this checkout");
        return;
    };
    let out = std::env::temp_dir().join(format!("actix-kafka-codegen-{}", std::process::id()));
    let status = Command::new("python3")
        .arg(root.join("codegen/generate_messages.py"))
        .arg(&schemas)
        .arg(&out)
        .status()
        .expect("python3 runs the generator");
    assert!(status.success(), "the generator failed");

    let committed = root.join("src/protocol/messages");
    let mut names: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    let mut stale = Vec::new();
    for name in &names {
        let fresh = std::fs::read_to_string(out.join(name)).unwrap();
        let have = std::fs::read_to_string(committed.join(name)).unwrap_or_default();
        if fresh != have {
            stale.push(name.to_string_lossy().into_owned());
        }
    }
    let committed_count = std::fs::read_dir(&committed).unwrap().count();
    let _ = std::fs::remove_dir_all(&out);
    assert!(stale.is_empty(), "stale generated files (run python3 codegen/generate_messages.py): {stale:?}");
    assert_eq!(committed_count, names.len(), "src/protocol/messages has files the generator does not write");
}
