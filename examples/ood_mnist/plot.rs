//! SVG plots shared by the voxprobe-ood examples (SVG needs no system fonts, so it renders on a
//! bare CI machine).

use plotters::prelude::*;

/// Overlaid normalised histograms of p-values on [0, 1] (uniform ⇒ flat at density 1).
pub fn p_value_histograms(
    path: &std::path::Path,
    title: &str,
    series: &[(&str, Vec<f64>)],
    bins: usize,
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (720, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut dens: Vec<Vec<f64>> = Vec::new();
    for (_, v) in series {
        let mut h = vec![0.0; bins];
        for &p in v {
            let b = ((p * bins as f64) as usize).min(bins - 1);
            h[b] += 1.0;
        }
        let n = v.len().max(1) as f64;
        dens.push(h.iter().map(|c| c * bins as f64 / n).collect());
    }
    let ymax = dens.iter().flatten().cloned().fold(1.5, f64::max) * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..1f64, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("p-value")
        .y_desc("density")
        .draw()?;
    for (i, ((name, _), d)) in series.iter().zip(&dens).enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = d
            .iter()
            .enumerate()
            .flat_map(|(b, &y)| {
                let x0 = b as f64 / bins as f64;
                let x1 = (b + 1) as f64 / bins as f64;
                [(x0, y), (x1, y)]
            })
            .collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    chart.draw_series(LineSeries::new(
        vec![(0.0, 1.0), (1.0, 1.0)],
        BLACK.mix(0.4),
    ))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// ROC curves, one per statistic.
pub fn roc_curves(
    path: &std::path::Path,
    title: &str,
    curves: &[(String, Vec<(f64, f64)>)],
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (560, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..1f64, 0f64..1.0001f64)?;
    chart.configure_mesh().x_desc("FPR").y_desc("TPR").draw()?;
    chart.draw_series(LineSeries::new(
        vec![(0.0, 0.0), (1.0, 1.0)],
        BLACK.mix(0.3),
    ))?;
    for (i, (name, pts)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
