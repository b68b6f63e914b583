//! PNG charts drawn with plotters on an in-memory RGB buffer and encoded with
//! the `png` crate, so every exporter is pure: a chart spec in, PNG bytes out.
//!
//! Text is drawn with DejaVu Sans embedded in the binary (registered with
//! plotters' ab_glyph backend once), so charts render on machines without any
//! system font. Every drawing call's `Result` is propagated: plotters paints
//! the white background even when text fails, and a blank PNG must never pass
//! for a chart. As a last guard, a chart with next to no ink is an error.
//!
//! Log axes are drawn on linear coordinates of transformed values
//! (`log2(clients)`, `log10(1 / (1 - quantile))`) with labels mapped back, so
//! one code path draws every chart and ticks land on 1, 2, 4... or 90%, 99%.

use plotters::prelude::*;
use plotters::style::{FontStyle, RGBColor};
use std::sync::OnceLock;

/// DejaVu Sans (see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Default chart size in pixels.
pub const SIZE: (u32, u32) = (1200, 800);

/// Why a chart could not be made; nothing is written then.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("registering the embedded font failed")]
    Font,
    #[error("drawing the chart: {0}")]
    Draw(String),
    #[error("encoding the PNG: {0}")]
    Encode(String),
    #[error("the chart came out blank ({0} of its pixels are not white)")]
    Blank(usize),
    #[error("nothing to draw: {0}")]
    NoData(&'static str),
}

fn register_font() -> Result<(), ChartError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    ok.then_some(()).ok_or(ChartError::Font)
}

/// Tableau 10: distinct on screen and in print.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Only whole numbers get labels (user numbers).
    Integer,
    /// Powers of two get labels (client counts).
    Log2,
    /// Data are quantiles; drawn at `1/(1-q)` on a log axis, labelled 90%, 99%...
    Percentile,
}

impl Scale {
    fn to_coord(self, v: f64) -> f64 {
        match self {
            Scale::Linear | Scale::Integer => v,
            Scale::Log2 => v.max(f64::MIN_POSITIVE).log2(),
            Scale::Percentile => (1.0 / (1.0 - v.min(1.0 - 1e-9))).log10(),
        }
    }

    fn label(self, t: f64) -> String {
        let near = (t - t.round()).abs() < 1e-6;
        match self {
            Scale::Linear => {
                if t.abs() >= 100.0 || t == t.round() {
                    format!("{t:.0}")
                } else {
                    let s = format!("{t:.2}");
                    s.trim_end_matches('0').trim_end_matches('.').to_string()
                }
            }
            Scale::Integer if near => format!("{:.0}", t.round()),
            Scale::Log2 if near => format!("{:.0}", 2f64.powf(t.round())),
            Scale::Percentile if near => {
                let q = 1.0 - 10f64.powf(-t.round());
                let pct = format!("{:.6}", q * 100.0);
                format!("{}%", pct.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => String::new(),
        }
    }
}

/// One axis: its title (with the unit) and scale.
#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A line with a dot at each point.
    LinePoints,
    Line,
    /// Dots only (many points, e.g. every chunk of a run).
    Points,
    /// Vertical bars from zero.
    Bars,
}

/// One named series of `(x, y)` in data units.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// `(x, low, high)` whiskers (min / max across repeats).
    pub ranges: Vec<(f64, f64, f64)>,
    pub color: RGBColor,
    pub mark: Mark,
    pub dashed: bool,
}

impl Series {
    pub fn new(
        label: impl Into<String>,
        color: RGBColor,
        mark: Mark,
        points: Vec<(f64, f64)>,
    ) -> Self {
        Series {
            label: label.into(),
            points,
            ranges: Vec::new(),
            color,
            mark,
            dashed: false,
        }
    }
}

/// A plot area: axes and series.
#[derive(Debug, Clone)]
pub struct Panel {
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
}

