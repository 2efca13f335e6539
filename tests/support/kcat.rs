//! Running kcat on either librdkafka, with a timeout.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use super::peers::Librdkafka;
use super::process::{slurp, ChildGuard};

/// How long one kcat run may take before it is killed and the test fails.
pub const KCAT_TIMEOUT: Duration = Duration::from_secs(40);

/// Runs `kcat ARGS` on librdkafka `lib` (2.16 through `LD_LIBRARY_PATH`), feeding it
/// `stdin`, and returns its output whatever its exit status.
///
/// # Panics
///
/// When kcat cannot be started or runs longer than [`KCAT_TIMEOUT`].
pub fn kcat(lib: Librdkafka, args: &[&str], stdin: &[u8]) -> Output {
    let mut command = Command::new("kcat");
    command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(dir) = lib.library_dir() {
        command.env("LD_LIBRARY_PATH", dir);
    }
    let mut child = ChildGuard(command.spawn().unwrap_or_else(|e| panic!("cannot run kcat: {e}")));
    let input = child.0.stdin.take().map(|mut pipe| {
        let bytes = stdin.to_vec();
        // kcat may exit before it has read everything (it is then an error we report
        // through its status), so a broken pipe here is not itself a failure.
        thread::spawn(move || pipe.write_all(&bytes))
    });
    let stdout = slurp(child.0.stdout.take().expect("piped stdout"));
    let stderr = slurp(child.0.stderr.take().expect("piped stderr"));
    let status = child.wait_timeout(KCAT_TIMEOUT);
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    if let Some(input) = input {
        let _written: std::io::Result<()> = input.join().expect("stdin writer");
    }
    let Some(status) = status else {
        panic!(
            "kcat {args:?} ({}) ran over {KCAT_TIMEOUT:?} and was killed; stderr:\n{}",
            lib.label(),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output { status, stdout, stderr }
}

/// Like [`kcat`], and panics unless kcat exits successfully.
pub fn kcat_ok(lib: Librdkafka, args: &[&str], stdin: &[u8]) -> Output {
    let output = kcat(lib, args, stdin);
    assert!(
        output.status.success(),
        "kcat {args:?} ({}) failed with {}; stderr:\n{}",
        lib.label(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
