//! The two charts, drawn with plotters' SVG backend (text as SVG `<text>`, no fonts needed).

use std::path::Path;

use anyhow::Context as _;
use plotters::prelude::*;

const SIZE: (u32, u32) = (900, 500);
const BUCKETS: u32 = 40;

/// Histogram of time-to-certificate, `BUCKETS` equal bins from 0 to the maximum.
pub fn time_to_certificate(path: &Path, seconds: &[f64], title: &str) -> anyhow::Result<()> {
    let max_ms = seconds.iter().copied().fold(0.0, f64::max) * 1000.0;
    let width_ms = (max_ms / f64::from(BUCKETS)).max(0.001);
    let mut counts = vec![0u32; BUCKETS as usize];
    for s in seconds {
        let bin = ((s * 1000.0 / width_ms) as usize).min(BUCKETS as usize - 1);
        counts[bin] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).context("svg")?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(
            0f64..width_ms * f64::from(BUCKETS),
            0u32..top + top / 10 + 1,
        )
        .context("chart")?;
    chart
        .configure_mesh()
        .x_desc("time to certificate (ms)")
        .y_desc("nodes")
        .draw()
        .context("mesh")?;
    chart
        .draw_series(counts.iter().enumerate().map(|(i, &count)| {
            let x0 = i as f64 * width_ms;
            Rectangle::new([(x0, 0), (x0 + width_ms, count)], BLUE.mix(0.6).filled())
        }))
        .context("bars")?;
    root.present().context("write svg")?;
    Ok(())
}

/// Nodes certified so far against seconds since the storm started.
pub fn certified_over_time(path: &Path, certified_at: &[f64], title: &str) -> anyhow::Result<()> {
    let mut times = certified_at.to_vec();
    times.sort_by(f64::total_cmp);
    let end = times.last().copied().unwrap_or(0.0).max(0.001);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).context("svg")?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end * 1.02, 0usize..times.len().max(1) + 1)
        .context("chart")?;
    chart
        .configure_mesh()
        .x_desc("seconds since the storm started")
        .y_desc("nodes certified")
        .draw()
        .context("mesh")?;
    let points =
        std::iter::once((0.0, 0)).chain(times.iter().enumerate().map(|(i, &t)| (t, i + 1)));
    chart
        .draw_series(LineSeries::new(points, RED.stroke_width(2)))
        .context("line")?;
    root.present().context("write svg")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_charts_are_svg_files() {
        let dir = tempfile::tempdir().unwrap();
        let samples = [0.010, 0.020, 0.020, 0.150, 0.900];
        let histogram = dir.path().join("h.svg");
        time_to_certificate(&histogram, &samples, "ttc").unwrap();
        let curve = dir.path().join("c.svg");
        certified_over_time(&curve, &samples, "curve").unwrap();
        for file in [histogram, curve] {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(text.starts_with("<svg"), "{text}");
            assert!(text.contains("nodes"), "{text}");
        }
    }
}
