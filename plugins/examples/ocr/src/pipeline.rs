//! The PP-OCR pipeline around the three models: detection (DB), direction
//! classification and recognition (CTC). Pure Rust, no I/O: the models are
//! reached through [`Infer`], so the steps are unit-tested natively and the
//! Python reference (`plugins/examples/ocr/golden/reference.py`) mirrors them.

use crate::image::{self, Rgb};

/// Which model a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Text detector: `x` [1, 3, H, W] -> probability map [1, 1, H, W].
    Det,
    /// Direction classifier: `x` [N, 3, 48, 192] -> [N, 2] (0 or 180 degrees).
    Cls,
    /// Recogniser: `x` [1, 3, 48, W] -> [1, T, classes].
    Rec,
}

/// Runs a model on one f32 input `x`; returns the first output's dims and values.
pub trait Infer {
    /// One inference.
    fn infer(
        &mut self,
        stage: Stage,
        dims: &[u32],
        x: Vec<f32>,
    ) -> Result<(Vec<u32>, Vec<f32>), String>;
}

/// Settings (RapidOCR's defaults where it has one).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The detector sees the image scaled so its longer side is at most this.
    pub det_max_side: usize,
    /// Pixels above this probability are text.
    pub det_thresh: f32,
    /// Boxes whose mean probability is below this are dropped.
    pub box_thresh: f32,
    /// How far boxes grow (DB's unclip ratio).
    pub unclip_ratio: f32,
    /// Crops classified as upside down with at least this score are turned.
    pub cls_thresh: f32,
    /// At most this many boxes.
    pub max_boxes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            det_max_side: 960,
            det_thresh: 0.3,
            box_thresh: 0.5,
            unclip_ratio: 1.6,
            cls_thresh: 0.9,
            max_boxes: 200,
        }
    }
}

/// A recognised line: its box in image pixels [x0, y0, x1, y1), text and score.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// [x0, y0, x1, y1), x1/y1 exclusive.
    pub bbox: [usize; 4],
    /// The text.
    pub text: String,
    /// Mean probability of the kept characters.
    pub score: f32,
    /// Whether the crop was turned by 180 degrees before recognition.
    pub rotated: bool,
}

/// The detector's input size for an image: the longer side at most
/// `max_side`, each side rounded to a multiple of 32 (at least 32).
pub fn det_size(w: usize, h: usize, max_side: usize) -> (usize, usize) {
    let long = w.max(h) as f32;
    let ratio = if long > max_side as f32 {
        max_side as f32 / long
    } else {
        1.0
    };
    let round32 = |v: usize| -> usize {
        let r = ((v as f32 * ratio) / 32.0).round() as usize * 32;
        r.max(32)
    };
    (round32(w), round32(h))
}

/// Connected regions (8-neighbourhood) of `map > thresh`, after a 2x2
/// dilation; each as its bounding box [x0, y0, x1, y1) in map pixels.
pub fn regions(map: &[f32], w: usize, h: usize, thresh: f32) -> Vec<[usize; 4]> {
    let mut bin = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            if map[y * w + x] > thresh {
                // Dilate right and down by one pixel (a 2x2 kernel).
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (xx, yy) = (x + dx, y + dy);
                    if xx < w && yy < h {
                        bin[yy * w + xx] = true;
                    }
                }
            }
        }
    }
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !bin[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if bin[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push([x0, y0, x1, y1]);
    }
    out
}

/// The mean of `map` over the box.
pub fn box_score(map: &[f32], w: usize, b: [usize; 4]) -> f32 {
    let mut sum = 0.0f64;
    for y in b[1]..b[3] {
        for x in b[0]..b[2] {
            sum += f64::from(map[y * w + x]);
        }
    }
    let n = ((b[2] - b[0]) * (b[3] - b[1])).max(1);
    (sum / n as f64) as f32
}

/// DB's unclip for a rectangle: grow each side by area * ratio / perimeter.
pub fn unclip(b: [usize; 4], ratio: f32) -> [f32; 4] {
    let (w, h) = ((b[2] - b[0]) as f32, (b[3] - b[1]) as f32);
    let d = w * h * ratio / (2.0 * (w + h));
    [
        b[0] as f32 - d,
        b[1] as f32 - d,
        b[2] as f32 + d,
        b[3] as f32 + d,
    ]
}