/// A whole chart: a two-line title and panels stacked vertically.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub subtitle: String,
    pub panels: Vec<Panel>,
    pub size: (u32, u32),
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Renders a chart to PNG bytes.
pub fn render(chart: &Chart) -> Result<Vec<u8>, ChartError> {
    register_font()?;
    if chart
        .panels
        .iter()
        .all(|p| p.series.iter().all(|s| s.points.is_empty()))
    {
        return Err(ChartError::NoData("no points in any series"));
    }
    let (w, h) = chart.size;
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    draw(chart, &mut buf).map_err(|e| ChartError::Draw(e.to_string()))?;
    let ink = buf
        .chunks_exact(3)
        .filter(|p| p != &[255, 255, 255])
        .count();
    if ink < (w as usize * h as usize) / 200 {
        return Err(ChartError::Blank(ink));
    }
    encode_png(&buf, w, h)
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc
        .write_header()
        .map_err(|e| ChartError::Encode(e.to_string()))?;
    writer
        .write_image_data(rgb)
        .and_then(|()| writer.finish())
        .map_err(|e| ChartError::Encode(e.to_string()))?;
    Ok(out)
}

fn draw(chart: &Chart, buf: &mut [u8]) -> DrawResult {
    let root = BitMapBackend::with_buffer(buf, chart.size).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(78);
    top.draw(&Text::new(
        chart.title.clone(),
        (24, 14),
        (FAMILY, 26).into_font().color(&BLACK),
    ))?;
    top.draw(&Text::new(
        chart.subtitle.clone(),
        (24, 48),
        (FAMILY, 17).into_font().color(&RGBColor(90, 90, 90)),
    ))?;
    let areas = body.split_evenly((chart.panels.len().max(1), 1));
    for (panel, area) in chart.panels.iter().zip(&areas) {
        draw_panel(panel, area)?;
    }
    root.present()?;
    Ok(())
}

/// The coordinate range of the panel's data, padded; y starts at zero for
/// linear axes (a response-time chart that does not start at zero lies).
fn ranges(p: &Panel) -> ((f64, f64), (f64, f64)) {
    let xs = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|&(x, _)| p.x.scale.to_coord(x)));
    let ys = p.series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|&(_, y)| y)
            .chain(s.ranges.iter().map(|&(_, _, hi)| hi))
            .map(|y| p.y.scale.to_coord(y))
    });
    let bounds = |it: &mut dyn Iterator<Item = f64>| {
        it.filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let (mut x0, mut x1) = bounds(&mut { xs });
    let (mut y0, mut y1) = bounds(&mut { ys });
    let bars = p.series.iter().any(|s| s.mark == Mark::Bars);
    if bars {
        x0 -= 0.6;
        x1 += 0.6;
    } else if x1 - x0 < 1e-9 {
        x0 -= 1.0;
        x1 += 1.0;
    } else {
        let pad = (x1 - x0) * 0.04;
        x0 -= pad;
        x1 += pad;
    }
    if p.y.scale == Scale::Linear {
        y0 = y0.min(0.0);
    }
    if y1 - y0 < 1e-9 {
        y1 = y0 + 1.0;
    }
    y1 += (y1 - y0) * 0.08;
    ((x0, x1), (y0, y1))
}

