//! What `actix-kafka perf` measures and how it says it: the per-record latency
//! histogram, the progress display, CPU time and peak memory from `/proc`, and the
//! final summary as text or as one JSON line.

use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The slowest latency the histogram tells apart: one hour, in microseconds.
const MAX_LATENCY_MICROS: u64 = 3_600_000_000;
/// Distinct error messages kept; the rest are counted together.
const ERRORS_KEPT: usize = 5;
/// Kafka's tools count a MB as 1024 × 1024 bytes; so do we.
const MB: f64 = 1024.0 * 1024.0;

/// Counts and latencies of the records answered so far.
#[derive(Debug)]
pub(crate) struct Recorder {
    latency: Histogram<u64>,
    ok: u64,
    failed: u64,
    errors: BTreeMap<String, u64>,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        // Bounds are constants within hdrhistogram's limits: this cannot fail.
        let latency = Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3).expect("constant histogram bounds");
        Self { latency, ok: 0, failed: 0, errors: BTreeMap::new() }
    }

    /// One acknowledged record, `latency` after it was sent.
    pub(crate) fn ok(&mut self, latency: Duration) {
        self.ok_many(1, latency);
    }

    /// `count` acknowledged records that took `latency` each (the records of one
    /// `ProduceBatch`, answered together).
    pub(crate) fn ok_many(&mut self, count: u64, latency: Duration) {
        if count == 0 {
            return;
        }
        self.ok += count;
        // Clamped into the histogram's range, as `saturating_record` does for one.
        let value = micros(latency).clamp(1, self.latency.high());
        if let Err(e) = self.latency.record_n(value, count) {
            tracing::debug!(%e, "latency not recorded");
        }
    }

    /// `count` acknowledged records whose latency is not known (a delivery report
    /// that does not say which record it is for).
    pub(crate) fn ok_untimed(&mut self, count: u64) {
        self.ok += count;
    }

    /// `count` records that failed with `error`.
    pub(crate) fn failed(&mut self, count: u64, error: &dyn fmt::Display) {
        self.failed += count;
        let message = error.to_string();
        let key = if self.errors.len() < ERRORS_KEPT || self.errors.contains_key(&message) {
            message
        } else {
            "other errors".to_owned()
        };
        *self.errors.entry(key).or_default() += count;
    }

    /// Records answered, acknowledged or not.
    pub(crate) fn done(&self) -> u64 {
        self.ok + self.failed
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failed
    }

    /// Error message → records that failed with it.
    pub(crate) fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Latency percentiles in milliseconds; `None` when no record was timed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Latency {
    pub(crate) avg: f64,
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

impl Latency {
    fn of(histogram: &Histogram<u64>) -> Option<Latency> {
        if histogram.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1e3;
        Some(Latency {
            avg: histogram.mean() / 1e3,
            p50: ms(histogram.value_at_quantile(0.50)),
            p95: ms(histogram.value_at_quantile(0.95)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        })
    }
}

/// The final numbers of one run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary {
    /// What ran: `produce:batch`, `produce:send`, ...
    pub(crate) what: String,
    pub(crate) records: u64,
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) record_size: usize,
    pub(crate) seconds: f64,
    pub(crate) latency: Option<Latency>,
    /// The client's CPU time: the process's, less the embedded broker's threads.
    pub(crate) cpu_seconds: Option<f64>,
    /// The embedded broker's CPU time, when it ran in this process.
    pub(crate) broker_cpu_seconds: Option<f64>,
    /// The process's peak resident set size (`VmHWM`) when the run ended, start-up
    /// included. With an embedded cluster in the process it counts the broker's stored
    /// log as well: measure the client's memory against a broker in another process.
    pub(crate) peak_rss_bytes: Option<u64>,
}

impl Summary {
    pub(crate) fn new(what: String, records: u64, record_size: usize, recorder: &Recorder, seconds: f64) -> Self {
        Summary {
            what,
            records,
            ok: recorder.ok,
            failed: recorder.failed,
            record_size,
            seconds,
            latency: Latency::of(&recorder.latency),
            cpu_seconds: None,
            broker_cpu_seconds: None,
            // Read here, at the end of the run, so that every subcommand reports it.
            peak_rss_bytes: peak_rss_bytes(),
        }
    }

    pub(crate) fn records_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub(crate) fn mb_per_sec(&self) -> f64 {
        self.records_per_sec() * self.record_size as f64 / MB
    }

    /// CPU microseconds per acknowledged record.
    pub(crate) fn cpu_us_per_record(&self) -> Option<f64> {
        self.cpu_seconds.filter(|_| self.ok > 0).map(|cpu| cpu * 1e6 / self.ok as f64)
    }

