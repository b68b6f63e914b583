//! Checks on the PNG charts xfer draws, shared by the test files that make
//! them: decoded, not just a header.

use std::path::Path;

/// Decodes a PNG and checks it is a real chart: the expected size, many
/// colours, and ink in the plot area (not a white page with a title).
pub fn assert_chart(path: &Path) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(img.dimensions(), (1200, 800), "{}", path.display());
    let colors: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        colors.len() > 20,
        "{}: {} colours",
        path.display(),
        colors.len()
    );
    // Below the title band, inside the axes.
    let (mut ink, mut total) = (0, 0);
    for y in 120..760 {
        for x in 120..1180 {
            total += 1;
            if img.get_pixel(x, y).0 != [255, 255, 255] {
                ink += 1;
            }
        }
    }
    assert!(
        ink * 100 > total,
        "{}: {ink} of {total} plot pixels inked",
        path.display()
    );
}
