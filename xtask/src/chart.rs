//! `qemu-bench`'s outputs beside the console table: a CSV of every figure
//! and an SVG bar chart of strbox against seccomp-bpf per probe, written
//! by hand (a few rectangles and labels need no plotting library).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One `@@bench SCENARIO.PROBE MECHANISM VALUE` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub scenario: String,
    pub probe: String,
    pub mechanism: String,
    pub value: f64,
}

/// The figures of a bench console, in order.
pub fn parse(console: &str) -> Vec<Figure> {
    console
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("@@bench ")?.split_whitespace();
            let (scenario, probe) = w.next()?.split_once('.')?;
            let mechanism = w.next()?;
            let value = w.next()?.parse().ok()?;
            Some(Figure {
                scenario: scenario.into(),
                probe: probe.into(),
                mechanism: mechanism.into(),
                value,
            })
        })
        .collect()
}

/// `scenario,probe,mechanism,value` with a header.
pub fn csv(figs: &[Figure]) -> String {
    let mut s = String::from("scenario,probe,mechanism,value\n");
    for f in figs {
        let _ = writeln!(s, "{},{},{},{}", f.scenario, f.probe, f.mechanism, f.value);
    }
    s
}

/// The mechanisms drawn, with their colours.
const SERIES: &[(&str, &str, &str)] = &[
    ("none", "no filter, module not loaded", "#9e9e9e"),
    ("none+mod", "no filter, module loaded", "#607d8b"),
    (
        "none+mod*",
        "no filter, module loaded, filtered tasks exist",
        "#37474f",
    ),
    (
        "none+mod*+hooks",
        "no filter, module loaded, event hooks armed",
        "#ff8f00",
    ),
    ("seccomp", "seccomp-bpf (JIT)", "#1e88e5"),
    ("strbox", "strbox", "#e53935"),
    (
        "strbox+10k",
        "strbox, 10,000 other filtered tasks asleep",
        "#8e24aa",
    ),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A grouped bar chart: one group per scenario and probe, one bar per
/// drawn mechanism present in it.
pub fn svg(figs: &[Figure], title: &str, unit: &str) -> String {
    let mut groups: Vec<(String, Vec<(usize, f64)>)> = Vec::new();
    for f in figs {
        let Some(si) = SERIES.iter().position(|(m, _, _)| *m == f.mechanism) else {
            continue;
        };
        let key = format!("{} {}", f.scenario, f.probe);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, bars)) => bars.push((si, f.value)),
            None => groups.push((key, vec![(si, f.value)])),
        }
    }
    // The scale: the tallest drawn bar, rounded up to a round step.
    let tallest = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|(_, v)| *v))
        .fold(1.0f64, f64::max);
    let raw = tallest / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let nice = match raw / mag {
        f if f <= 1.0 => 1.0,
        f if f <= 2.0 => 2.0,
        f if f <= 5.0 => 5.0,
        _ => 10.0,
    };
    let max = nice * mag * 5.0;
    let (bar_w, gap, left, top, plot_h) = (14.0, 18.0, 70.0, 60.0, 320.0);
    let group_w = |n: usize| n as f64 * bar_w + gap;
    let width = left + groups.iter().map(|(_, b)| group_w(b.len())).sum::<f64>() + 20.0;
    let legend_y = top + plot_h + 120.0;
    let height = legend_y + SERIES.len() as f64 * 16.0 + 10.0;
    let y = |v: f64| top + plot_h - v / max * plot_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="24" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    // Axis with five ticks.
    for i in 0..=5 {
        let v = max * f64::from(i) / 5.0;
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{:.0}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e0e0e0"/><text x="{:.0}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
            width - 20.0,
            left - 4.0,
            yy + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text transform="translate(14,{:.0}) rotate(-90)" text-anchor="middle">{}</text>"#,
        top + plot_h / 2.0,
        esc(unit)
    );
    let mut x = left + gap / 2.0;
    for (key, bars) in &groups {
        for (i, (si, v)) in bars.iter().enumerate() {
            let bx = x + i as f64 * bar_w;
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {v:.0}</title></rect>"#,
                y(*v),
                bar_w - 1.0,
                top + plot_h - y(*v),
                SERIES[*si].2,
                esc(key),
                SERIES[*si].0
            );
        }
        let cx = x + bars.len() as f64 * bar_w / 2.0;
        let _ = writeln!(
            s,
            r#"<text transform="translate({cx:.1},{:.0}) rotate(-60)" text-anchor="end">{}</text>"#,
            top + plot_h + 8.0,
            esc(key)
        );
        x += group_w(bars.len());
    }
    for (i, (m, label, colour)) in SERIES.iter().enumerate() {
        let ly = legend_y + i as f64 * 16.0;
        let _ = writeln!(
            s,
            r#"<rect x="{left}" y="{:.0}" width="10" height="10" fill="{colour}"/><text x="{:.0}" y="{:.0}">{} ({})</text>"#,
            ly - 9.0,
            left + 16.0,
            ly,
            esc(label),
            esc(m)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Writes `<dir>/<stem>.csv` and `<dir>/<stem>.svg`; returns their paths.
pub fn write(
    dir: &Path,
    stem: &str,
    figs: &[Figure],
    title: &str,
    unit: &str,
) -> Result<[PathBuf; 2]> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let c = dir.join(format!("{stem}.csv"));
    let g = dir.join(format!("{stem}.svg"));
    std::fs::write(&c, csv(figs)).with_context(|| format!("writing {}", c.display()))?;
    std::fs::write(&g, svg(figs, title, unit))
        .with_context(|| format!("writing {}", g.display()))?;
    Ok([c, g])
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "\
@@b table line
@@bench baseline.getppid none 230.1
@@bench baseline.getppid none+mod 230.1
@@bench ingo.getppid seccomp 361.1
@@bench ingo.getppid strbox 445.1
@@bench ingo.getppid seccomp-interp 361.1
@@bench broken line
";

    #[test]
    fn parses_bench_lines_only() {
        let f = parse(CONSOLE);
        assert_eq!(f.len(), 5);
        assert_eq!(
            f[3],
            Figure {
                scenario: "ingo".into(),
                probe: "getppid".into(),
                mechanism: "strbox".into(),
                value: 445.1
            }
        );
        assert_eq!(csv(&f).lines().nth(4), Some("ingo,getppid,strbox,445.1"));
    }

    #[test]
    fn chart_has_a_bar_per_drawn_figure() {
        let s = svg(&parse(CONSOLE), "t <x>", "instructions");
        // seccomp-interp is not drawn, and does not set the scale.
        assert_eq!(s.matches("<title>").count(), 4);
        assert!(s.contains(">500</text>"), "axis up to 500: {s}");
        assert!(s.contains("ingo getppid strbox: 445"));
        assert!(s.contains("t &lt;x&gt;"));
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
    }
}
