//! A dependency-free SVG line chart of UAR by layer (or by any ordered feature set).

use std::fmt::Write;

/// Renders `points` (label, UAR in `[0, 1]`) as a line chart with a dashed chance line at
/// `chance` (e.g. `1 / n_classes`). Returns the SVG document.
pub fn uar_by_layer_svg(points: &[(String, f64)], chance: f64, title: &str) -> String {
    let (w, h) = (640.0, 360.0);
    let (l, r, t, b) = (60.0, 20.0, 40.0, 50.0);
    let pw = w - l - r;
    let ph = h - t - b;
    let n = points.len().max(1);
    let xpos = |i: usize| {
        if n == 1 {
            l + pw / 2.0
        } else {
            l + pw * i as f64 / (n - 1) as f64
        }
    };
    let ypos = |v: f64| t + ph * (1.0 - v.clamp(0.0, 1.0));
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        w / 2.0,
        escape(title)
    );
    for k in 0..=10 {
        let v = k as f64 / 10.0;
        let y = ypos(v);
        let _ = write!(
            s,
            r##"<line x1="{l}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{:.0}%</text>"##,
            l + pw,
            l - 6.0,
            y + 4.0,
            v * 100.0
        );
    }
    let cy = ypos(chance);
    let _ = write!(
        s,
        r##"<line x1="{l}" y1="{cy:.1}" x2="{}" y2="{cy:.1}" stroke="#999" stroke-dasharray="5,4"/><text x="{}" y="{:.1}" text-anchor="end" fill="#777">chance</text>"##,
        l + pw,
        l + pw,
        cy - 4.0
    );
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (_, v))| format!("{:.1},{:.1}", xpos(i), ypos(*v)))
        .collect();
    let _ = write!(
        s,
        r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>"##,
        path.join(" ")
    );
    for (i, (name, v)) in points.iter().enumerate() {
        let (x, y) = (xpos(i), ypos(*v));
        let _ = write!(
            s,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="#1f77b4"><title>{}: {:.1}%</title></circle><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            escape(name),
            v * 100.0,
            h - b + 18.0,
            escape(name)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">layer / feature set</text><text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">UAR</text></svg>"#,
        l + pw / 2.0,
        h - 10.0,
        t + ph / 2.0,
        t + ph / 2.0
    );
    s.push('\n');
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_one_point_per_layer_and_escapes() {
        let pts = vec![("0".to_string(), 0.3), ("1<2".to_string(), 0.6)];
        let svg = uar_by_layer_svg(&pts, 0.25, "a & b");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("a &amp; b"));
        assert!(svg.contains("1&lt;2"));
        assert!(svg.starts_with("<svg"));
    }
}