    /// The human summary, a few lines.
    pub(crate) fn text(&self) -> String {
        let mut out = format!(
            "{}: {} records ({} ok, {} failed) of {} B in {:.3} s: {:.0} records/s, {:.2} MB/s",
            self.what,
            self.records,
            self.ok,
            self.failed,
            self.record_size,
            self.seconds,
            self.records_per_sec(),
            self.mb_per_sec()
        );
        match &self.latency {
            Some(l) => {
                out.push_str(&format!(
                    "\nlatency ms: avg {:.2}, p50 {:.2}, p95 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2}",
                    l.avg, l.p50, l.p95, l.p99, l.p999, l.max
                ));
            }
            None => out.push_str("\nlatency: not measured"),
        }
        if let (Some(cpu), Some(per_record)) = (self.cpu_seconds, self.cpu_us_per_record()) {
            out.push_str(&format!("\nclient cpu: {cpu:.3} s, {per_record:.3} µs per record"));
        }
        if let Some(broker) = self.broker_cpu_seconds {
            out.push_str(&format!(" (embedded broker: {broker:.3} s more)"));
        }
        if let Some(bytes) = self.peak_rss_bytes {
            out.push_str(&format!("\npeak RSS: {:.1} MiB", bytes as f64 / MB));
        }
        out
    }

    /// One JSON object on one line; absent measurements are `null`.
    pub(crate) fn json(&self) -> String {
        let number =
            |value: Option<f64>| value.filter(|v| v.is_finite()).map_or("null".to_owned(), |v| format!("{v:.6}"));
        let latency = |pick: fn(&Latency) -> f64| number(self.latency.as_ref().map(pick));
        format!(
            concat!(
                "{{\"what\":\"{}\",\"records\":{},\"ok\":{},\"failed\":{},\"record_size\":{},\"seconds\":{},",
                "\"records_per_sec\":{},\"mb_per_sec\":{},\"latency_avg_ms\":{},\"p50_ms\":{},\"p95_ms\":{},",
                "\"p99_ms\":{},\"p999_ms\":{},\"max_ms\":{},\"cpu_seconds\":{},\"cpu_us_per_record\":{},",
                "\"broker_cpu_seconds\":{},\"peak_rss_bytes\":{}}}"
            ),
            self.what.escape_default(),
            self.records,
            self.ok,
            self.failed,
            self.record_size,
            number(Some(self.seconds)),
            number(Some(self.records_per_sec())),
            number(Some(self.mb_per_sec())),
            latency(|l| l.avg),
            latency(|l| l.p50),
            latency(|l| l.p95),
            latency(|l| l.p99),
            latency(|l| l.p999),
            latency(|l| l.max),
            number(self.cpu_seconds),
            number(self.cpu_us_per_record()),
            number(self.broker_cpu_seconds),
            self.peak_rss_bytes.map_or("null".to_owned(), |bytes| bytes.to_string()),
        )
    }
}

/// Progress while the run goes: a bar on a terminal, else a plain line every
/// [`PLAIN_EVERY`] on stderr (scripts and CI logs see that something moves); nothing
/// with `quiet` (`--json`, where stdout is for the summary and stderr stays clean).
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    started: Instant,
    last_line: Instant,
}

/// How often the plain progress line comes.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

impl Progress {
    pub(crate) fn new(total: u64, quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template = "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} records ({per_sec}) {msg}";
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        let now = Instant::now();
        Progress { bar, plain: !quiet && !terminal, started: now, last_line: now }
    }