fn draw_panel<DB: DrawingBackend>(
    p: &Panel,
    area: &DrawingArea<DB, plotters::coord::Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let ((x0, x1), (y0, y1)) = ranges(p);
    let mut chart = ChartBuilder::on(area)
        .margin(18)
        .x_label_area_size(56)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let xs = p.x.scale;
    let ys = p.y.scale;
    let x_fmt = move |v: &f64| xs.label(*v);
    let y_fmt = move |v: &f64| ys.label(*v);
    let x_labels = match xs {
        Scale::Linear => 10,
        Scale::Integer => ((x1 - x0).ceil() as usize + 1).clamp(2, 20),
        _ => ((x1 - x0).ceil() as usize + 1).max(2),
    };
    chart
        .configure_mesh()
        .x_desc(p.x.label.as_str())
        .y_desc(p.y.label.as_str())
        .x_labels(x_labels)
        .y_labels(8)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .axis_desc_style((FAMILY, 18))
        .label_style((FAMILY, 15))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(200, 200, 200))
        .draw()?;

    let map = |(x, y): (f64, f64)| (xs.to_coord(x), ys.to_coord(y));
    let mut labelled = false;
    for s in &p.series {
        let pts: Vec<(f64, f64)> = s.points.iter().copied().map(map).collect();
        let color = s.color;
        let line = color.stroke_width(3);
        let anno = match s.mark {
            Mark::Line | Mark::LinePoints if s.dashed => {
                chart.draw_series(DashedLineSeries::new(pts.clone(), 12, 8, line))?
            }
            Mark::Line | Mark::LinePoints => {
                chart.draw_series(LineSeries::new(pts.clone(), line))?
            }
            Mark::Points => chart.draw_series(
                pts.iter()
                    .map(|&p| Circle::new(p, 2, color.mix(0.6).filled())),
            )?,
            Mark::Bars => chart.draw_series(pts.iter().map(|&(x, y)| {
                Rectangle::new(
                    [(x - 0.35, ys.to_coord(0.0).min(y)), (x + 0.35, y)],
                    color.filled(),
                )
            }))?,
        };
        if !s.label.is_empty() {
            labelled = true;
            anno.label(s.label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        }
        if s.mark == Mark::LinePoints {
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        for &(x, lo, hi) in &s.ranges {
            let (cx, lo) = map((x, lo));
            let hi = ys.to_coord(hi);
            let cap = (x1 - x0) * 0.006;
            chart.draw_series([
                PathElement::new(vec![(cx, lo), (cx, hi)], color.stroke_width(2)),
                PathElement::new(vec![(cx - cap, lo), (cx + cap, lo)], color.stroke_width(2)),
                PathElement::new(vec![(cx - cap, hi), (cx + cap, hi)], color.stroke_width(2)),
            ])?;
        }
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font((FAMILY, 16))
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axes_label_powers_and_percentiles_only() {
        assert_eq!(Scale::Log2.label(3.0), "8");
        assert_eq!(Scale::Log2.label(2.5), "");
        assert_eq!(Scale::Percentile.label(0.0), "0%");
        assert_eq!(Scale::Percentile.label(1.0), "90%");
        assert_eq!(Scale::Percentile.label(3.0), "99.9%");
        assert!((Scale::Percentile.to_coord(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(Scale::Linear.label(2.5), "2.5");
    }

    fn chart(points: Vec<(f64, f64)>) -> Chart {
        Chart {
            title: "Response time vs clients".into(),
            subtitle: "tcp://127.0.0.1:1/x".into(),
            panels: vec![Panel {
                x: Axis {
                    label: "clients".into(),
                    scale: Scale::Log2,
                },
                y: Axis {
                    label: "ms".into(),
                    scale: Scale::Linear,
                },
                series: vec![Series::new("mean", PALETTE[0], Mark::LinePoints, points)],
            }],
            size: (640, 480),
        }
    }

    /// Pixels of `color` inside the plot area (below the title band, right
    /// of the y labels), in a decoded PNG.
    fn plot_area_pixels(png: &[u8], color: impl Fn([u8; 3]) -> bool) -> (u32, u32) {
        let img = image::load_from_memory(png).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        assert_eq!((w, h), (640, 480));
        let (mut hits, mut total) = (0, 0);
        for y in h / 5..h * 9 / 10 {
            for x in w / 6..w * 19 / 20 {
                total += 1;
                if color(img.get_pixel(x, y).0) {
                    hits += 1;
                }
            }
        }
        (hits, total)
    }

    #[test]
    fn a_chart_renders_to_a_png_with_its_line_drawn_in_the_plot_area() {
        let png = render(&chart(vec![(1.0, 0.2), (2.0, 0.3), (4.0, 0.9)])).unwrap();
        let (ink, total) = plot_area_pixels(&png, |p| p != [255, 255, 255]);
        assert!(ink * 100 > total, "{ink} of {total} plot pixels inked");
        let RGBColor(r, g, b) = PALETTE[0];
        let (line, _) = plot_area_pixels(&png, |p| p == [r, g, b]);
        // Three points and two segments across the panel: hundreds of pixels.
        assert!(line > 200, "{line} pixels of the series colour");
    }

    #[test]
    fn a_chart_without_points_is_an_error_not_a_blank_png() {
        assert!(matches!(render(&chart(vec![])), Err(ChartError::NoData(_))));
    }
}
