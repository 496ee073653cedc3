//! SVG plots of the experiments (plotters, SVG backend only): line series for ours and the
//! peers, marked points for the paper's published figures.

use crate::bench::BenchError;
use plotters::prelude::*;
use std::path::Path;

/// One labelled line.
pub struct Series {
    /// The legend.
    pub label: String,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A plot: lines, and single marked points (the paper's figures).
pub struct Plot<'a> {
    /// The caption.
    pub title: &'a str,
    /// The x axis's label.
    pub x_label: &'a str,
    /// The y axis's label.
    pub y_label: &'a str,
    /// A logarithmic y axis (figures spanning orders of magnitude).
    pub log_y: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// Marked points with their labels.
    pub marks: Vec<(String, (f64, f64))>,
}

fn bounds(p: &Plot<'_>) -> ((f64, f64), (f64, f64)) {
    let all = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .chain(p.marks.iter().map(|m| m.1))
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if p.log_y {
        let y0 = (y0.max(1e-6) / 2.0).max(1e-6);
        ((x0, x1 * 1.05), (y0, (y1 * 2.0).max(y0 * 10.0)))
    } else {
        ((x0.min(0.0), x1 * 1.05), (y0.min(0.0), y1.max(1e-9) * 1.1))
    }
}

/// Writes `p` to `path` as SVG.
pub fn write(path: &Path, p: &Plot<'_>) -> Result<(), BenchError> {
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let ((x0, x1), (y0, y1)) = bounds(p);
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(p.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60);
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(p.x_label)
                .y_desc(p.y_label)
                .y_label_formatter(&|v: &f64| super::report::sig3(*v))
                .draw()?;
            for (i, s) in p.series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                chart
                    .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))?
                    .label(s.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
            }
            for (label, (x, y)) in &p.marks {
                chart
                    .draw_series(std::iter::once(TriangleMarker::new((*x, *y), 7, BLACK.filled())))?
                    .label(label.clone())
                    .legend(|(x, y)| TriangleMarker::new((x + 9, y), 5, BLACK.filled()));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                // A distribution rises to the upper right; the other plots leave the upper
                // left freer.
                .position(if p.log_y {
                    SeriesLabelPosition::UpperLeft
                } else {
                    SeriesLabelPosition::LowerRight
                })
                .draw()?;
        }};
    }
    if p.log_y {
        draw!(builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?);
    } else {
        draw!(builder.build_cartesian_2d(x0..x1, y0..y1)?);
    }
    root.present().map_err(BenchError::from)
}

/// The empirical distribution function of `latencies_us`, in ms, thinned to at most 400
/// points.
pub fn cdf(latencies_us: &[u64]) -> Vec<(f64, f64)> {
    let mut v = latencies_us.to_vec();
    v.sort_unstable();
    let n = v.len();
    if n == 0 {
        return vec![];
    }
    let step = (n / 400).max(1);
    let mut out: Vec<(f64, f64)> =
        (0..n).step_by(step).map(|i| (v[i] as f64 / 1000.0, (i + 1) as f64 / n as f64)).collect();
    out.push((v[n - 1] as f64 / 1000.0, 1.0));
    out
}

/// One series per row of ours: `metric` of each run, against the run's number (1, 2, …).
pub fn run_by_run(
    rows: &[super::report::Row], metric: &str, label: impl Fn(&super::report::Row) -> String,
) -> Vec<Series> {
    rows.iter()
        .filter(|x| x.kind == super::report::Kind::Ours)
        .map(|x| Series {
            label: label(x),
            points: x
                .runs
                .iter()
                .enumerate()
                .filter_map(|(i, m)| Some(((i + 1) as f64, *m.get(metric)?)))
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_with_the_series_labels() {
        let path = std::env::temp_dir().join(format!("twosafe-plot-{}.svg", std::process::id()));
        write(
            &path,
            &Plot {
                title: "t",
                x_label: "x",
                y_label: "y",
                log_y: true,
                series: vec![Series {
                    label: "ours".into(),
                    points: vec![(1.0, 10.0), (2.0, 1000.0)],
                }],
                marks: vec![("paper".into(), (1.5, 100.0))],
            },
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(svg.starts_with("<svg") && svg.contains("ours") && svg.contains("paper"));
    }

    #[test]
    fn cdf_ends_at_one_and_rises() {
        let c = cdf(&[3000, 1000, 2000]);
        assert_eq!(c.last(), Some(&(3.0, 1.0)));
        assert!(c.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }
}