    /// Shows `done` answered records, `failed` of them failed.
    pub(crate) fn update(&mut self, done: u64, failed: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            if failed > 0 {
                bar.set_message(format!("{failed} failed"));
            }
        } else if self.plain && self.last_line.elapsed() >= PLAIN_EVERY {
            self.last_line = Instant::now();
            let seconds = self.started.elapsed().as_secs_f64();
            let rate = if seconds > 0.0 { done as f64 / seconds } else { 0.0 };
            eprintln!("perf: {done} records answered ({failed} failed) in {seconds:.1} s, {rate:.0} records/s");
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The CPU time (user + system) of this process so far, all threads, from
/// `/proc/self/stat`; `None` where there is no such file.
pub(crate) fn process_cpu_seconds() -> Option<f64> {
    stat_cpu_seconds(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// The CPU time of one thread of this process, by its kernel thread id.
pub(crate) fn thread_cpu_seconds(tid: u32) -> Option<f64> {
    stat_cpu_seconds(&std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?)
}

/// The kernel ids of this process's threads now; empty where `/proc` is missing.
pub(crate) fn thread_ids() -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    tasks.filter_map(|task| task.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// The peak resident set size of this process so far, from `/proc/self/status`;
/// `None` where there is no such file.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    status_peak_rss_bytes(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// The `VmHWM` ("high water mark") line of a `status` file, in bytes: the kernel
/// keeps the peak itself, so no sampling can miss a short spike.
fn status_peak_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|line| line.strip_prefix("VmHWM:"))?;
    let mut fields = line.split_whitespace();
    let kib: u64 = fields.next()?.parse().ok()?;
    // The unit is always kB (KiB) in Linux's status files; refuse anything else.
    (fields.next()? == "kB").then(|| kib.saturating_mul(1024))
}

/// utime + stime of a `stat` line, in seconds. The clock tick of `/proc` is USER_HZ,
/// which Linux fixes at 100 for user space.
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces: count the
    // fields after its closing parenthesis. utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stat_line_gives_user_plus_system_time() {
        let line = "4242 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 200 300";
        assert_eq!(stat_cpu_seconds(line), Some(3.0));
        assert_eq!(stat_cpu_seconds("garbage"), None);
        assert!(process_cpu_seconds().is_some_and(|cpu| cpu >= 0.0));
        // Other test threads come and go while this runs; the main thread (its id is
        // the process id) stays.
        let main = std::process::id();
        assert!(thread_ids().contains(&main));
        assert!(thread_cpu_seconds(main).is_some());
    }

    #[test]
    fn the_status_file_gives_the_peak_rss() {
        let status = "Name:\tactix-kafka\nVmPeak:\t  900000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(status_peak_rss_bytes(status), Some(51234 * 1024));
        assert_eq!(status_peak_rss_bytes("Name:\tx\nVmRSS:\t 1 kB\n"), None);
        assert_eq!(status_peak_rss_bytes("VmHWM:\t12 pages\n"), None);
        assert_eq!(status_peak_rss_bytes("VmHWM:\t\n"), None);
        // This test process has touched some memory: at least a page, under a TiB.
        assert!(peak_rss_bytes().is_some_and(|bytes| (4096..1 << 40).contains(&bytes)));
    }

    #[test]
    fn records_answered_together_count_each_at_their_latency() {
        let mut recorder = Recorder::new();
        recorder.ok_many(999, Duration::from_millis(2));
        recorder.ok_many(0, Duration::from_secs(1));
        recorder.ok(Duration::from_millis(40));
        recorder.ok_many(1, Duration::from_secs(1 << 40));
        assert_eq!((recorder.ok, recorder.latency.len()), (1001, 1001));
        assert_eq!(recorder.latency.value_at_quantile(0.99) / 1000, 2);
        assert!(recorder.latency.max() >= recorder.latency.high(), "clamped, not dropped");
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut recorder = Recorder::new();
        for ms in 1..=1000u64 {
            recorder.ok(Duration::from_millis(ms));
        }
        recorder.failed(3, &"boom");
        let summary = Summary::new("produce:send".into(), 1003, 100, &recorder, 2.0);
        let latency = summary.latency.expect("timed records");
        assert!((latency.p50 - 500.0).abs() < 1.0, "{latency:?}");
        assert!((latency.p99 - 990.0).abs() < 1.0, "{latency:?}");
        assert!((latency.max - 1000.0).abs() < 1.0, "{latency:?}");
        assert_eq!((summary.ok, summary.failed), (1000, 3));
        assert_eq!(summary.records_per_sec(), 500.0);
        assert!((summary.mb_per_sec() - 500.0 * 100.0 / MB).abs() < 1e-9);
    }

    #[test]
    fn the_json_line_has_the_keys_and_nulls_for_what_was_not_measured() {
        let mut recorder = Recorder::new();
        recorder.ok_untimed(10);
        let mut summary = Summary::new("produce:fire".into(), 10, 100, &recorder, 0.5);
        summary.cpu_seconds = Some(0.25);
        let json = summary.json();
        assert!(!json.contains('\n'));
        for key in ["\"records\":10", "\"records_per_sec\":20.0", "\"p50_ms\":null", "\"p99_ms\":null"] {
            assert!(json.contains(key), "{key} in {json}");
        }
        assert!(json.contains("\"cpu_seconds\":0.25") && json.contains("\"cpu_us_per_record\":25000.0"), "{json}");
        assert!(summary.text().contains("latency: not measured"));
        summary.peak_rss_bytes = Some(3 * 1024 * 1024);
        assert!(summary.json().ends_with(",\"peak_rss_bytes\":3145728}"), "{}", summary.json());
        assert!(summary.text().contains("\npeak RSS: 3.0 MiB"), "{}", summary.text());
        summary.peak_rss_bytes = None;
        assert!(summary.json().ends_with(",\"peak_rss_bytes\":null}"), "{}", summary.json());
        assert!(!summary.text().contains("peak RSS"));
    }

    #[test]
    fn errors_are_counted_by_message_up_to_a_few() {
        let mut recorder = Recorder::new();
        for i in 0..8 {
            recorder.failed(1, &format!("error {i}"));
        }
        recorder.failed(2, &"error 0");
        assert_eq!(recorder.errors().len(), ERRORS_KEPT + 1);
        assert_eq!(recorder.errors()["error 0"], 3);
        assert_eq!(recorder.errors()["other errors"], 3);
        assert_eq!((recorder.done(), recorder.failures()), (10, 10));
    }
}
