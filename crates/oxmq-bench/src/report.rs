//! Summaries of repeated runs and the tables printed from them.
//!
//! A [`Report`] renders as Markdown tables (throughput, latency, then fan-out), aligned so
//! they read well in a terminal and paste unchanged into docs/BENCHMARKS.md.

use std::fmt;

use crate::{Failure, Kind, Measurement, Skip, Spec};

/// All runs of all cases, by contender, and the cases that failed or were skipped.
#[derive(Debug)]
pub struct Report {
    contenders: Vec<&'static str>,
    rows: Vec<Row>,
    failures: Vec<Failure>,
    skipped: Vec<Skip>,
}

impl Report {
    /// A report over `rows`, whose samples are in the order of `contenders`.
    pub fn new(contenders: Vec<&'static str>, rows: Vec<Row>, failures: Vec<Failure>) -> Report {
        Report {
            contenders,
            rows,
            failures,
            skipped: Vec::new(),
        }
    }

    /// The same report, listing `skipped` as cases a contender cannot run at all.
    pub fn with_skipped(mut self, skipped: Vec<Skip>) -> Report {
        self.skipped = skipped;
        self
    }

    /// The cases a contender could not run (their cells show `-`).
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// The cases a contender cannot run at all and was not tried on (their cells show `-`).
    pub fn skipped(&self) -> &[Skip] {
        &self.skipped
    }

    /// The contenders' names, in column order.
    pub fn contenders(&self) -> &[&'static str] {
        &self.contenders
    }

    /// One row per case.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }
}

/// The runs of one case, by contender.
#[derive(Debug, Clone)]
pub struct Row {
    spec: Spec,
    samples: Vec<Vec<Measurement>>,
    /// The placement probe before each run, in nanoseconds ([`crate::core_to_core`]).
    probes: Vec<f64>,
}

impl Row {
    /// A row for `spec` from each contender's measurements.
    pub fn new(spec: Spec, samples: &[Vec<Measurement>]) -> Row {
        Row {
            spec,
            samples: samples.to_vec(),
            probes: Vec::new(),
        }
    }

    /// The same row, with the placement probe taken before each run (nanoseconds).
    pub fn with_probes(mut self, probes: Vec<f64>) -> Row {
        self.probes = probes;
        self
    }

    /// The placement probes taken before its runs: a cache line's round trip between the
    /// two CPUs, in nanoseconds.
    pub fn probes(&self) -> Option<Summary> {
        Summary::of(&self.probes)
    }

    /// The case.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Each contender's runs.
    pub fn samples(&self) -> &[Vec<Measurement>] {
        &self.samples
    }

    /// Messages (throughput) or round trips (latency) per second, for contender `i`.
    pub fn per_sec(&self, i: usize) -> Option<Summary> {
        self.summary(i, Measurement::per_sec)
    }

    /// Payload MB/s for contender `i`.
    pub fn mb_per_sec(&self, i: usize) -> Option<Summary> {
        self.summary(i, Measurement::mb_per_sec)
    }

    /// Microseconds per message or round trip (the mean of each run) for contender `i`.
    pub fn micros_each(&self, i: usize) -> Option<Summary> {
        self.summary(i, Measurement::micros_each)
    }

    /// Microseconds of the median round trip of each run, for contender `i` (latency cases).
    pub fn median_micros_each(&self, i: usize) -> Option<Summary> {
        let values: Option<Vec<f64>> = self
            .samples
            .get(i)?
            .iter()
            .map(Measurement::median_micros_each)
            .collect();
        Summary::of(&values?)
    }

    /// Messages lost by contender `i`, summed over its runs (fan-out cases; 0 otherwise).
    pub fn lost(&self, i: usize) -> u64 {
        self.samples
            .get(i)
            .map_or(0, |s| s.iter().map(|m| m.lost).sum())
    }