/// Text boxes from the detector's probability map, in image pixels, in
/// reading order (top to bottom, then left to right within a line).
pub fn boxes_from_map(
    map: &[f32],
    mw: usize,
    mh: usize,
    img_w: usize,
    img_h: usize,
    s: &Settings,
) -> Vec<[usize; 4]> {
    let sx = img_w as f32 / mw as f32;
    let sy = img_h as f32 / mh as f32;
    let mut out = Vec::new();
    for r in regions(map, mw, mh, s.det_thresh) {
        if (r[2] - r[0]).min(r[3] - r[1]) < 3 {
            continue;
        }
        if box_score(map, mw, r) < s.box_thresh {
            continue;
        }
        let u = unclip(r, s.unclip_ratio);
        if (u[2] - u[0]).min(u[3] - u[1]) < 5.0 {
            continue;
        }
        let clampx = |v: f32| (v * sx).round().clamp(0.0, img_w as f32) as usize;
        let clampy = |v: f32| (v * sy).round().clamp(0.0, img_h as f32) as usize;
        let b = [clampx(u[0]), clampy(u[1]), clampx(u[2]), clampy(u[3])];
        if b[2] > b[0] && b[3] > b[1] {
            out.push(b);
        }
        if out.len() >= s.max_boxes {
            break;
        }
    }
    out.sort_by_key(|b| (b[1], b[0]));
    // Within a line (tops closer than 10 px), left to right.
    for i in 1..out.len() {
        let mut j = i;
        while j > 0 && out[j][1].abs_diff(out[j - 1][1]) < 10 && out[j][0] < out[j - 1][0] {
            out.swap(j, j - 1);
            j -= 1;
        }
    }
    out
}

/// Height of the classifier's and recogniser's inputs.
pub const LINE_HEIGHT: usize = 48;
/// Width of the classifier's input.
pub const CLS_WIDTH: usize = 192;
/// Smallest width of the recogniser's input.
pub const REC_MIN_WIDTH: usize = 320;
/// Largest width of the recogniser's input.
pub const REC_MAX_WIDTH: usize = 3200;

/// A crop scaled to height 48 (width from its aspect ratio, at most
/// `max_w`), as NCHW BGR in [-1, 1], zero-padded to `pad_w`.
pub fn line_tensor(crop: &Rgb, max_w: usize, pad_w: usize) -> Vec<f32> {
    let ratio = crop.width as f32 / crop.height as f32;
    let w = ((LINE_HEIGHT as f32 * ratio).ceil() as usize).clamp(1, max_w);
    let px = image::resize(crop, w, LINE_HEIGHT);
    image::to_chw_bgr(&px, w, LINE_HEIGHT, pad_w)
}

/// The recogniser's input width for a crop: its width at height 48, at
/// least 320, at most 3200.
pub fn rec_width(crop: &Rgb) -> usize {
    let ratio = crop.width as f32 / crop.height as f32;
    ((LINE_HEIGHT as f32 * ratio).ceil() as usize).clamp(REC_MIN_WIDTH, REC_MAX_WIDTH)
}

/// Greedy CTC decoding: the best class per step, repeats collapsed, blanks
/// (class 0) dropped. `chars[i - 1]` is class i. Returns the text and the
/// mean probability of the kept characters.
pub fn ctc_decode(probs: &[f32], steps: usize, classes: usize, chars: &[&str]) -> (String, f32) {
    let mut text = String::new();
    let mut sum = 0.0f32;
    let mut kept = 0usize;
    let mut prev = 0usize;
    for t in 0..steps {
        let row = &probs[t * classes..(t + 1) * classes];
        let (best, p) = row
            .iter()
            .copied()
            .enumerate()
            .fold(
                (0usize, f32::MIN),
                |acc, (i, v)| if v > acc.1 { (i, v) } else { acc },
            );
        if best != 0
            && best != prev
            && let Some(c) = chars.get(best - 1)
        {
            text.push_str(c);
            sum += p;
            kept += 1;
        }
        prev = best;
    }
    let score = if kept == 0 { 0.0 } else { sum / kept as f32 };
    (text, score)
}

/// The recogniser's character list: the dictionary's lines, then a space.
pub fn charset(dict: &str) -> Vec<&str> {
    let mut v: Vec<&str> = dict.lines().collect();
    v.push(" ");
    v
}

