//! A report as a picture: an SVG bar chart, one bar per case, drawn with `plotters`.
//!
//! With two or more contenders each bar is how far the first is ahead of the second
//! ([`Report::speedups`]: throughput over throughput, the second's median round trip over the
//! first's for latency), on a log scale around 1; with one contender, each bar is its median
//! rate (messages, deliveries or round trips per second), on a log scale.

use std::path::Path;

use plotters::prelude::*;

use crate::{Kind, Report};

/// Height of one case's row, in pixels.
const ROW: u32 = 22;
/// Room for the case labels on the left.
const LABELS: u32 = 230;
const WIDTH: u32 = 900;

impl Report {
    /// For each case both of the first two contenders measured: its label and how many times
    /// faster the first was (above 1: the first is ahead). Throughput, fan-out and routed
    /// cases compare median rates; latency cases compare median round trips (the second's
    /// over the first's, so that above 1 is better there too).
    pub fn speedups(&self) -> Vec<(String, f64)> {
        self.rows()
            .iter()
            .filter_map(|row| {
                let ratio = match row.spec().kind {
                    Kind::Latency => {
                        row.median_micros_each(1)?.median / row.median_micros_each(0)?.median
                    }
                    _ => row.per_sec(0)?.median / row.per_sec(1)?.median,
                };
                ratio.is_finite().then(|| (row.spec().label(), ratio))
            })
            .collect()
    }

    /// Writes the report as an SVG bar chart to `path` (see the module docs).
    pub fn write_svg(&self, path: &Path, title: &str) -> Result<(), Box<dyn std::error::Error>> {
        let (bars, caption, reference): (Vec<(String, f64)>, String, Option<f64>) =
            match self.contenders() {
                [a, b, ..] => (
                    self.speedups(),
                    format!("{title}: {a} speed relative to {b} (log scale; above 1: {a} ahead)"),
                    Some(1.0),
                ),
                only => {
                    let name = only.first().copied().unwrap_or("?");
                    let bars = self
                        .rows()
                        .iter()
                        .filter_map(|row| Some((row.spec().label(), row.per_sec(0)?.median)))
                        .collect();
                    let caption = format!(
                        "{title}: {name}, messages (latency: round trips) per second, log scale"
                    );
                    (bars, caption, None)
                }
            };
        if bars.is_empty() {
            return Err("nothing to plot: no case has a figure".into());
        }
        // Segments count from the bottom: reverse, so that the first case is on top.
        let mut bars = bars;
        bars.reverse();
        let n = bars.len();
        let height = 90 + ROW * n as u32;
        let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (lo, hi) = bars.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
        let (lo, hi) = match reference {
            Some(r) => (lo.min(r) / 1.25, hi.max(r) * 1.25),
            None => (lo / 2.0, hi * 2.0),
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(LABELS)
            .build_cartesian_2d((lo..hi).log_scale(), (0..n).into_segmented())?;
        let labels: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_formatter(&|v| format_value(*v))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let color = match reference {
                Some(r) if *v >= r => RGBColor(46, 125, 50),
                Some(_) => RGBColor(198, 40, 40),
                None => RGBColor(21, 101, 192),
            };
            let left = reference.map_or(lo, |r| r.min(*v));
            let right = reference.map_or(*v, |r| r.max(*v));
            Rectangle::new(
                [
                    (left, SegmentValue::Exact(i)),
                    (right, SegmentValue::Exact(i + 1)),
                ],
                color.mix(0.8).filled(),
            )
        }))?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            Text::new(
                format_value(*v),
                (*v, SegmentValue::CenterOf(i)),
                ("sans-serif", 11),
            )
        }))?;
        if let Some(r) = reference {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(r, SegmentValue::Exact(0)), (r, SegmentValue::Exact(n))],
                BLACK.stroke_width(1),
            )))?;
        }
        root.present()?;
        Ok(())
    }
}

/// `1.23x`-style for ratios, `4.5M`-style for rates.
fn format_value(v: f64) -> String {
    if v < 100.0 {
        format!("{v:.2}")
    } else if v < 1e4 {
        format!("{v:.0}")
    } else if v < 1e6 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{:.1}M", v / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{Measurement, Report, Row, Spec, Transport};

    fn m(count: u64, ms: u64) -> Measurement {
        Measurement {
            count,
            size: 16,
            elapsed: Duration::from_millis(ms),
            median_each: Some(Duration::from_micros(ms)),
            lost: 0,
        }
    }

    #[test]
    fn speedups_are_above_one_when_the_first_contender_is_ahead() {
        let thr = Row::new(
            Spec::throughput(Transport::Tcp, 16, 1000),
            &[vec![m(1000, 10)], vec![m(1000, 20)]],
        );
        // Latency: the first's round trip is 10 µs, the second's 40 µs.
        let lat = Row::new(
            Spec::latency(Transport::Tcp, 16, 1000),
            &[vec![m(1000, 10)], vec![m(1000, 40)]],
        );
        let report = Report::new(vec!["a", "b"], vec![thr, lat], Vec::new());
        let s = report.speedups();
        assert_eq!(s.len(), 2);
        assert!((s[0].1 - 2.0).abs() < 1e-9, "{s:?}");
        assert!((s[1].1 - 4.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn writes_an_svg_with_every_case() {
        let rows = vec![
            Row::new(
                Spec::throughput(Transport::Tcp, 16, 1000),
                &[vec![m(1000, 10)], vec![m(1000, 20)]],
            ),
            Row::new(
                Spec::routed(Transport::Inproc, 1024, 1000, 100),
                &[vec![m(1000, 30)], vec![m(1000, 20)]],
            ),
        ];
        let report = Report::new(vec!["oxmq", "libzmq"], rows, Vec::new());
        let path = std::env::temp_dir().join(format!("oxmq-plot-{}.svg", std::process::id()));
        report.write_svg(&path, "test").expect("svg");
        let svg = std::fs::read_to_string(&path).expect("read");
        let _ = std::fs::remove_file(&path);
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("thr tcp 16 B") && svg.contains("router inproc 1 KiB x100"));
        assert!(
            svg.contains("2.00") && svg.contains("0.67"),
            "bar values are printed"
        );
        // One contender: rates instead of ratios.
        let one = Report::new(
            vec!["oxmq"],
            vec![Row::new(
                Spec::throughput(Transport::Tcp, 16, 1000),
                &[vec![m(1000, 10)]],
            )],
            Vec::new(),
        );
        one.write_svg(&path, "test").expect("svg");
        let svg = std::fs::read_to_string(&path).expect("read");
        let _ = std::fs::remove_file(&path);
        assert!(svg.contains("100k"), "the rate is printed");
    }
}