    /// Deliveries contender `i` should have made over its runs: delivered plus lost.
    pub fn expected_deliveries(&self, i: usize) -> u64 {
        self.samples
            .get(i)
            .map_or(0, |s| s.iter().map(|m| m.count + m.lost).sum())
    }

    fn summary(&self, i: usize, f: fn(&Measurement) -> f64) -> Option<Summary> {
        let values: Vec<f64> = self.samples.get(i)?.iter().map(f).collect();
        Summary::of(&values)
    }
}

/// Median and range of a few runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Summary {
    /// The summary of `values`, or `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Some(Summary {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let thr: Vec<&Row> = self
            .rows
            .iter()
            // A routed case's rate is messages echoed per second: a throughput.
            .filter(|r| matches!(r.spec.kind, Kind::Throughput | Kind::Routed { .. }))
            .collect();
        let lat: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.spec.kind == Kind::Latency)
            .collect();
        let fanout: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| matches!(r.spec.kind, Kind::Fanout { .. }))
            .collect();
        let runs = self
            .rows
            .iter()
            .flat_map(|r| r.samples.iter().map(Vec::len))
            .max()
            .unwrap_or(0);
        writeln!(
            f,
            "median of {runs} run(s), range in brackets; MB = 10^6 bytes of payload"
        )?;
        if !thr.is_empty() {
            writeln!(f)?;
            self.throughput_table(&thr).fmt(f)?;
        }
        if !lat.is_empty() {
            writeln!(f)?;
            self.latency_table(&lat).fmt(f)?;
        }
        if !fanout.is_empty() {
            writeln!(f)?;
            self.fanout_table(&fanout).fmt(f)?;
            for row in &fanout {
                for (i, name) in self.contenders.iter().enumerate() {
                    let lost = row.lost(i);
                    if lost > 0 {
                        writeln!(
                            f,
                            "LOSS {name} {}: {lost} of {} deliveries lost over {} run(s)",
                            row.spec.label(),
                            row.expected_deliveries(i),
                            row.samples[i].len()
                        )?;
                    }
                }
            }
        }
        if self.rows.iter().any(|r| !r.probes.is_empty()) {
            writeln!(f)?;
            writeln!(
                f,
                "placement probe: a cache line's round trip between the two CPUs, before each run"
            )?;
            self.probe_table().fmt(f)?;
        }
        if !self.skipped.is_empty() {
            writeln!(f)?;
            for skip in &self.skipped {
                writeln!(
                    f,
                    "SKIPPED {} {}: {}",
                    skip.contender,
                    skip.spec.label(),
                    skip.reason
                )?;
            }
        }
        if !self.failures.is_empty() {
            writeln!(f)?;
            for failure in &self.failures {
                writeln!(
                    f,
                    "FAILED {} {}: {}",
                    failure.contender,
                    failure.spec.label(),
                    failure.error
                )?;
            }
        }
        Ok(())
    }
}

impl Report {
    fn throughput_table(&self, rows: &[&Row]) -> Table {
        let mut header = vec!["throughput".to_owned(), "msgs".to_owned()];
        for name in &self.contenders {
            header.push(format!("{name} msg/s"));
            header.push(format!("{name} MB/s"));
        }
        if let Some(ratio) = self.ratio_header() {
            header.push(ratio);
        }
        let body = rows
            .iter()
            .map(|row| {
                let mut cells = vec![row.spec.label(), format_count(row.spec.count)];
                for i in 0..self.contenders.len() {
                    cells.extend(rate_cells(row, i));
                }
                if self.contenders.len() >= 2 {
                    cells.push(ratio(row.per_sec(0), row.per_sec(1)));
                }
                cells
            })
            .collect();
        Table { header, body }
    }