/// Runs the whole pipeline on `img`.
pub fn run(
    img: &Rgb,
    models: &mut dyn Infer,
    chars: &[&str],
    s: &Settings,
) -> Result<Vec<Line>, String> {
    // Detection.
    let (dw, dh) = det_size(img.width, img.height, s.det_max_side);
    let px = image::resize(img, dw, dh);
    let x = image::to_chw_bgr(&px, dw, dh, dw);
    let (dims, map) = models.infer(Stage::Det, &[1, 3, dh as u32, dw as u32], x)?;
    if dims != [1, 1, dh as u32, dw as u32] {
        return Err(format!(
            "detector returned dimensions {dims:?}, expected [1, 1, {dh}, {dw}]"
        ));
    }
    let boxes = boxes_from_map(&map, dw, dh, img.width, img.height, s);
    if boxes.is_empty() {
        return Ok(Vec::new());
    }
    let mut crops: Vec<Rgb> = boxes
        .iter()
        .map(|b| img.crop(b[0], b[1], b[2], b[3]))
        .collect();

    // Direction: one batch for all crops.
    let n = crops.len();
    let mut x = Vec::with_capacity(n * 3 * LINE_HEIGHT * CLS_WIDTH);
    for c in &crops {
        x.extend(line_tensor(c, CLS_WIDTH, CLS_WIDTH));
    }
    let (dims, probs) = models.infer(
        Stage::Cls,
        &[n as u32, 3, LINE_HEIGHT as u32, CLS_WIDTH as u32],
        x,
    )?;
    if dims != [n as u32, 2] {
        return Err(format!(
            "classifier returned dimensions {dims:?}, expected [{n}, 2]"
        ));
    }
    let mut rotated = vec![false; n];
    for (i, c) in crops.iter_mut().enumerate() {
        if probs[i * 2 + 1] > probs[i * 2] && probs[i * 2 + 1] >= s.cls_thresh {
            *c = c.rotate180();
            rotated[i] = true;
        }
    }

    // Recognition: one crop at a time.
    let mut lines = Vec::with_capacity(n);
    for (i, c) in crops.iter().enumerate() {
        let w = rec_width(c);
        let x = line_tensor(c, w, w);
        let (dims, probs) = models.infer(Stage::Rec, &[1, 3, LINE_HEIGHT as u32, w as u32], x)?;
        let [1, steps, classes] = dims[..] else {
            return Err(format!(
                "recogniser returned dimensions {dims:?}, expected [1, T, C]"
            ));
        };
        if classes as usize != chars.len() + 1 {
            return Err(format!(
                "recogniser has {classes} classes, the character list {} (+ blank)",
                chars.len()
            ));
        }
        let (text, score) = ctc_decode(&probs, steps as usize, classes as usize, chars);
        lines.push(Line {
            bbox: boxes[i],
            text,
            score,
            rotated: rotated[i],
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn det_size_rounds_to_32_and_caps_the_long_side() {
        assert_eq!(det_size(400, 120, 960), (416, 128));
        assert_eq!(det_size(1920, 1080, 960), (960, 544));
        assert_eq!(det_size(5, 5, 960), (32, 32));
    }

    #[test]
    fn regions_find_separate_blobs() {
        let (w, h) = (10, 6);
        let mut m = vec![0.0; w * h];
        for x in 1..4 {
            m[w + x] = 0.9;
            m[2 * w + x] = 0.9;
        }
        m[4 * w + 8] = 0.8;
        let r = regions(&m, w, h, 0.3);
        // Dilation grows each blob by one pixel right and down.
        assert_eq!(r, vec![[1, 1, 5, 4], [8, 4, 10, 6]]);
        assert!((box_score(&m, w, [1, 1, 4, 3]) - 0.9).abs() < 1e-6);
    }

    #[test]
    fn unclip_grows_by_area_over_perimeter() {
        let u = unclip([10, 10, 30, 20], 1.6);
        let d = 20.0 * 10.0 * 1.6 / 60.0;
        assert_eq!(u, [10.0 - d, 10.0 - d, 30.0 + d, 20.0 + d]);
    }

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let chars = charset("a\nb");
        // classes: 0 blank, 1 'a', 2 'b', 3 ' '
        let steps = [
            [0.1, 0.8, 0.05, 0.05],
            [0.1, 0.7, 0.1, 0.1],
            [0.9, 0.0, 0.05, 0.05],
            [0.0, 0.6, 0.2, 0.2],
            [0.0, 0.0, 0.1, 0.9],
        ];
        let probs: Vec<f32> = steps.iter().flatten().copied().collect();
        let (text, score) = ctc_decode(&probs, 5, 4, &chars);
        assert_eq!(text, "aa ");
        assert!((score - (0.8 + 0.6 + 0.9) / 3.0).abs() < 1e-6);
    }

    struct Fake;
    impl Infer for Fake {
        fn infer(
            &mut self,
            stage: Stage,
            dims: &[u32],
            _x: Vec<f32>,
        ) -> Result<(Vec<u32>, Vec<f32>), String> {
            Ok(match stage {
                Stage::Det => {
                    let (h, w) = (dims[2] as usize, dims[3] as usize);
                    let mut m = vec![0.0; w * h];
                    for y in 8..20 {
                        for x in 8..60 {
                            m[y * w + x] = 0.95;
                        }
                    }
                    (vec![1, 1, h as u32, w as u32], m)
                }
                Stage::Cls => (vec![dims[0], 2], [0.99, 0.01].repeat(dims[0] as usize)),
                Stage::Rec => {
                    // "ba": classes 2, 1.
                    let p = vec![0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
                    (vec![1, 3, 4], p)
                }
            })
        }
    }

    #[test]
    fn pipeline_runs_det_cls_rec_in_order() {
        let img = Rgb {
            width: 64,
            height: 32,
            data: vec![255; 64 * 32 * 3],
        };
        let chars = charset("a\nb");
        let lines = run(&img, &mut Fake, &chars, &Settings::default()).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "ba");
        assert!(!lines[0].rotated);
        let b = lines[0].bbox;
        assert!(b[0] < 8 && b[1] < 8 && b[2] > 60 && b[3] > 20, "{b:?}");
    }
}