    fn latency_table(&self, rows: &[&Row]) -> Table {
        let mut header = vec!["latency".to_owned(), "round trips".to_owned()];
        for name in &self.contenders {
            header.push(format!("{name} µs/rt mean"));
            header.push(format!("{name} µs/rt p50"));
        }
        if let Some(ratio) = self.ratio_header() {
            header.push(format!("{ratio} mean"));
            header.push(format!("{ratio} p50"));
        }
        let micros = |s: Summary| format!("{:.1} [{:.1}-{:.1}]", s.median, s.min, s.max);
        let body = rows
            .iter()
            .map(|row| {
                let mut cells = vec![row.spec.label(), format_count(row.spec.count)];
                for i in 0..self.contenders.len() {
                    cells.push(row.micros_each(i).map_or_else(dash, micros));
                    cells.push(row.median_micros_each(i).map_or_else(dash, micros));
                }
                if self.contenders.len() >= 2 {
                    cells.push(ratio(row.micros_each(0), row.micros_each(1)));
                    cells.push(ratio(row.median_micros_each(0), row.median_micros_each(1)));
                }
                cells
            })
            .collect();
        Table { header, body }
    }

    fn fanout_table(&self, rows: &[&Row]) -> Table {
        let mut header = vec!["fan-out".to_owned(), "msgs".to_owned()];
        for name in &self.contenders {
            header.push(format!("{name} deliveries/s"));
            header.push(format!("{name} MB/s"));
            header.push(format!("{name} lost"));
        }
        if let Some(ratio) = self.ratio_header() {
            header.push(ratio);
        }
        let body = rows
            .iter()
            .map(|row| {
                let mut cells = vec![row.spec.label(), format_count(row.spec.count)];
                for i in 0..self.contenders.len() {
                    cells.extend(rate_cells(row, i));
                    cells.push(if row.samples[i].is_empty() {
                        dash()
                    } else {
                        row.lost(i).to_string()
                    });
                }
                if self.contenders.len() >= 2 {
                    cells.push(ratio(row.per_sec(0), row.per_sec(1)));
                }
                cells
            })
            .collect();
        Table { header, body }
    }

    fn probe_table(&self) -> Table {
        let header = vec!["case".to_owned(), "core-to-core ns".to_owned()];
        let body = self
            .rows
            .iter()
            .map(|row| {
                let probe = row.probes().map_or_else(dash, |s| {
                    format!("{:.0} [{:.0}-{:.0}]", s.median, s.min, s.max)
                });
                vec![row.spec.label(), probe]
            })
            .collect();
        Table { header, body }
    }

    fn ratio_header(&self) -> Option<String> {
        match self.contenders.as_slice() {
            [a, b, ..] => Some(format!("{a}/{b}")),
            _ => None,
        }
    }
}

/// A Markdown table with padded columns: the first left-aligned, the others right-aligned.
struct Table {
    header: Vec<String>,
    body: Vec<Vec<String>>,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = |s: &String| s.chars().count();
        let mut widths: Vec<usize> = self.header.iter().map(width).collect();
        for row in &self.body {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| -> fmt::Result {
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                if i == 0 {
                    write!(f, "| {cell:<w$} ")?;
                } else {
                    write!(f, "| {cell:>w$} ")?;
                }
            }
            writeln!(f, "|")
        };
        line(f, &self.header)?;
        for (i, w) in widths.iter().enumerate() {
            let dashes = "-".repeat(*w);
            if i == 0 {
                write!(f, "|:{dashes}-")?;
            } else {
                write!(f, "|-{dashes}:")?;
            }
        }
        writeln!(f, "|")?;
        for row in &self.body {
            line(f, row)?;
        }
        Ok(())
    }
}

fn dash() -> String {
    "-".to_owned()
}

fn ratio(a: Option<Summary>, b: Option<Summary>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.median > 0.0 => format!("{:.2}x", a.median / b.median),
        _ => dash(),
    }
}

/// A throughput row's rate cell (median and range) and MB/s cell for contender `i`.
fn rate_cells(row: &Row, i: usize) -> [String; 2] {
    let rate = row.per_sec(i).map_or_else(dash, |s| {
        format!(
            "{} [{}-{}]",
            format_rate(s.median),
            format_rate(s.min),
            format_rate(s.max)
        )
    });
    let mb = row
        .mb_per_sec(i)
        .map_or_else(dash, |s| format!("{:.1}", s.median));
    [rate, mb]
}

/// `3.12M`, `812k`, `950`.
fn format_rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// `2M`, `50k`, `1500`.
fn format_count(n: u64) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n % 1_000 == 0 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Transport;

    fn m(count: u64, size: usize, millis: u64) -> Measurement {
        Measurement {
            count,
            size,
            elapsed: Duration::from_millis(millis),
            median_each: Some(Duration::from_micros(2 * millis)),
            lost: 0,
        }
    }

    #[test]
    fn summary_median_and_range() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).expect("three values");
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Summary::of(&[4.0, 1.0, 2.0, 3.0]).expect("four values");
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn report_renders_ratios() {
        let thr = Row::new(
            Spec::throughput(Transport::Tcp, 16, 1_000),
            &[vec![m(1_000, 16, 1)], vec![m(1_000, 16, 2)]],
        );
        let lat = Row::new(
            Spec::latency(Transport::Tcp, 16, 1_000),
            &[vec![m(1_000, 16, 30)], vec![m(1_000, 16, 20)]],
        );
        let text = Report::new(vec!["oxmq", "libzmq"], vec![thr, lat], Vec::new()).to_string();
        assert!(text.contains("| thr tcp 16 B"), "{text}");
        assert!(text.contains("1.00M [1.00M-1.00M]"), "{text}");
        assert!(text.contains("2.00x"), "{text}");
        assert!(text.contains("30.0 [30.0-30.0]"), "{text}");
        assert!(text.contains("1.50x"), "{text}");
        assert!(text.contains("60.0 [60.0-60.0]"), "{text}");
    }

    #[test]
    fn the_placement_probes_get_a_table_of_their_own_when_taken() {
        let row = || {
            Row::new(
                Spec::throughput(Transport::Inproc, 16, 1_000),
                &[vec![m(1_000, 16, 1)], vec![m(1_000, 16, 2)]],
            )
        };
        let without = Report::new(vec!["oxmq", "libzmq"], vec![row()], Vec::new()).to_string();
        assert!(!without.contains("core-to-core"), "{without}");
        let probed = row().with_probes(vec![480.0, 95.2, 186.0]);
        assert_eq!(probed.probes().map(|s| s.median), Some(186.0));
        let text = Report::new(vec!["oxmq", "libzmq"], vec![probed], Vec::new()).to_string();
        assert!(text.contains("| case "), "{text}");
        assert!(text.contains("core-to-core ns"), "{text}");
        assert!(text.contains("186 [95-480]"), "{text}");
    }

    #[test]
    fn fanout_table_reports_losses() {
        let lossy = Measurement {
            lost: 5,
            ..m(995, 16, 1)
        };
        let row = Row::new(
            Spec::fanout(Transport::Tcp, 16, 100, 10),
            &[vec![m(1_000, 16, 1), lossy], vec![m(1_000, 16, 2)]],
        );
        let text = Report::new(vec!["oxmq", "libzmq"], vec![row], Vec::new()).to_string();
        assert!(text.contains("| fanout tcp 16 B x10"), "{text}");
        assert!(text.contains("oxmq deliveries/s"), "{text}");
        assert!(
            text.contains("LOSS oxmq fanout tcp 16 B x10: 5 of 2000 deliveries lost over 2 run(s)"),
            "{text}"
        );
        assert!(!text.contains("LOSS libzmq"), "{text}");
    }

    #[test]
    fn single_contender_has_no_ratio() {
        let thr = Row::new(
            Spec::throughput(Transport::Tcp, 16, 1_000),
            &[vec![m(1_000, 16, 1)]],
        );
        let text = Report::new(vec!["oxmq"], vec![thr], Vec::new()).to_string();
        assert!(!text.contains("oxmq/"), "{text}");
    }
}
